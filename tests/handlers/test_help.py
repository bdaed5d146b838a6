"""Plain-English help: /qi-help."""

import pytest

from handlers.dispatch import COMMANDS
from tests.handlers import given


def test_help_explains_the_bot_and_every_command(chat, asha):
    reply = chat.say(asha, "/qi-help")

    assert reply.ok
    assert reply.sections[0].heading == "How qi-nudge works"
    assert "service users and carers" in reply.sections[0].text
    headings = [section.heading for section in reply.sections[1:]]
    assert sorted(headings) == sorted(f"/{name}" for name in COMMANDS)


@pytest.mark.parametrize("typed", ["join", "JOIN", "/qi-join", "qi-join", "qi join"])
def test_help_on_one_command(chat, asha, typed):
    reply = chat.say(asha, f"/qi-help {typed}")

    assert [section.heading for section in reply.sections] == ["/qi-join"]
    assert "/qi-join Falls prevention as carer" in reply.text
    assert "staff, service user, carer, peer supporter, other" in reply.text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_its_own_help(chat, asha, name):
    reply = chat.say(asha, f"/qi-help {name}")

    assert [section.heading for section in reply.sections] == [f"/{name}"]


def test_project_help_explains_consent_and_consulted(chat, asha):
    reply = chat.say(asha, "/qi-help project")

    assert "--consent" in reply.text and "--consulted" in reply.text


@pytest.mark.parametrize("typed", ["astronomy", "/qi-astronomy", '"unbalanced', "<!channel>"])
def test_an_unknown_topic_says_so_and_lists_the_topics(chat, asha, sessions, typed):
    before = given.row_counts(sessions)

    reply = chat.say(asha, f"/qi-help {typed}")

    assert not reply.ok and len(reply.sections) == 1
    assert f'I don\'t have help on "{typed}".' in reply.text
    assert "The topics are: join, leave, projects, project, forum, stats, help." in reply.text
    assert "/qi-help on its own" in reply.text
    assert given.row_counts(sessions) == before


def test_a_long_unknown_topic_is_repeated_only_in_part(chat, asha):
    reply = chat.say(asha, "/qi-help " + "x" * 5000)

    assert not reply.ok
    assert '"' + "x" * 59 + '…"' in reply.text and "x" * 61 not in reply.text
    assert "The topics are: join," in reply.text


@pytest.mark.parametrize("typed", ["join forum", "projects mine", "qi-stats forum"])
def test_a_topic_followed_by_more_words_gets_that_topics_help(chat, asha, typed):
    reply = chat.say(asha, f"/qi-help {typed}")

    assert reply.ok and len(reply.sections) == 1
    assert reply.sections[0].heading == "/qi-" + typed.removeprefix("qi-").split()[0]


@pytest.mark.parametrize("text", ["", "   ", "\x00", "!!!"])
def test_no_topic_still_gets_all_the_help_and_stores_nothing(chat, asha, sessions, text):
    before = given.row_counts(sessions)

    reply = chat.say(asha, f"/qi-help {text}")

    assert reply.ok and reply.sections[0].heading == "How qi-nudge works"
    assert len(reply.sections) == len(COMMANDS) + 1
    assert given.row_counts(sessions) == before


def test_help_names_the_organisers_commands_for_meetings_slots_and_notes(chat, asha):
    forum = chat.say(asha, "/qi-help forum").text
    stats = chat.say(asha, "/qi-help stats").text

    for typed in (
        "/qi-forum meetings",
        "/qi-forum move-meeting 5 ",
        "/qi-forum cancel-meeting 5",
        "/qi-forum uncancel-meeting 5",
        "/qi-forum slots",
    ):
        assert typed in forum
    for typed in ("/qi-stats notes", "/qi-stats note edit 3 ", "/qi-stats note delete 3"):
        assert typed in stats


def test_help_examples_use_days_worked_out_from_today(chat, asha, clock):
    clock.advance(days=70)  # Monday 1 February 2027

    forum = chat.say(asha, "/qi-help forum")
    project = chat.say(asha, "/qi-help project")
    stats = chat.say(asha, "/qi-help stats")

    # A meeting a week or so ahead; --since and chart notes a few weeks back.
    assert '/qi-forum add-meeting 11 February 2027 2pm at "Room 4"' in forum.text
    assert "dates day first" in forum.text and "2:30pm" in forum.text
    assert "--since 4/1/2027" in project.text
    assert '/qi-stats note 4 January 2027 "Forum relaunched"' in stats.text
    assert "{" not in forum.text + project.text + stats.text


def test_join_help_says_roles_may_be_typed_as_people_say_them(chat, asha):
    reply = chat.say(asha, "/qi-help join")

    assert '"as a carer", "as carers"' in reply.text
