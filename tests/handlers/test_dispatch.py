"""The table of contents: unknown requests, refusals, and errors that must never escape."""

import logging
from datetime import UTC, datetime

import pytest

from handlers.core import ids
from handlers.dispatch import (
    ACTIONS,
    COMMANDS,
    FORMS,
    SORRY,
    TOO_LONG,
    Dispatcher,
    command_name,
)
from handlers.forum import meetings as forum
from handlers.projects import join
from tests.handlers import given


def test_an_unknown_command_points_to_help(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.say(asha, "/qi-dance tonight")

    assert not reply.ok
    assert reply.text == "I don't know the command /qi-dance. Type /qi-help to see what I can do."
    assert given.row_counts(sessions) == before


def test_an_unknown_button_says_it_no_longer_works(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.bot.action(asha, "retired_button", "1")

    assert not reply.ok and "that button no longer works" in reply.text
    assert given.row_counts(sessions) == before


def test_an_unknown_form_says_it_no_longer_works(chat, asha, sessions):
    before = given.row_counts(sessions)

    reply = chat.bot.submit(asha, "retired_form", {"name": "x"}, "")

    assert not reply.ok and "that form no longer works" in reply.text
    assert given.row_counts(sessions) == before


def test_text_far_longer_than_any_command_or_answer_is_refused_kindly(chat, asha, sessions):
    before = given.row_counts(sessions)

    typed = chat.bot.command(asha, "/qi-join", "Falls " * 2000 + "as carer")
    answered = chat.bot.submit(asha, ids.JOIN_FORM, {"target": "x" * 10_001, "role": "carer"}, "")

    assert (typed.ok, typed.text) == (False, TOO_LONG.format(most="10,000"))
    assert (answered.ok, answered.text) == (False, TOO_LONG.format(most="10,000"))
    assert given.row_counts(sessions) == before


@pytest.mark.parametrize("typed", ["/qi-help", "qi-help", "/QI-Help", "  /qi-HELP  "])
def test_command_names_ignore_case_slash_and_spaces(chat, asha, typed):
    reply = chat.bot.command(asha, typed, "")

    assert reply.ok and reply.sections[0].heading == "How qi-nudge works"
    assert command_name(typed) == "qi-help"


def test_every_button_and_form_id_is_routed():
    routed_buttons = set(ACTIONS)
    assert {ids.RSVP, ids.FORUM_MATCH, ids.FORUM_ROLE, ids.JOIN_AS, ids.LEAVE} <= routed_buttons
    assert {ids.JOIN_FORUM, ids.OPEN_ADD_MEMBER, ids.SHOW_FORUM} <= routed_buttons
    assert {ids.ASK_FORUM, ids.OPEN_SNOOZE, ids.MUTE_NUDGES} <= routed_buttons
    assert {ids.MATCH_OFFER, ids.MATCH_ANSWER, ids.SLOT_DECIDE} <= routed_buttons
    assert {ids.OPEN_CHANGE_MEMBER, ids.REMOVE_MEMBER, ids.KEEP_MEMBER} <= routed_buttons
    assert set(FORMS) == {
        ids.JOIN_FORM,
        ids.ADD_MEMBER_FORM,
        ids.SNOOZE_FORM,
        ids.CHANGE_MEMBER_FORM,
        ids.INVOLVEMENT_COMMENT_FORM,
    }
    assert set(COMMANDS) == {
        "qi-join",
        "qi-leave",
        "qi-projects",
        "qi-project",
        "qi-forum",
        "qi-stats",
        "qi-help",
    }


def test_a_refusal_is_a_kind_reply_not_an_error(chat, ben, sessions, caplog):
    with caplog.at_level(logging.ERROR):
        reply = chat.say(ben, "/qi-join Nonexistent project as carer")

    assert not reply.ok and "I couldn't find a project" in reply.text
    assert caplog.records == []


def test_an_unexpected_error_in_a_command_is_sorry_and_rolls_back(
    chat, asha, ben, sessions, monkeypatch, caplog
):
    chat.say(asha, '/qi-project new "Falls prevention"')
    before = given.row_counts(sessions)

    def broken_outbox(*args, **kwargs):
        raise RuntimeError("outbox table on fire")

    # Fails after the membership row (and its audit line) has been written, telling the lead:
    # the whole unit of work must roll back.
    monkeypatch.setattr(join.outbox, "plan_message_to", broken_outbox)
    with caplog.at_level(logging.ERROR, logger="handlers.dispatch"):
        reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert not reply.ok
    assert reply.text == SORRY
    assert "on fire" not in reply.text and "Traceback" not in reply.text
    assert given.row_counts(sessions) == before  # Ben's first contact was rolled back too
    assert given.team_rows(sessions, "Falls prevention") == []
    assert [r.getMessage() for r in caplog.records] == ["handler failed: qi-join"]
    assert caplog.records[0].exc_info is not None


def test_an_unexpected_error_in_a_button_is_sorry_and_rolls_back(
    chat, ben, ctx, sessions, clock, monkeypatch
):
    forum_id = given.forum(sessions, clock())
    given.meeting(ctx, forum_id, datetime(2026, 12, 3, 14, 0, tzinfo=UTC))
    card = chat.say(ben, "/qi-forum")
    before = given.row_counts(sessions)

    def broken_card(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(forum, "forum_sections", broken_card)
    reply = chat.press(ben, card, "I'm going")

    assert reply.text == SORRY and not reply.ok
    assert given.row_counts(sessions) == before


def test_the_bot_keeps_working_after_an_error(chat, asha, ben, sessions, monkeypatch):
    chat.say(asha, '/qi-project new "Falls prevention"')
    with monkeypatch.context() as patch:
        patch.setattr(join.outbox, "plan_message_to", lambda *a, **k: 1 / 0)
        assert chat.say(ben, "/qi-join Falls prevention as carer").text == SORRY

    reply = chat.say(ben, "/qi-join Falls prevention as carer")

    assert reply.ok
    bens = [r for r in given.team_rows(sessions, "Falls prevention") if r[0] == "Ben Okafor"]
    assert len(bens) == 1


def test_a_dispatcher_needs_only_a_context(ctx, asha):
    reply = Dispatcher(ctx).command(asha, "/qi-help", "forum")

    assert [s.heading for s in reply.sections] == ["/qi-forum"]


# Hostile input, everywhere: every command gives a kind answer and nothing ever blows up.

HOSTILE = [
    "<!channel>",
    "<!here> <@U0123> <https://evil.example|click>",
    "St John's ward",
    "St John’s ward",
    "“Falls prevention”",
    "‘single curly’",
    '"unbalanced',
    'unbalanced"',
    '"" ""',
    "x" * 5000,
    "y" * 1999,
    "\x00",
    "a\x00b",
    "'; DROP TABLE projects; --",
    "🙂🙂🙂",
    "\u202eevil",
    "--consent --consulted --site",
    "as as as",
    "forum forum",
    "Falls prevention",
]

TEMPLATES = [
    "/qi-join {}",
    "/qi-join {} as carer",
    "/qi-join Falls prevention as {}",
    "/qi-join forum as {}",
    "/qi-leave {}",
    "/qi-projects {}",
    "/qi-project {}",
    "/qi-project new {}",
    '/qi-project add-member "Falls prevention" {} as carer --consent',
    '/qi-project add-member {} "Sam Jones" as carer --consent',
    "/qi-project show {}",
    '/qi-project status "Falls prevention" {}',
    "/qi-project status {} on hold",
    "/qi-forum {}",
    "/qi-forum add-meeting {}",
    "/qi-forum add-meeting 2026-12-03 14:00 at {}",
    "/qi-forum add-meeting 2026-12-03 14:00 {}",
    "/qi-help {}",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_hostile_input_never_causes_an_error(
    chat, asha, ben, ctx, sessions, clock, caplog, template
):
    given.organiser(sessions, asha, clock())
    forum_id = given.forum(sessions, clock())
    given.meeting(ctx, forum_id, datetime(2026, 12, 3, 14, 0, tzinfo=UTC), "Room 4")
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(ben, "/qi-join Falls prevention as carer")

    with caplog.at_level(logging.ERROR, logger="handlers.dispatch"):
        for text in HOSTILE:
            for actor in (asha, ben):
                line = template.format(text)
                reply = chat.say(actor, line)
                assert reply.text != SORRY, f"{actor.display_name}: {line[:80]!r}"
                assert reply.text.strip(), line[:80]

    assert caplog.records == []
    assert given.team_rows(sessions, "Falls prevention")[0][0] == "Ben Okafor"


def test_a_dropped_database_connection_is_retried_not_a_sorry(clock, tmp_path):
    """A database restart kills pooled connections; the next person must not notice."""
    from sqlalchemy import text as sql

    from handlers.core.context import Context
    from handlers.dispatch import Dispatcher
    from store.engine import make_engine, make_sessions
    from store.migrate import upgrade
    from tests.conftest import database_url_for
    from tests.conftest import person as chat_person

    with database_url_for("postgresql", tmp_path) as url:
        engine = make_engine(url, connect_args={"application_name": "qi-retry-test"})
        upgrade(engine)
        bot = Dispatcher(Context(sessions=make_sessions(engine), clock=clock))
        asha = chat_person("Asha Patel")
        assert bot.command(asha, "/qi-project", 'new "Falls prevention"').ok
        killer = make_engine(url)
        with killer.connect() as connection:
            killed = connection.execute(
                sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'qi-retry-test'"
                )
            ).scalar()
        assert killed >= 1  # the pooled connection is now dead

        reply = bot.command(chat_person("Ben Okafor"), "/qi-join", "falls as carer")

        assert reply.ok and reply.text != SORRY, reply.text
        killer.dispose()
        engine.dispose()


def test_a_deadlock_is_a_sorry_with_a_traceback_for_it_not_try_again(clock, tmp_path, caplog):
    """A deadlock is a bug to look into, not the database being away: IT gets the traceback."""
    from sqlalchemy import text as sql

    from handlers.core.context import Context
    from handlers.core.reply import say
    from handlers.dispatch import UNREACHABLE
    from store.engine import make_engine, make_sessions
    from tests.conftest import database_url_for

    with database_url_for("postgresql", tmp_path) as url:
        engine = make_engine(url)
        bot = Dispatcher(Context(sessions=make_sessions(engine), clock=clock))

        def deadlocked():
            with bot.ctx.sessions.begin() as session:
                session.execute(
                    sql("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$")
                )
            return say("done")

        with caplog.at_level(logging.WARNING):
            reply = bot.run(deadlocked, what="a test")
        engine.dispose()

    assert reply.text == SORRY and reply.text != UNREACHABLE
    (logged,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert logged.levelno == logging.ERROR and logged.exc_info is not None


def test_a_suggestion_button_runs_its_command_as_typing_it_would(chat, asha, sessions):
    before = given.row_counts(sessions)

    pressed = chat.bot.action(asha, ids.RUN_SUGGESTED, '["qi-help","join"]')

    assert ids.RUN_SUGGESTED in ACTIONS
    assert pressed == chat.say(asha, "/qi-help join")
    assert given.row_counts(sessions) == before
