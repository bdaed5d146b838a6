"""Every message the bot composes fits Slack and Teams at any size, and still lets people act.

Each message is built from real rows (inserted in bulk, so a thousand projects cost one
statement), rendered as Slack blocks, a Teams message and console text, and checked against the
platforms' rules in tests/bot/message_limits.py. Names are 200 characters long, in English,
Welsh, Arabic, Chinese and emoji: the heaviest text either platform counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import pytest
from icalendar import Calendar
from sqlalchemy import insert, select
from sqlalchemy.exc import DataError

from bot.console.render_text import render_reply
from bot.outside import compose
from bot.outside.links import ANSWER, MEETING_CALENDAR, STOP, Links
from bot.outside.smtp import build_email
from bot.slack.app import IMAGE_DROPPED, IMAGE_MOVED_TO_DM
from bot.slack.blocks import (
    LEFT_OUT,
    MAX_IMAGE_TEXT,
    build_home_view,
    build_image_block,
    build_modal,
    build_reply_blocks,
)
from bot.slack.blocks import fallback_text as slack_fallback
from bot.teams.cards import TRUNCATED_NOTE, build_command_reply
from handlers.core import ids
from handlers.core.args import MAX_ARGUMENT_LENGTH
from handlers.core.errors import Refusal
from handlers.core.matching import MAX_SUGGESTIONS
from handlers.core.reply import BUTTON_VALUE_MAX, Image, Reply, say
from handlers.core.weeks import week_of
from handlers.evidence import stats
from handlers.evidence.involvement_report import HEADING as INVOLVEMENT_HEADING
from handlers.evidence.stats import take_snapshot
from handlers.forum import announcements, channel_problems, invitations, organising, public_signup
from handlers.forum import slots as forum_slots
from handlers.forum.leaving import GOING_SHOWN
from handlers.forum.meetings import FORUMS_SHOWN, MEETINGS_EACH, MEETINGS_SHOWN, meeting_occurrence
from handlers.help import TOPIC_ECHO_MAX
from handlers.home import HOME_FORUMS_SHOWN, HOME_PROJECTS_SHOWN, handle_home
from handlers.messages import RENDERERS, render_delivery
from handlers.nudges import buttons as nudge_actions
from handlers.nudges import matchmaking
from handlers.nudges import weekly as nudges
from handlers.nudges.weekly import (
    ESCALATION_BUTTONS,
    ESCALATION_PROJECTS_SHOWN,
    NUDGE_PROJECTS_SHOWN,
)
from handlers.projects import join, team
from handlers.projects.join import FORM_CHOICE_LIMIT
from handlers.projects.leave import LEAVE_CHOICES
from handlers.projects.listing import LIST_LIMIT
from handlers.projects.manage import TEAM_SHOWN
from store import outbox
from store.involvement import A_LOT
from store.models import (
    NAME_MAX,
    ChartNote,
    Forum,
    ForumMember,
    MatchOffer,
    Meeting,
    Membership,
    OutsideContact,
    Project,
    ProjectNudge,
    Rsvp,
    SlotRequest,
)
from store.names import clean_name, site_key
from store.people import grant_admin
from store.project_words import index_words
from store.roles import Involvement, ProjectStatus, Role, RsvpAnswer
from tests.bot.message_limits import (
    check_slack_message,
    check_slack_view,
    check_teams_message,
    slack_buttons,
    slack_texts,
    teams_buttons,
    teams_texts,
)
from tests.fakes.slack_rules import message_refusal
from tests.handlers import given
from tests.handlers.evidence.test_involvement_report import answers as involvement_answers
from tests.handlers.sweeps import send_all, sweep

SCRIPTS = {
    "English": "Reducing falls on the older people's wards at night ",
    "Welsh": "Lleihau cwympiadau ar wardiau pobl hŷn yn y nos ",
    "Arabic": "تقليل حالات السقوط في أجنحة كبار السن ليلا ",
    "Chinese": "减少老年病房夜间跌倒的质量改进项目",
    "emoji": "🏥🧓🌙✨ ",
}
TOPIC_MAX = forum_slots.TOPIC_MAX
FORUM_CHANNEL = "console:forum"  # where the forum announces (and asks for partners)


def long_name(number: int, script: str | None = None, length: int = NAME_MAX) -> str:
    """A name of `length` characters, unique by its number, in a script (or each in turn)."""
    words = SCRIPTS[script] if script else list(SCRIPTS.values())[number % len(SCRIPTS)]
    return clean_name((f"{number:04d} " + words * (length // len(words) + 1))[:length])


def long_names(count: int, script: str | None = None, start: int = 0) -> list[str]:
    return [long_name(start + n, script) for n in range(count)]


@dataclass
class Shown:
    """One reply as each platform shows it."""

    console: str
    slack: str
    slack_buttons: list[dict[str, Any]]
    teams: str
    teams_buttons: list[dict[str, Any]]

    def everywhere(self, words: str) -> bool:
        """The words are on the console, on Slack and on Teams (where '/qi-x' is 'qi-x')."""
        teams_words = words.replace("/qi-", "qi-")
        return words in self.console and words in self.slack and teams_words in self.teams


def shown(reply: Reply) -> Shown:
    """The reply rendered for every platform, each checked against that platform's rules.

    The handlers' own limits keep every message within the platforms' rules: the renderers'
    safety net (which cuts a message with a note) never has to.
    """
    blocks = build_reply_blocks(reply)
    check_slack_message(slack_fallback(reply), blocks)
    message = build_command_reply(reply)
    check_teams_message(message)
    card = message["attachments"][0]["content"]
    assert LEFT_OUT not in slack_texts(blocks)
    assert TRUNCATED_NOTE not in teams_texts(card)
    console, _ = render_reply(reply)
    return Shown(
        console,
        slack_texts(blocks).replace("&amp;", "&"),
        slack_buttons(blocks),
        "\n".join(teams_texts(card)),
        teams_buttons(card),
    )


def titled(buttons: list[dict[str, Any]], title: str) -> int:
    """How many of the buttons (Slack's or Teams') carry this title."""
    return sum(1 for b in buttons if (b.get("title") or b.get("text", {}).get("text")) == title)


# Where a script's names are only text to render, its cases run on SQLite only; paging, whose
# order is the database's (collations differ), and the cases by count (0, 1, the limit, one
# over, 100, 1,000) run on both databases.
ON_SQLITE = pytest.mark.parametrize("migrated_engine", ["sqlite"], indirect=True)


def claimed(kind: str, recipient: str, **payload: Any) -> outbox.Claimed:
    """A delivery as the sender claims it from the outbox."""
    return outbox.Claimed(
        id=0,
        kind=kind,
        occurrence="size-test",
        recipient=recipient,
        payload=payload,
        attempts=1,
        uncertain=False,
    )


def willing_carers(ctx, count: int) -> None:
    """Carers on the forum who would like a project team: the sweep offers one per project."""
    people = given.many_people(ctx.sessions, long_names(count, start=5000), ctx.now())
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(9000))
    with ctx.sessions.begin() as session:
        session.execute(
            insert(ForumMember),
            [
                {
                    "forum_id": forum,
                    "person_id": pid,
                    "role": Role.CARER,
                    "wants_match": True,
                    "joined_at": ctx.now(),
                }
                for pid in people
            ],
        )


def sizes(limit: int) -> list[int]:
    """0, 1, the limit, one over it, 100 and 1,000."""
    return sorted({0, 1, limit, limit + 1, 100, 1000})


# --- the weekly reminder and the organisers' note -----------------------------------------


@pytest.mark.parametrize("count", sizes(NUDGE_PROJECTS_SHOWN))
def test_a_leads_weekly_reminder_is_one_message_that_fits_and_lets_them_act(ctx, asha, count):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    given.many_projects(ctx.sessions, long_names(count), ctx.now(), lead_id=lead)
    willing_carers(ctx, NUDGE_PROJECTS_SHOWN + 2)  # enough to offer every project shown

    sweep(ctx)
    sent = [reply for kind, _to, reply in send_all(ctx) if kind == nudges.NUDGE]

    if not count:
        assert sent == []
        return
    (nudge,) = sent
    seen = shown(nudge)
    showing = min(count, NUDGE_PROJECTS_SHOWN)
    for buttons in (seen.slack_buttons, seen.teams_buttons):
        assert titled(buttons, "Ask the forum to find a partner") == showing
        assert titled(buttons, "Yes, ask them") == showing  # offers only for those shown
        assert titled(buttons, "Turn reminders off") == 1
    more = count - showing
    if more:
        verb = "has" if more == 1 else "have"
        assert seen.everywhere(f"…and {more} more of your projects also {verb} no service user")
        assert seen.everywhere("Type /qi-projects mine to see them all.")
    else:
        assert "more of your projects" not in seen.console


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_reminder_of_a_thousand_projects_fits_in_every_script(ctx, asha, script):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    ids = given.many_projects(ctx.sessions, long_names(1000, script), ctx.now(), lead_id=lead)
    willing_carers(ctx, NUDGE_PROJECTS_SHOWN)
    sweep(ctx)
    with ctx.sessions() as session:
        offered = len(matchmaking.matches.open_offers_for(session, ids))

    (nudge,) = [reply for kind, _to, reply in send_all(ctx) if kind == nudges.NUDGE]

    seen = shown(nudge)
    showing = titled(seen.teams_buttons, "Ask the forum to find a partner")
    assert showing == titled(seen.slack_buttons, "Ask the forum to find a partner")
    # The longest names leave room for fewer; no offer goes to a project the lead doesn't see.
    assert 5 <= showing <= NUDGE_PROJECTS_SHOWN
    assert offered == titled(seen.teams_buttons, "Yes, ask them") == showing
    assert seen.everywhere(f"…and {1000 - showing} more of your projects")


@pytest.mark.parametrize("count", sizes(ESCALATION_PROJECTS_SHOWN))
def test_the_organisers_note_fits_and_offers_the_first_few_buttons(ctx, count):
    organiser, lead = given.many_people(ctx.sessions, long_names(2, start=7000), ctx.now())
    ids = given.many_projects(ctx.sessions, long_names(count), ctx.now(), lead_id=lead)
    delivery = claimed(nudges.ESCALATION, outbox.person_recipient(organiser), projects=ids)

    note = render_delivery(ctx, delivery)

    if not count:
        assert note is None
        return
    seen = shown(note)
    listed = seen.console.count("• ")
    assert listed == count or 10 <= listed <= ESCALATION_PROJECTS_SHOWN  # as many as fit
    with_buttons = min(count, ESCALATION_BUTTONS)
    for buttons in (seen.slack_buttons, seen.teams_buttons):
        assert len(buttons) == with_buttons + (count > with_buttons)
        assert titled(buttons, "Show the next 10 projects") == (count > with_buttons + 9)
    if count > listed:
        assert seen.everywhere(f"…and {count - listed} more project")
        assert seen.everywhere("Type /qi-projects to see every active project")


def next_label(reply: Reply) -> str | None:
    """The label of the reply's 'Show the next' button, or None if it has none."""
    found = [
        b.label for b in reply.buttons if b.action_id in (ids.MORE_WAITING, ids.MORE_ESCALATED)
    ]
    return found[0] if found else None


def page_through(chat, actor, first: Reply, most: int | None = None) -> list[Reply]:
    """The reply and every answer to its 'Show the next' buttons (at most `most` presses)."""
    replies = [first]
    while next_label(replies[-1]) and (most is None or len(replies) <= most):
        replies.append(chat.press(actor, replies[-1], next_label(replies[-1])))
    return replies


def asked_about(reply: Reply) -> list[str]:
    return [b.value for b in reply.buttons if b.action_id == ids.ASK_FORUM]


@pytest.mark.parametrize("count", sizes(NUDGE_PROJECTS_SHOWN))
def test_the_rest_of_a_long_reminder_fits_a_few_at_a_time_with_buttons(chat, ctx, asha, count):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    projects = given.many_projects(ctx.sessions, long_names(count), ctx.now(), lead_id=lead)
    sweep(ctx)
    sent = [reply for kind, _to, reply in send_all(ctx) if kind == nudges.NUDGE]
    if not count:
        assert sent == []
        return

    replies = page_through(chat, asha, sent[0], most=None if count <= 100 else 2)

    for reply in replies:
        seen = shown(reply)
        listed = len(asked_about(reply))
        assert 1 <= listed <= NUDGE_PROJECTS_SHOWN
        for buttons in (seen.slack_buttons, seen.teams_buttons):
            assert titled(buttons, "Ask the forum to find a partner") == listed
            assert titled(buttons, "Snooze") == listed
    for answer in replies[1:]:
        assert answer.sections[0].heading == "More of your projects"
    asked = [value for reply in replies for value in asked_about(reply)]
    assert len(asked) == len(set(asked))
    if count <= 100:  # every one of them has its buttons, a few at a time
        assert asked == [str(p) for p in projects]
    else:
        assert next_label(replies[-1]) == "Show the next 10 projects"


@pytest.mark.parametrize("count", sizes(ESCALATION_BUTTONS))
def test_the_rest_of_the_organisers_note_fits_a_few_at_a_time_with_buttons(chat, ctx, asha, count):
    me = given.organiser(ctx.sessions, asha, ctx.now())
    (lead,) = given.many_people(ctx.sessions, long_names(1, start=7000), ctx.now())
    projects = given.many_projects(ctx.sessions, long_names(count), ctx.now(), lead_id=lead)
    week = week_of(ctx.now(), ctx)
    passed_on(ctx, projects, week)
    delivery = claimed(nudges.ESCALATION, outbox.person_recipient(me), projects=projects)
    note = render_delivery(ctx, replace(delivery, occurrence=week))
    if not count:
        assert note is None
        return

    replies = page_through(chat, asha, note, most=None if count <= 100 else 2)

    for reply in replies:
        seen = shown(reply)
        listed = len(asked_about(reply))
        assert len(seen.slack_buttons) == len(seen.teams_buttons) == len(reply.buttons)
        assert 1 <= listed <= NUDGE_PROJECTS_SHOWN
    for answer in replies[1:]:
        assert answer.sections[0].heading == "More projects that could use the forum's help"
        assert len(answer.buttons) == 3 * len(asked_about(answer)) + bool(next_label(answer))
    asked = [int(value) for reply in replies for value in asked_about(reply)]
    assert len(asked) == len(set(asked))
    if count <= 100:
        assert asked == projects
    else:
        assert next_label(replies[-1]) == "Show the next 10 projects"


def passed_on(ctx, projects: list[int], week: str) -> None:
    """The projects as a sweep leaves them when it passes them to the organisers."""
    if projects:
        with ctx.sessions.begin() as session:
            session.execute(
                insert(ProjectNudge),
                [
                    {
                        "project_id": p,
                        "weeks_in_a_row": 4,
                        "last_week": week,
                        "escalated_at": ctx.now(),
                    }
                    for p in projects
                ],
            )


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_next_projects_fit_in_every_script(chat, ctx, asha, script):
    me = given.organiser(ctx.sessions, asha, ctx.now())
    names = long_names(1000, script)
    mine = given.many_projects(ctx.sessions, names[:500], ctx.now(), lead_id=me)
    (lead,) = given.many_people(ctx.sessions, [long_name(7000, script)], ctx.now())
    theirs = given.many_projects(ctx.sessions, names[500:], ctx.now(), lead_id=lead)
    week = week_of(ctx.now(), ctx)
    passed_on(ctx, theirs, week)
    sweep(ctx)
    (nudge,) = [reply for kind, _to, reply in send_all(ctx) if kind == nudges.NUDGE]
    delivery = claimed(nudges.ESCALATION, outbox.person_recipient(me), projects=theirs)
    note = render_delivery(ctx, replace(delivery, occurrence=week))

    for first, projects in ((nudge, mine), (note, theirs)):
        replies = page_through(chat, asha, first, most=3)
        asked = [int(value) for reply in replies for value in asked_about(reply)]
        assert asked == projects[: len(asked)]
        for answer in replies[1:]:
            seen = shown(answer)
            assert 5 <= len(asked_about(answer)) <= NUDGE_PROJECTS_SHOWN
            assert len(seen.slack_buttons) == len(seen.teams_buttons) == len(answer.buttons)


# --- what people ask to see ---------------------------------------------------------------


def lines_of(reply: Reply) -> list[str]:
    return [line for line in reply.text.splitlines() if line.startswith("• ")]


@pytest.mark.parametrize("asked", ["", "mine", "riverside"])
@pytest.mark.parametrize("count", sizes(LIST_LIMIT))
def test_the_project_list_fits_and_pages_through_them_all(chat, ctx, asha, count, asked):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    given.many_projects(ctx.sessions, long_names(count), ctx.now(), lead_id=lead, site="Riverside")

    reply = chat.say(asha, f"/qi-projects {asked}")

    seen = shown(reply)
    if not count:
        return
    listed = lines_of(reply)
    assert 1 <= len(listed) <= min(count, LIST_LIMIT)
    more = count - len(listed)
    assert (titled(seen.slack_buttons, "Show more projects") == 1) == bool(more)
    assert (titled(seen.teams_buttons, "Show more projects") == 1) == bool(more)
    if more:
        assert seen.everywhere(f"…and {more} more.")
    if count <= 100:  # every one of them can be seen, page by page
        while more:
            reply = chat.press(asha, reply, "Show more projects")
            shown(reply)
            listed += lines_of(reply)
            more = count - len(listed)
            assert more == 0 or f"…and {more} more." in reply.text
        assert len(listed) == len(set(listed)) == count


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_longest_search_that_finds_projects_pages_through_them_all(chat, ctx, asha, script):
    site = long_name(9999, script)
    given.many_projects(ctx.sessions, long_names(100, script), ctx.now(), lead_id=None, site=site)
    query = site.replace("9999 ", "")  # every word of a 200-character site

    reply = chat.say(asha, f'/qi-projects "{query}"')

    listed = []
    while True:
        seen = shown(reply)  # the button's value within Slack's 2,000 characters, too
        listed += lines_of(reply)
        assert seen.slack.splitlines()[0].endswith(f" to {len(listed)} of 100)")
        if len(listed) == 100:
            break
        reply = chat.press(asha, reply, "Show more projects")
    assert len(set(listed)) == 100


@pytest.mark.parametrize("count", sizes(HOME_PROJECTS_SHOWN))
def test_app_home_fits_and_says_what_it_leaves_out(ctx, asha, count):
    me = given.organiser(ctx.sessions, asha, ctx.now())
    given.many_projects(ctx.sessions, long_names(count), ctx.now(), lead_id=me)

    home = handle_home(ctx, asha)

    check_slack_view(build_home_view(home))
    seen = shown(home)
    listed = min(count, HOME_PROJECTS_SHOWN)
    assert len(lines_of(home)) == listed
    if count > listed:
        assert seen.everywhere(f"…and {count - listed} more project")
        assert seen.everywhere("Type /qi-projects mine to see them all.")


@pytest.mark.parametrize(
    "count", [1, HOME_FORUMS_SHOWN, HOME_FORUMS_SHOWN + 1, FORUMS_SHOWN + 1, 100]
)
def test_forums_and_their_meetings_fit_on_home_and_in_the_forum_answer(chat, ctx, asha, count):
    me = given.person_id(ctx.sessions, asha, ctx.now())
    forums = [given.forum(ctx.sessions, ctx.now(), name=name) for name in long_names(count)]
    with ctx.sessions.begin() as session:
        session.execute(
            insert(ForumMember),
            [{"forum_id": f, "person_id": me, "joined_at": ctx.now()} for f in forums],
        )
        session.execute(
            insert(Meeting),
            [
                {
                    "forum_id": f,
                    "starts_at": ctx.now() + timedelta(days=3),
                    "location": long_name(8000 + f),
                    "created_at": ctx.now(),
                }
                for f in forums
            ],
        )

    home = handle_home(ctx, asha)
    answer = chat.say(asha, "/qi-forum")

    check_slack_view(build_home_view(home))
    for reply, most in ((home, HOME_FORUMS_SHOWN), (answer, FORUMS_SHOWN)):
        seen = shown(reply)
        showing = min(count, most)
        assert titled(seen.slack_buttons, "I'm going") == showing
        assert titled(seen.teams_buttons, "I'm going") == showing
        if count > showing:
            assert seen.everywhere(f"…and {count - showing} more forum")
            assert seen.everywhere("Type /qi-forum and a forum's name to see its next meeting.")


@pytest.mark.parametrize("count", sizes(TEAM_SHOWN))
def test_a_project_card_fits_however_big_the_team(chat, ctx, asha, ben, count):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    given.person_id(ctx.sessions, ben, ctx.now())
    (project,) = given.many_projects(ctx.sessions, [long_name(1)], ctx.now(), lead_id=lead)
    people = given.many_people(ctx.sessions, long_names(count, start=100), ctx.now())
    roles = [Role.CARER if n % 10 == 0 else Role.STAFF for n in range(count)]
    given.many_members(ctx.sessions, project, list(zip(people, roles, strict=True)), ctx.now())
    name = long_name(1)

    as_lead = chat.say(asha, f'/qi-project show "{name}"')
    as_anyone = chat.say(ben, f'/qi-project show "{name}"')

    seen = shown(as_lead)
    shown(as_anyone)
    listed = len(lines_of(as_lead))
    assert listed == count or 20 <= listed <= TEAM_SHOWN  # as many as fit
    if count > listed:
        # Carers first, as the card lists them; the rest are counted by role.
        hidden = sorted(roles, key=lambda role: role != Role.CARER)[listed:]
        carers, staff = hidden.count(Role.CARER), hidden.count(Role.STAFF)
        assert seen.everywhere(f"…and {count - listed} more: ")
        assert seen.everywhere(f"{staff} staff" if staff > 1 else "1 member of staff")
        assert not carers or seen.everywhere(f"{carers} carer")
    if roles.count(Role.STAFF) > 1:
        assert f"{roles.count(Role.STAFF)} staff" in as_anyone.text


@pytest.mark.parametrize("count", sizes(announcements.AGENDA_SHOWN))
def test_an_announcement_fits_however_long_its_agenda_and_however_many_go(ctx, count):
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(1), channel=FORUM_CHANNEL)
    meeting = given.meeting(ctx, forum, ctx.now() + timedelta(days=7), long_name(2))
    projects = given.many_projects(
        ctx.sessions, long_names(count, start=10), ctx.now(), lead_id=None
    )
    people = given.many_people(ctx.sessions, long_names(count, start=2000), ctx.now())
    with ctx.sessions.begin() as session:
        if count:
            topic = long_name(3, length=TOPIC_MAX)
            session.execute(
                insert(SlotRequest),
                [
                    {
                        "meeting_id": meeting,
                        "project_id": p,
                        "topic": topic,
                        "status": "accepted",
                        "created_at": ctx.now(),
                    }
                    for p in projects
                ],
            )
            session.execute(
                insert(Rsvp),
                [
                    {
                        "meeting_id": meeting,
                        "person_id": pid,
                        "answer": RsvpAnswer.GOING,
                        "role": Role.CARER,
                        "answered_at": ctx.now(),
                    }
                    for pid in people
                ],
            )
    week = 7 * 24 * 60
    delivery = claimed(
        announcements.ANNOUNCE,
        outbox.channel_recipient(FORUM_CHANNEL),
        meeting=meeting,
        offset=week,
    )

    post = render_delivery(ctx, delivery)

    seen = shown(post)
    assert titled(seen.slack_buttons, "I'm going") == titled(seen.teams_buttons, "I'm going") == 1
    listed = min(count, announcements.AGENDA_SHOWN)
    assert seen.console.count("• ") == listed
    if count > listed:
        assert seen.everywhere(f"…and {count - listed} more on the agenda.")
    if count:
        assert seen.everywhere(f"Going so far: {count} ({count} carer")


@pytest.mark.parametrize("short", [True, False], ids=["short names", "200-character names"])
@pytest.mark.parametrize("count", sizes(FORM_CHOICE_LIMIT))
def test_the_join_form_fits_or_asks_for_the_name_to_be_typed(chat, ctx, asha, count, short):
    names = [f"Project {n}" for n in range(count)] if short else long_names(count)
    given.many_projects(ctx.sessions, names, ctx.now(), lead_id=None)
    given.forum(ctx.sessions, ctx.now())

    reply = chat.say(asha, "/qi-join")

    assert reply.form is not None
    check_slack_view(build_modal(reply.form, intro=reply.text))
    check_teams_message(build_command_reply(reply))
    (target, _role) = reply.form.fields
    assert bool(target.choices) == ((short and count + 1 <= FORM_CHOICE_LIMIT) or count < 20)


# --- every message the bot sends on its own, with the longest names in every script ---------


@dataclass
class Scene:
    """One of everything, every name 200 characters long in one script."""

    lead: int
    carer: int
    organiser: int
    project: int
    meeting: int
    slot: int
    membership: int
    offer: int
    forum: int


def scene(ctx, script: str) -> Scene:
    now = ctx.now()
    lead, carer, organiser = given.many_people(
        ctx.sessions, [long_name(n, script) for n in (1, 2, 3)], now
    )
    (project,) = given.many_projects(
        ctx.sessions, [long_name(4, script)], now, lead_id=lead, site=long_name(5, script)
    )
    forum = given.forum(ctx.sessions, now, name=long_name(6, script), channel=FORUM_CHANNEL)
    meeting = given.meeting(ctx, forum, now + timedelta(days=3), long_name(7, script))
    with ctx.sessions.begin() as session:
        grant_admin(session, organiser, by_id=None, now=now)
        slot = SlotRequest(
            meeting_id=meeting,
            project_id=project,
            topic=long_name(8, script, length=TOPIC_MAX),
            requested_by_id=lead,
            status="requested",
            created_at=now,
        )
        offer = MatchOffer(
            project_id=project,
            person_id=carer,
            role=Role.CARER,
            status=matchmaking.matches.ASKED,
            week="2026-W48",
            created_at=now,
            updated_at=now,
        )
        membership = Membership(
            project_id=project,
            person_id=carer,
            role=Role.CARER,
            # Consulted now and then: the project still needs a partner on the team.
            involvement=Involvement.CONSULTED,
            consent_recorded_at=now,
            joined_at=now,
        )
        session.add_all(
            [
                slot,
                offer,
                membership,
                # The lead is on the forum too, and has not answered: they can be invited.
                ForumMember(forum_id=forum, person_id=lead, role=Role.STAFF, joined_at=now),
                # The carer signed up on the forum's page and has yet to confirm the address.
                OutsideContact(
                    person_id=carer,
                    method="email",
                    address="carer@example.org",
                    consent_recorded_at=now,
                    created_at=now,
                ),
                Rsvp(
                    meeting_id=meeting,
                    person_id=carer,
                    answer=RsvpAnswer.GOING,
                    role=Role.CARER,
                    answered_at=now,
                ),
            ]
        )
        session.flush()
        ids = (slot.id, membership.id, offer.id)
    return Scene(lead, carer, organiser, project, meeting, *ids, forum)


def _set(ctx, model: type, row_id: int, **values: Any) -> None:
    with ctx.sessions.begin() as session:
        row = session.get(model, row_id)
        for key, value in values.items():
            setattr(row, key, value)


# (kind, to whom, payload, what must be true first)
DELIVERIES = {
    nudges.NUDGE: lambda s: ("lead", {"projects": [s.project]}, None),
    nudges.ESCALATION: lambda s: ("organiser", {"projects": [s.project]}, None),
    nudge_actions.PARTNER_REQUEST: lambda s: ("channel", {"project": s.project}, None),
    nudge_actions.PARTNER_REQUEST_ADMIN: lambda s: (
        "organiser",
        {"project": s.project, "asked_by": s.lead},
        None,
    ),
    announcements.ANNOUNCE: lambda s: (
        "channel",
        {"meeting": s.meeting, "offset": 24 * 60},
        (SlotRequest, s.slot, {"status": "accepted"}),
    ),
    announcements.GOING_REMINDER: lambda s: ("carer", {"meeting": s.meeting}, None),
    public_signup.CONFIRM_CONTACT: lambda s: ("carer", {"forum": s.forum}, None),
    invitations.INVITE: lambda s: (
        "lead",
        {"meeting": s.meeting, "offset": 24 * 60},
        (SlotRequest, s.slot, {"status": "accepted"}),
    ),
    announcements.MEETING_CHANGED: lambda s: ("carer", {"meeting": s.meeting}, None),
    forum_slots.SLOT_REQUEST: lambda s: ("organiser", {"slot": s.slot}, None),
    forum_slots.SLOT_DECISION: lambda s: (
        "lead",
        {"slot": s.slot},
        (SlotRequest, s.slot, {"status": "declined"}),
    ),
    join.MEMBER_JOINED: lambda s: (
        "lead",
        {"since": NEWS_HOUR.isoformat()},
        (Membership, s.membership, {"consent_recorded_by_id": s.carer}),  # joined by themselves
    ),
    matchmaking.MATCH_ASK: lambda s: ("carer", {"offer": s.offer}, None),
    matchmaking.MATCH_RESULT: lambda s: (
        "lead",
        {"offer": s.offer},
        (MatchOffer, s.offer, {"status": matchmaking.matches.JOINED}),
    ),
    channel_problems.CHANNEL_PROBLEM: lambda s: (
        "organiser",
        {"channel": "slack:C0FORUM", "problem": "not_found", "after": 0},
        (Forum, s.forum, {"channel": "slack:C0FORUM"}),
    ),
}


# --- the lead's news of who joined in the hour -------------------------------------------------

# The hour the tests' clock starts in (Monday 23 November 2026, 10:00 UTC).
NEWS_HOUR = datetime(2026, 11, 23, 10, tzinfo=UTC)


def joined_in_the_hour(ctx, lead: int, projects: list[int], names: list[str]) -> None:
    """People with these names, each joined one of the projects (in turn) by themselves now."""
    people = given.many_people(ctx.sessions, names, ctx.now())
    if not people:
        return
    with ctx.sessions.begin() as session:
        session.execute(
            insert(Membership),
            [
                {
                    "project_id": projects[n % len(projects)],
                    "person_id": pid,
                    "role": Role.CARER if n % 2 else Role.STAFF,
                    "involvement": Involvement.TEAM_MEMBER,
                    "consent_recorded_by_id": pid,
                    "consent_recorded_at": ctx.now(),
                    "joined_at": ctx.now(),
                }
                for n, pid in enumerate(people)
            ],
        )


def hours_news(ctx, lead: int) -> Reply | None:
    recipient = outbox.person_recipient(lead)
    return render_delivery(ctx, claimed(join.MEMBER_JOINED, recipient, since=NEWS_HOUR.isoformat()))


@pytest.mark.parametrize("teams", [1, 3])
@pytest.mark.parametrize("count", sizes(join.NEWS_NAMES_SHOWN))
def test_the_leads_news_of_who_joined_in_the_hour_is_one_message_that_fits(ctx, asha, count, teams):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    projects = given.many_projects(
        ctx.sessions, long_names(teams, start=100), ctx.now(), lead_id=lead
    )
    joined_in_the_hour(ctx, lead, projects, long_names(count))

    news = hours_news(ctx, lead)

    if not count:
        assert news is None
        return
    assert news is not None
    seen = shown(news)
    listed = seen.console.count("• ")
    if count == 1:
        assert listed == 0 and seen.everywhere("has joined your project")
        return
    # The longest names leave room for fewer than the most a message names.
    assert 10 <= listed <= min(count, join.NEWS_NAMES_SHOWN)
    assert seen.everywhere(f"{count} people joined your project")
    more = count - listed
    if more:
        assert seen.everywhere(f"…and {more} more " + ("person" if more == 1 else "people"))
    else:
        assert "more people" not in seen.console


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_leads_news_of_a_thousand_joins_fits_in_every_script(ctx, asha, script):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    projects = given.many_projects(
        ctx.sessions, long_names(3, script, start=100), ctx.now(), lead_id=lead
    )
    joined_in_the_hour(ctx, lead, projects, long_names(1000, script))

    news = hours_news(ctx, lead)

    assert news is not None
    seen = shown(news)
    assert seen.everywhere("1000 people joined your project teams:")
    assert seen.everywhere(f"…and {1000 - seen.console.count('• ')} more people")


def test_every_kind_of_message_the_bot_sends_on_its_own_is_size_tested():
    assert set(DELIVERIES) == set(RENDERERS)


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("kind", DELIVERIES)
def test_every_message_the_bot_sends_fits_with_the_longest_names(ctx, kind, script):
    found = scene(ctx, script)
    to, payload, first = DELIVERIES[kind](found)
    if first is not None:
        _set(ctx, first[0], first[1], **first[2])
    recipient = (
        outbox.channel_recipient(FORUM_CHANNEL)
        if to == "channel"
        else outbox.person_recipient(getattr(found, to))
    )

    reply = render_delivery(ctx, claimed(kind, recipient, **payload))

    assert reply is not None
    seen = shown(reply)
    assert len(seen.slack_buttons) == len(seen.teams_buttons) == len(reply.buttons)


# --- answers that repeat what people typed -------------------------------------------------


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_answers_that_repeat_the_longest_names_fit(chat, ctx, asha, ben, script):
    name = long_name(1, script)
    given.organiser(ctx.sessions, asha, ctx.now())
    given.forum(ctx.sessions, ctx.now(), name=long_name(2, script))
    lines = [
        (asha, f'/qi-project new "{name}" as carer'),
        (
            asha,
            f'/qi-project add-member "{name}" "{long_name(3, script)[:100]}" as carer --consent',
        ),
        (ben, f"/qi-join {name} as carer"),
        (ben, "/qi-join forum as carer"),
        (asha, "/qi-join forum"),  # asked how she comes
        (asha, f'/qi-project show "{name}"'),
        (ben, "/qi-forum"),
        (asha, "/qi-projects"),
        (asha, f'/qi-project status "{name}" on hold'),
        (ben, f"/qi-leave {name}"),
        (asha, "/qi-stats"),
        (asha, "/qi-help"),
    ]

    for who, line in lines:
        reply = chat.say(who, line)

        assert reply.ok, (line, reply.text)
        shown(reply)


# --- charts posted after the answer (Slack) --------------------------------------------------


@pytest.mark.parametrize("length", sizes(MAX_IMAGE_TEXT))
@pytest.mark.parametrize("moved", [False, True])
def test_a_chart_posted_again_by_reference_fits(length, moved):
    """What SlackTransport posts for a chart already shared in a channel: its file, by id."""
    image = Image(b"png", title="t" * length, alt_text="a" * length)
    comment = IMAGE_MOVED_TO_DM if moved else None
    blocks = [build_image_block(image, "F0123")]
    if comment:
        blocks.insert(0, {"type": "section", "text": {"type": "plain_text", "text": comment}})

    refusal = message_refusal({"text": comment or image.title, "blocks": blocks})

    assert refusal is None, refusal
    assert len(blocks[-1]["alt_text"]) == min(length, MAX_IMAGE_TEXT)  # clipped, not refused


@pytest.mark.parametrize("length", sizes(MAX_IMAGE_TEXT))
def test_the_too_busy_to_post_a_chart_notice_fits(length):
    """When the after-ack queue is full, the person is told what the chart shows instead."""
    reply = say(IMAGE_DROPPED.format(alt_text="a" * length))

    blocks = build_reply_blocks(reply)
    refusal = message_refusal({"text": slack_fallback(reply), "blocks": blocks})

    assert refusal is None, refusal
    assert "too busy" in slack_fallback(reply)


# --- organisers changing meetings, slots and chart notes in chat --------------------------


@pytest.mark.parametrize("count", sizes(organising.MEETINGS_SHOWN))
def test_the_organisers_list_of_meetings_fits_and_says_how_many_more(chat, ctx, asha, count):
    given.organiser(ctx.sessions, asha, ctx.now())
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(1))
    if count:
        with ctx.sessions.begin() as session:
            session.execute(
                insert(Meeting),
                [
                    {
                        "forum_id": forum,
                        "starts_at": ctx.now() + timedelta(days=1 + n),
                        "location": long_name(8000 + n),
                        "cancelled_at": ctx.now() if n % 2 else None,
                        "created_at": ctx.now(),
                    }
                    for n in range(count)
                ],
            )

    reply = chat.say(asha, "/qi-forum meetings")

    seen = shown(reply)
    listed = seen.console.count("• #")
    assert listed == min(count, organising.MEETINGS_SHOWN) or listed >= 10
    if count > listed:
        assert seen.everywhere(f"…and {count - listed} more meeting")
    if count:
        assert seen.everywhere("/qi-forum cancel-meeting ")


@pytest.mark.parametrize("count", sizes(forum_slots.SLOTS_SHOWN))
def test_the_slots_waiting_for_a_decision_fit_each_with_its_buttons(chat, ctx, asha, count):
    me = given.organiser(ctx.sessions, asha, ctx.now())
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(1))
    meeting = given.meeting(ctx, forum, ctx.now() + timedelta(days=7), long_name(2))
    projects = given.many_projects(ctx.sessions, long_names(count, start=10), ctx.now(), lead_id=me)
    (asker,) = given.many_people(ctx.sessions, [long_name(3)], ctx.now())
    if count:
        with ctx.sessions.begin() as session:
            session.execute(
                insert(SlotRequest),
                [
                    {
                        "meeting_id": meeting,
                        "project_id": p,
                        "topic": long_name(4, length=TOPIC_MAX),
                        "requested_by_id": asker,
                        "status": "requested",
                        "created_at": ctx.now(),
                    }
                    for p in projects
                ],
            )

    reply = chat.say(asha, "/qi-forum slots")

    seen = shown(reply)
    listed = sum(1 for section in reply.sections if section.buttons)
    if not count:
        assert seen.everywhere("No requests for a slot are waiting")
        return
    assert 5 <= listed <= forum_slots.SLOTS_SHOWN or listed == count
    for buttons in (seen.slack_buttons, seen.teams_buttons):
        assert titled(buttons, "Accept") == titled(buttons, "Decline") == listed
    if count > listed:
        assert seen.everywhere(f"…and {count - listed} more request")


@pytest.mark.parametrize("count", sizes(stats.NOTES_SHOWN))
def test_the_chart_notes_fit_and_say_how_many_more(chat, ctx, asha, count):
    if count:
        with ctx.sessions.begin() as session:
            session.execute(
                insert(ChartNote),
                [
                    {
                        "on_date": date(2026, 1, 1) + timedelta(days=n),
                        "text": long_name(n, length=stats.NOTE_MAX),
                        "created_at": ctx.now(),
                    }
                    for n in range(count)
                ],
            )

    reply = chat.say(asha, "/qi-stats notes")

    seen = shown(reply)
    listed = seen.console.count("• #")
    assert listed == min(count, stats.NOTES_SHOWN) or listed >= 10
    if count > listed:
        assert seen.everywhere(f"…and {count - listed} more note")


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_organisers_answers_and_news_of_a_meeting_back_on_fit_with_the_longest_names(
    chat, ctx, asha, script
):
    found = scene(ctx, script)
    given.organiser(ctx.sessions, asha, ctx.now())
    note = long_name(1, script, length=stats.NOTE_MAX)
    place = long_name(7, script)
    when = (ctx.now() + timedelta(days=3)).astimezone(ctx.timezone)
    lines = [
        "/qi-forum meetings",
        "/qi-forum slots",
        f"/qi-forum move-meeting {found.meeting} {when + timedelta(days=1):%Y-%m-%d %H:%M}",
        f"/qi-forum cancel-meeting {found.meeting}",
        f"/qi-forum uncancel-meeting {found.meeting}",
        f'/qi-stats note 2026-03-02 "{note}"',
        "/qi-stats notes",
        f'/qi-stats note edit 1 2026-03-09 "{note}"',
        "/qi-stats note delete 1",
    ]
    for line in lines:
        reply = chat.say(asha, line)

        assert reply.ok, (line, reply.text)
        shown(reply)
    twice = chat.say(
        asha,
        f'/qi-forum add-meeting {when + timedelta(days=1):%Y-%m-%d %H:%M} "{long_name(6, script)}"'
        f' at "{place}"',
    )
    assert not twice.ok and "There is already" in twice.text
    shown(twice)

    back_on = render_delivery(
        ctx,
        claimed(
            announcements.MEETING_CHANGED,
            outbox.person_recipient(found.carer),
            meeting=found.meeting,
            news=announcements.UNCANCELLED,
        ),
    )
    _set(ctx, SlotRequest, found.slot, status="accepted")
    slot_back = render_delivery(
        ctx,
        claimed(
            forum_slots.SLOT_DECISION,
            outbox.person_recipient(found.lead),
            slot=found.slot,
            news=forum_slots.RESTORED,
        ),
    )
    for reply in (back_on, slot_back):
        assert reply is not None and reply.text.startswith("Good news")
        seen = shown(reply)
        assert len(seen.slack_buttons) == len(seen.teams_buttons) == len(reply.buttons)


# --- looking after a team: the change form, the confirm step and the answers ----------------


@pytest.mark.parametrize("short", [True, False], ids=["short names", "200-character names"])
@pytest.mark.parametrize("count", sizes(team.FORM_CHOICE_LIMIT))
def test_the_change_form_fits_or_asks_for_the_name_to_be_typed(chat, ctx, asha, count, short):
    lead = given.person_id(ctx.sessions, asha, ctx.now())
    (project,) = given.many_projects(ctx.sessions, [long_name(1)], ctx.now(), lead_id=lead)
    names = [f"Member {n}" for n in range(count)] if short else long_names(count, start=100)
    people = given.many_people(ctx.sessions, names, ctx.now())
    given.many_members(ctx.sessions, project, [(p, Role.CARER) for p in people], ctx.now())
    card = chat.say(asha, f'/qi-project show "{long_name(1)}"')

    if not count:
        assert "Change or remove someone" not in given.labels(card)
        return
    reply = chat.press(asha, card, "Change or remove someone")

    assert reply.form is not None
    check_slack_view(build_modal(reply.form, intro=reply.text))
    check_teams_message(build_command_reply(reply))
    who = reply.form.fields[0]
    if short:
        assert bool(who.choices) == (count <= team.FORM_CHOICE_LIMIT)


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_taking_someone_off_or_putting_them_right_fits_with_the_longest_names(
    chat, ctx, asha, ben, script
):
    name = long_name(1, script)
    member = long_name(3, script)[:100].strip()
    renamed = long_name(4, script)[:100].strip()
    chat.say(asha, f'/qi-project new "{name}"')
    chat.say(ben, f'/qi-join "{name}" as carer')
    chat.say(asha, f'/qi-project add-member "{name}" "{member}" as staff --consent')
    project = f'"{name}" "{member}"'
    lines = [
        f"/qi-project add-member {project} as carer --consent",
        f'/qi-project edit-member {project} --name "{renamed}" as service user --consulted',
        f'/qi-project edit-member "{name}" "{renamed}" --team-member --since 2026-11-23',
        f'/qi-project remove-member "{name}" "{renamed}"',
        f'/qi-project remove-member "{name}" "Ben Okafor"',
    ]

    for line in lines:
        reply = chat.say(asha, line)

        assert reply.ok, (line, reply.text)
        shown(reply)
    chat.say(ben, f'/qi-join "{name}" as carer')
    card = chat.say(asha, f'/qi-project show "{name}"')
    form = chat.press(asha, card, "Change or remove someone")
    assert form.form is not None
    confirm = chat.submit(asha, form, member=form.form.fields[0].choices[0].value, action="remove")
    assert confirm.ok, confirm.text
    seen = shown(confirm)
    assert titled(seen.slack_buttons, "Yes, take them off") == 1
    assert titled(seen.teams_buttons, "Yes, take them off") == 1
    shown(chat.press(asha, confirm, "No, keep them"))
    shown(chat.press(asha, confirm, "Yes, take them off"))


@pytest.mark.parametrize("length", [12, team.ECHO_MAX, team.ECHO_MAX + 1, 1000, 1990])
def test_words_qi_project_does_not_know_get_an_answer_that_fits(chat, ctx, asha, length):
    given.many_projects(ctx.sessions, long_names(3), ctx.now(), lead_id=None)
    typed = ("remove-membr " + "🏥 Lleihau cwympiadau " * 100)[:length]

    reply = chat.say(asha, f"/qi-project {typed}")

    assert not reply.ok
    seen = shown(reply)
    assert seen.everywhere("/qi-project remove-member")


# --- finding things by name: suggestions, what to leave, help topics ------------------------


@pytest.mark.parametrize("count", sizes(MAX_SUGGESTIONS))
def test_suggested_projects_fit_as_buttons_that_finish_the_command(chat, ctx, ben, count):
    names = long_names(count, "English")  # every one has "falls" in it; none "nowhere"
    given.many_projects(ctx.sessions, names, ctx.now(), lead_id=None)

    reply = chat.say(ben, "/qi-join falls nowhere as carer")

    seen = shown(reply)
    offered = min(count, MAX_SUGGESTIONS)
    assert len(reply.buttons) == len(seen.slack_buttons) == len(seen.teams_buttons) == offered
    assert {b.label for b in reply.buttons} <= set(names)
    assert seen.everywhere('I couldn\'t find a project called "falls nowhere".')
    if offered:
        first = reply.buttons[0].label
        joined = chat.press(ben, reply, first)
        shown(joined)
        assert f'Welcome to the "{first}" team as a carer.' in joined.text


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_longest_suggested_names_fit_in_every_script(chat, ctx, ben, script):
    names = long_names(1000, script)
    given.many_projects(ctx.sessions, names, ctx.now(), lead_id=None)
    # "000" starts ten of the names; a topic as long as a slot allows follows the name.
    topic = long_name(1, script, TOPIC_MAX)[: TOPIC_MAX - 1]

    reply = chat.say(ben, f'/qi-forum slot "000 nowhere" "{topic}"')

    seen = shown(reply)
    assert len(seen.slack_buttons) == len(seen.teams_buttons) == MAX_SUGGESTIONS
    for button in reply.buttons:
        assert len(button.value) <= BUTTON_VALUE_MAX and button.label in names[:10]
    pressed = chat.press(ben, reply, reply.buttons[0].label)
    shown(pressed)
    assert "Only people on the" in pressed.text  # the same command, with the name found


@pytest.mark.parametrize("length", [1, 1000, MAX_ARGUMENT_LENGTH - len(" as carer")])
def test_suggestions_for_the_longest_name_anyone_can_type_fit(chat, ctx, ben, length):
    given.many_projects(ctx.sessions, long_names(MAX_SUGGESTIONS + 1, "English"), ctx.now(),
                        lead_id=None)  # fmt: skip
    typed = ("falls " + "x" * length)[:length]  # "f" fits them all; the rest, none

    reply = chat.say(ben, f"/qi-join {typed} as carer")

    seen = shown(reply)
    assert not reply.ok
    # The name typed is replaced by the one offered: the button's command is short again.
    assert len(seen.slack_buttons) == len(seen.teams_buttons) == MAX_SUGGESTIONS
    assert all(len(b.value) <= BUTTON_VALUE_MAX for b in reply.buttons)
    assert seen.everywhere('Did you mean "0000 Reducing falls')


@pytest.mark.parametrize("forums", [0, 1])
@pytest.mark.parametrize("count", sizes(LEAVE_CHOICES))
def test_what_to_leave_fits_and_says_how_to_leave_the_rest(chat, ctx, ben, count, forums):
    me = given.person_id(ctx.sessions, ben, ctx.now())
    projects = given.many_projects(ctx.sessions, long_names(count), ctx.now(), lead_id=None)
    with ctx.sessions.begin() as session:
        if projects:
            session.execute(
                insert(Membership),
                [
                    {
                        "project_id": p,
                        "person_id": me,
                        "role": Role.CARER,
                        "involvement": Involvement.TEAM_MEMBER,
                        "joined_at": ctx.now(),
                        "consent_recorded_at": ctx.now(),
                    }
                    for p in projects
                ],
            )
    for n in range(forums):
        forum = given.forum(ctx.sessions, ctx.now(), name=long_name(9000 + n))
        with ctx.sessions.begin() as session:
            session.add(ForumMember(forum_id=forum, person_id=me, joined_at=ctx.now()))

    reply = chat.say(ben, "/qi-leave")

    seen = shown(reply)
    choices = min(count + forums, LEAVE_CHOICES)
    assert len(seen.slack_buttons) == len(seen.teams_buttons) == len(reply.buttons) == choices
    more = count + forums - choices
    if more:
        assert seen.everywhere(f"For the {more} not shown here, type /qi-leave and the name")
    if choices:
        left = chat.press(ben, reply, reply.buttons[-1].label)
        seen_left = shown(left)
        again = "Join this team again" if count else "Join the forum again"
        assert left.ok and titled(seen_left.slack_buttons, again) == 1
        assert titled(seen_left.teams_buttons, again) == 1


@pytest.mark.parametrize("length", sizes(TOPIC_ECHO_MAX))
def test_an_unknown_help_topic_fits_whatever_was_typed(chat, ctx, ben, length):
    reply = chat.say(ben, "/qi-help " + ("w" * length if length else ""))

    seen = shown(reply)
    if length:
        assert seen.everywhere("The topics are: join, leave, projects, project, forum, stats")
    else:
        assert seen.everywhere("How qi-nudge works")


# --- sites: /qi-stats <site> and /qi-projects <site> ---------------------------------------


def projects_at_sites(ctx, sites: list[str], status: ProjectStatus = ProjectStatus.ACTIVE):
    """One project at each of these sites, in one insert."""
    if not sites:
        return
    now = ctx.now()
    with ctx.sessions.begin() as session:
        project_ids = list(
            session.scalars(
                insert(Project).returning(Project.id, sort_by_parameter_order=True),
                [
                    {
                        "name": f"Project {number}",
                        "name_key": f"project {number}",
                        "site": site,
                        "site_key": site_key(site),
                        "status": status,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for number, site in enumerate(sites)
                ],
            )
        )
        index_words(session, project_ids)


@pytest.mark.parametrize("count", sizes(MAX_SUGGESTIONS))
def test_a_site_asked_about_fits_however_many_sites_there_are(chat, ctx, asha, count):
    sites = long_names(count)  # 200 characters each, "0000 …", "0001 …", in each script
    projects_at_sites(ctx, sites)
    take_snapshot(ctx)  # a week of figures for each site: its run chart

    stats = chat.say(asha, "/qi-stats 0")  # the beginning of every site's name
    listing = chat.say(asha, "/qi-projects 0")
    mistyped = chat.say(asha, f'/qi-stats "{long_name(0)[:-3]}zzz"')
    unknown = chat.say(asha, "/qi-stats " + "x" * 1990)

    for reply in (stats, listing, mistyped, unknown):
        shown(reply)
    if count == 1:
        assert stats.ok and stats.image is not None and f"at {sites[0]} (" in stats.text
        assert listing.sections[0].heading.startswith("Active QI projects at 0000 ")
    elif count:
        assert not stats.ok and stats.text.startswith('More than one site matches "0".')
        assert stats.text.count('"0') == 1 + min(count, MAX_SUGGESTIONS)
    else:
        assert not stats.ok and stats.text.startswith('I don\'t know a site called "0".')
    assert not unknown.ok and "…" in unknown.text  # what was typed, cut short


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_site_with_no_active_project_says_so_and_fits(chat, ctx, asha, script):
    site = long_name(7, script)
    projects_at_sites(ctx, [site], status=ProjectStatus.COMPLETED)

    reply = chat.say(asha, f'/qi-projects "{site}"')

    assert reply.ok
    assert shown(reply).everywhere("Type /qi-projects to see all.")
    assert reply.sections[0].text.startswith("No active project at 0007 ")


# --- each forum's next few meetings, answers by role, leaving (issue 17) --------------------


def forums_with_meetings(
    ctx, forums: int, meetings: int, member: int | None, *, short: bool = False
) -> list[int]:
    """Forums (of 200-character names and places, unless `short`), each with `meetings` to
    come (in bulk), the first few answered by people in every role; `member` in them all."""
    names = [f"Forum {n}" for n in range(forums)] if short else long_names(forums)
    ids = [given.forum(ctx.sessions, ctx.now(), name=name) for name in names]
    people = given.many_people(ctx.sessions, long_names(len(Role) + 1, start=3000), ctx.now())
    with ctx.sessions.begin() as session:
        if member is not None:
            session.execute(
                insert(ForumMember),
                [{"forum_id": f, "person_id": member, "joined_at": ctx.now()} for f in ids],
            )
        if not meetings:
            return ids
        rows = session.scalars(
            insert(Meeting).returning(Meeting.id, sort_by_parameter_order=True),
            [
                {
                    "forum_id": f,
                    "starts_at": ctx.now() + timedelta(days=1 + n),
                    "location": "Room 4" if short else long_name(8000 + n),
                    "created_at": ctx.now(),
                }
                for f in ids
                for n in range(meetings)
            ],
        ).all()
        answered = [m for i, m in enumerate(rows) if i % meetings < MEETINGS_EACH]
        roles = [*Role, None]
        session.execute(
            insert(Rsvp),
            [
                {
                    "meeting_id": m,
                    "person_id": pid,
                    "answer": RsvpAnswer.GOING if role else RsvpAnswer.MAYBE,
                    "role": role,
                    "answered_at": ctx.now(),
                }
                for m in answered
                for pid, role in zip(people, roles, strict=True)
            ],
        )
    return ids


@pytest.mark.parametrize("short", [True, False], ids=["short names", "200-character names"])
@pytest.mark.parametrize("forums", [1, FORUMS_SHOWN + 1])
@pytest.mark.parametrize("count", sizes(MEETINGS_EACH))
def test_each_forums_next_few_meetings_fit_with_their_own_buttons(
    chat, ctx, asha, forums, count, short
):
    me = given.person_id(ctx.sessions, asha, ctx.now())
    forums_with_meetings(ctx, forums, count, member=me, short=short)

    answer = chat.say(asha, "/qi-forum")

    seen = shown(answer)
    each = min(count, MEETINGS_EACH)
    showing = min(forums, FORUMS_SHOWN)
    listed = titled(seen.slack_buttons, "I'm going")
    assert titled(seen.teams_buttons, "I'm going") == titled(seen.teams_buttons, "Maybe") == listed
    if short or forums == 1:  # as many as asked for
        assert listed == min(showing * each, MEETINGS_SHOWN)
    else:  # every forum's next meeting, and later ones while they fit
        assert showing * min(count, 1) <= listed <= min(showing * each, MEETINGS_SHOWN)
    assert seen.console.count("Going: 5 (") == listed
    assert seen.console.count("Next meeting: ") == showing * min(count, 1)
    if forums == 1 and count > each:
        assert seen.everywhere(f"…and {count - each} more meeting")
    if forums > FORUMS_SHOWN:
        assert seen.everywhere(f"…and {forums - FORUMS_SHOWN} more forum")
    if count:  # answering one shows that forum's next few again, and still fits
        pressed = chat.press(asha, answer, "Maybe")
        assert titled(shown(pressed).slack_buttons, "Maybe") == each
        assert "You said maybe." in pressed.text


@pytest.mark.parametrize("count", sizes(GOING_SHOWN))
def test_leaving_the_forum_asks_about_the_meetings_you_are_going_to_and_fits(chat, ctx, ben, count):
    me = given.person_id(ctx.sessions, ben, ctx.now())
    forums_with_meetings(ctx, 1, count, member=me)
    with ctx.sessions.begin() as session:
        meetings = session.scalars(select(Meeting.id)).all()
        if meetings:
            session.execute(
                insert(Rsvp),
                [
                    {
                        "meeting_id": m,
                        "person_id": me,
                        "answer": RsvpAnswer.GOING,
                        "role": Role.CARER,
                        "answered_at": ctx.now(),
                    }
                    for m in meetings
                ],
            )

    left = chat.say(ben, "/qi-leave forum")

    seen = shown(left)
    assert seen.everywhere("You've left")
    if not count:
        assert titled(seen.slack_buttons, "I'm still coming") == 0
        return
    listed = min(count, GOING_SHOWN)
    assert seen.console.count("\n• ") == listed
    if count > listed:
        assert seen.everywhere(f"…and {count - listed} more.")
    for buttons in (seen.slack_buttons, seen.teams_buttons):
        assert titled(buttons, "I'm still coming") == titled(buttons, "Take my name off") == 1
    still = chat.press(ben, left, "I'm still coming")
    off = chat.press(ben, left, "Take my name off")
    shown(still)
    assert shown(off).everywhere(f"taken your name off {count} meeting")


# --- issue 18: web pages (the public sign-up's confirmation message) ---


# --- issue 18: e-mail and text composition (bot/outside/compose.py, bot/outside/smtp.py) ---
# A forum invitation as a carer outside chat gets it: by e-mail (every line within RFC 5322's
# 998 bytes, the subject within SUBJECT_MAX) and by text (within TEXT_MAX), each link whole.


OUTSIDE_AT = "https://qi-forum.example-trust.nhs.uk"
OUTSIDE_SECRET = "size-tests-link-secret-0123456789abcdef"
WEB_LINK = re.compile(r"https://\S+")
INVITE_OFFSET = 7 * 24 * 60
SMTP_LINE_MAX = 998  # bytes, without the CRLF (RFC 5322 section 2.1.1)


def carer_outside_chat(ctx, forum_id: int) -> int:
    """A carer in the forum reached only by e-mail, with a 200-character name."""
    return given.outside_member(ctx.sessions, forum_id, long_name(4242), ctx.now())


def with_agenda(ctx, meeting_id: int, count: int, script: str | None = None) -> None:
    """`count` accepted slots: 200-character project names, topics as long as allowed."""
    projects = given.many_projects(
        ctx.sessions, long_names(count, script, start=10), ctx.now(), lead_id=None
    )
    if not projects:
        return
    topic = long_name(3, script, length=TOPIC_MAX)
    with ctx.sessions.begin() as session:
        session.execute(
            insert(SlotRequest),
            [
                {
                    "meeting_id": meeting_id,
                    "project_id": p,
                    "topic": topic,
                    "status": "accepted",
                    "created_at": ctx.now(),
                }
                for p in projects
            ],
        )


def invitation(ctx, meeting_id: int, person_id: int) -> Reply:
    """The invitation as the deliverer draws it for the carer."""
    with ctx.sessions() as session:
        meeting = session.get(Meeting, meeting_id)
        occurrence = meeting_occurrence(meeting, f"invite:{INVITE_OFFSET}")
    drawn = render_delivery(
        ctx,
        outbox.Claimed(
            id=0,
            kind=invitations.INVITE,
            occurrence=occurrence,
            recipient=outbox.person_recipient(person_id),
            payload={"meeting": meeting_id, "offset": INVITE_OFFSET},
            attempts=1,
            uncertain=False,
        ),
    )
    assert drawn is not None
    return drawn


def expected_links(links: Links, reply: Reply, person_id: int, meeting_id: int) -> dict:
    """The links the message must carry, whole."""
    assert reply.event is not None
    starts = reply.event.starts_at
    return {
        "going": links.answer(person_id, meeting_id, starts, "going"),
        "not going": links.answer(person_id, meeting_id, starts, "not_going"),
        "calendar": links.meeting_calendar(meeting_id, starts),
        "stop": links.stop(person_id),
    }


def tokens_read(found: set[str], links: Links, person_id: int, meeting_id: int) -> None:
    """Each link opens its page for this carer and this meeting."""
    for link in found:
        path = link.removeprefix(OUTSIDE_AT).split("?", 1)[0]
        page, token = path.strip("/").split("/", 1)
        if page == "answer":
            read = links.read(token, ANSWER)
            assert read is not None and (read.person_id, read.meeting_id) == (
                person_id,
                meeting_id,
            )
        elif page == "stop":
            read = links.read(token, STOP)
            assert read is not None and read.person_id == person_id
        else:
            assert page == "calendar", link
            read = links.read(token.removeprefix("meeting/").removesuffix(".ics"), MEETING_CALENDAR)
            assert read is not None and read.meeting_id == meeting_id


def check_outside_messages(ctx, reply: Reply, person_id: int, meeting_id: int) -> str:
    """The invitation as an e-mail and as a text, each within its limits; the e-mail's body."""
    links = Links(OUTSIDE_AT, OUTSIDE_SECRET, clock=ctx.clock)
    expected = expected_links(links, reply, person_id, meeting_id)
    made = {"person_id": person_id, "links": links, "zone": ctx.timezone, "now": ctx.now()}
    heading = reply.sections[0].heading or ""

    email = compose.as_email(reply, **made)
    assert len(email.subject) <= compose.SUBJECT_MAX
    assert email.subject == heading or (
        len(heading) > compose.SUBJECT_MAX
        and email.subject == heading[: compose.SUBJECT_MAX - 1] + "…"
    )
    found = set(WEB_LINK.findall(email.body))
    assert found == set(expected.values())
    assert email.stop_url == expected["stop"]
    tokens_read(found, links, person_id, meeting_id)
    # As it goes over SMTP: no line too long for a mail server, and it reads back the same.
    sent = build_email(
        email,
        to="carer@example.org",
        sender=f"QI Forum <qi@{OUTSIDE_AT[8:]}>",
        key="k",
        now=ctx.now(),
    ).as_bytes()
    assert max(len(line) for line in sent.split(b"\r\n")) <= SMTP_LINE_MAX
    read_back = message_from_bytes(sent, policy=email_policy.default)
    assert read_back["Subject"] == email.subject
    body = read_back.get_body(preferencelist=("plain",))
    assert body is not None  # (MIME text is CRLF on the wire, and may come back so)
    assert body.get_content().replace("\r\n", "\n").rstrip("\n") == email.body.rstrip("\n")
    (attached,) = [p for p in read_back.iter_attachments() if p.get_filename() == "invite.ics"]
    (event,) = Calendar.from_ical(attached.get_payload(decode=True)).walk("VEVENT")
    assert str(event["SUMMARY"]) == reply.event.title

    text = compose.as_text(reply, **made)
    assert len(text.body) <= compose.TEXT_MAX
    found = set(WEB_LINK.findall(text.body))
    assert found == {
        expected["going"].split("?choice=")[0],
        expected["calendar"],
        expected["stop"],
    }
    tokens_read(found, links, person_id, meeting_id)
    assert text.body.startswith(heading[:20])
    return email.body


@pytest.mark.parametrize("count", sizes(invitations.AGENDA_SHOWN))
def test_an_invitation_by_email_or_text_fits_however_long_its_agenda(ctx, count):
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(1))
    meeting = given.meeting(ctx, forum, ctx.now() + timedelta(days=7), long_name(2))
    with_agenda(ctx, meeting, count)
    carer = carer_outside_chat(ctx, forum)

    reply = invitation(ctx, meeting, carer)
    body = check_outside_messages(ctx, reply, carer, meeting)

    assert body.count("• ") == min(count, invitations.AGENDA_SHOWN)
    more = count - invitations.AGENDA_SHOWN
    assert (f"…and {more} more on the agenda." in body) == (more > 0)
    assert long_name(2) in body  # the place, whole
    assert long_name(4242) not in body  # the carer's own name is never needed


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_sign_up_confirmation_fits_as_an_email_and_a_text_with_the_longest_names(ctx, script):
    found = scene(ctx, script)
    delivery = claimed(
        public_signup.CONFIRM_CONTACT, outbox.person_recipient(found.carer), forum=found.forum
    )

    reply = render_delivery(ctx, delivery)

    assert reply is not None
    links = Links("https://qi.example.nhs.uk", "secret", clock=ctx.clock)
    made = {"person_id": found.carer, "links": links, "zone": ctx.timezone, "now": ctx.now()}
    email, text = compose.as_email(reply, **made), compose.as_text(reply, **made)
    assert long_name(6, script) in email.body
    assert "https://qi.example.nhs.uk/confirm/" in email.body
    assert len(text.body) <= compose.TEXT_MAX and "https://qi.example.nhs.uk/confirm/" in text.body


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_an_invitation_with_a_thousand_agenda_items_fits_in_every_script(ctx, script):
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(1, script))
    meeting = given.meeting(ctx, forum, ctx.now() + timedelta(days=7), long_name(2, script))
    with_agenda(ctx, meeting, 1000, script)
    carer = carer_outside_chat(ctx, forum)

    body = check_outside_messages(ctx, invitation(ctx, meeting, carer), carer, meeting)

    assert body.count("• ") == invitations.AGENDA_SHOWN
    assert f"…and {1000 - invitations.AGENDA_SHOWN} more on the agenda." in body


@pytest.mark.parametrize("length", [0, 1, NAME_MAX])
def test_an_invitation_fits_with_a_forum_name_and_place_of_any_allowed_length(ctx, length):
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(1, length=max(length, 5)))
    place = long_name(2, length=length) if length else None
    meeting = given.meeting(ctx, forum, ctx.now() + timedelta(days=7), place)
    carer = carer_outside_chat(ctx, forum)

    reply = invitation(ctx, meeting, carer)
    body = check_outside_messages(ctx, reply, carer, meeting)

    assert reply.event is not None and reply.event.location == place
    assert place is None or place in body  # whole, however long


def test_a_place_one_character_too_long_is_refused_and_nothing_is_stored(ctx):
    forum = given.forum(ctx.sessions, ctx.now(), name=long_name(1))
    before = given.row_counts(ctx.sessions)

    with pytest.raises(Refusal, match="That place is too long"):
        given.meeting(ctx, forum, ctx.now() + timedelta(days=7), long_name(2, length=NAME_MAX + 1))

    assert given.row_counts(ctx.sessions) == before


def test_a_forum_name_one_character_too_long_is_refused_or_its_subject_clipped(
    ctx, migrated_engine
):
    too_long = long_name(1, length=NAME_MAX + 1)
    if migrated_engine.dialect.name == "postgresql":
        with pytest.raises(DataError):  # the column holds NAME_MAX characters
            given.forum(ctx.sessions, ctx.now(), name=too_long)
        return
    forum = given.forum(ctx.sessions, ctx.now(), name=too_long)  # SQLite keeps it whole
    meeting = given.meeting(ctx, forum, ctx.now() + timedelta(days=7), long_name(2))
    carer = carer_outside_chat(ctx, forum)

    reply = invitation(ctx, meeting, carer)
    check_outside_messages(ctx, reply, carer, meeting)

    email = compose.as_email(
        reply,
        person_id=carer,
        links=Links(OUTSIDE_AT, OUTSIDE_SECRET, clock=ctx.clock),
        zone=ctx.timezone,
        now=ctx.now(),
    )
    assert email.subject.endswith("…") and len(email.subject) == compose.SUBJECT_MAX


# --- issue 19: how involved people feel (the question, answers, comments, a lead recording) ---

from handlers.evidence import involvement_questions  # noqa: E402 (this block's own)

DELIVERIES[involvement_questions.INVOLVEMENT_QUESTION] = lambda s: (
    "carer",
    # The period the tests' clock is in (Monday 23 November 2026: the one from 16 November).
    {"membership": s.membership, "period": "2026-W47"},
    (Membership, s.membership, {"involvement": Involvement.TEAM_MEMBER}),
)


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_involvement_question_fits_with_the_longest_names(ctx, script):
    # Added to DELIVERIES after the test above was parametrized with it: run here.
    test_every_message_the_bot_sends_fits_with_the_longest_names(
        ctx, involvement_questions.INVOLVEMENT_QUESTION, script
    )


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
def test_the_involvement_question_answers_and_comment_form_fit_with_the_longest_names(
    chat, ctx, asha, ben, script
):
    name = long_name(1, script)
    sam = long_name(2, script)[:100]
    assert chat.say(asha, f'/qi-project new "{name}"').ok
    assert chat.say(ben, f"/qi-join {name} as carer").ok
    assert chat.say(asha, f'/qi-project add-member "{name}" "{sam}" as carer --consent').ok
    involvement_questions.ask_due(ctx)
    (question,) = [
        reply
        for kind, _to, reply in send_all(ctx)
        if kind == involvement_questions.INVOLVEMENT_QUESTION
    ]

    answered = chat.press(ben, question, "Not really")
    form = chat.press(ben, answered, "Add a comment")
    commented = chat.submit(ben, form, comment=long_name(3, script, length=500))
    refused = chat.say(asha, f'/qi-project involvement "{name}" "{sam}" not-at-all')
    recorded = chat.say(
        asha,
        f'/qi-project involvement "{name}" "{sam}" not-at-all --agreed '
        f'"{long_name(4, script, length=500)}"',
    )

    for reply in (question, answered, commented, recorded, refused):
        shown(reply)
    check_slack_view(build_modal(form.form, intro=form.text))
    assert answered.ok and commented.ok and recorded.ok and not refused.ok
    assert len(shown(question).slack_buttons) == 6


# --- issue 19: the involvement report, with the longest comments in every script ----------------


@ON_SQLITE
@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("count", [0, 1, 5, 6, 1000])
def test_the_involvement_report_fits_with_the_longest_comments(chat, ctx, asha, script, count):
    """Five comments of 500 characters at most are shown, each whole, on every platform."""
    given.organiser(ctx.sessions, asha, ctx.now())
    (project,) = given.many_projects(ctx.sessions, [long_name(1, script)], ctx.now(), lead_id=None)
    start = date(2026, 10, 5)  # a round that is over
    comment = long_name(2, script, length=500)
    given_answers = [(A_LOT, comment)] * count + [(A_LOT, None)] * max(0, 3 - count)
    involvement_answers(ctx, project, start, given_answers)

    reply = chat.say(asha, "/qi-stats involvement")

    seen = shown(reply)
    assert reply.ok and seen.everywhere(INVOLVEMENT_HEADING)
    assert seen.console.count("• “") == min(count, 5)  # the latest few comments, whole
    if count:
        assert seen.everywhere(comment[:100])
