"""Telling the organisers, once, that the bot cannot post in a forum's channel, and what to do."""

from sqlalchemy import select

from handlers.forum.channel_problems import (
    CHANNEL_PROBLEM,
    ChannelProblem,
    render_channel_problem,
    tell_organisers,
)
from store import addresses, outbox
from store.forums import create_forum
from store.models import Delivery, Forum
from tests.conftest import person
from tests.handlers import given

SLACK_CHANNEL = "slack:G0CARERS"
TEAMS_CHANNEL = "teams:19:general@thread.tacv2"


def told_rows(sessions) -> list[Delivery]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Delivery).where(Delivery.kind == CHANNEL_PROBLEM).order_by(Delivery.id)
            )
        )


def tell(sessions, clock, channel=SLACK_CHANNEL, problem=ChannelProblem.NOT_FOUND):
    with sessions.begin() as session:
        return tell_organisers(session, channel, problem, now=clock())


def render(ctx, row: Delivery):
    with ctx.sessions() as session:
        return render_channel_problem(session, ctx, outbox.as_claimed(row))


def with_forum(sessions, clock, channel=SLACK_CHANNEL, name="QI Forum") -> None:
    with sessions.begin() as session:
        create_forum(session, name=name, channel=channel, now=clock())


def post_reaches(sessions, clock, channel: str) -> None:
    """A message to the channel goes out: the channel works again."""
    with sessions.begin() as session:
        outbox.plan(
            session,
            [
                outbox.Planned(
                    "announce", f"x{clock().timestamp()}", outbox.channel_recipient(channel)
                )
            ],
            now=clock(),
        )
        row = session.scalars(select(Delivery).order_by(Delivery.id.desc())).first()
        outbox.mark_sent(
            session, row.id, now=clock(), platform="slack", channel_id="G0", message_ts="1.0"
        )


def test_each_organiser_is_told_once_however_often_the_problem_is_found(sessions, clock):
    asha = given.organiser(sessions, person("Asha Patel"), clock())
    ben = given.organiser(sessions, person("Ben Okafor"), clock())
    with_forum(sessions, clock)

    first = tell(sessions, clock)
    again = [tell(sessions, clock) for _ in range(3)]

    assert (first.organisers, first.new) == (2, 2)
    assert {(t.organisers, t.new) for t in again} == {(2, 0)}
    assert [r.recipient for r in told_rows(sessions)] == [
        outbox.person_recipient(asha),
        outbox.person_recipient(ben),
    ]


def test_a_problem_that_comes_back_after_the_channel_worked_is_told_again(sessions, clock):
    given.organiser(sessions, person("Asha Patel"), clock())
    with_forum(sessions, clock)
    tell(sessions, clock)

    post_reaches(sessions, clock, SLACK_CHANNEL)
    later = tell(sessions, clock)

    assert later.new == 1
    assert len(told_rows(sessions)) == 2


def test_another_problem_or_another_channel_is_told_on_its_own(sessions, clock):
    given.organiser(sessions, person("Asha Patel"), clock())
    with_forum(sessions, clock)
    with_forum(sessions, clock, channel="slack:C0OTHER", name="Carers Forum")
    tell(sessions, clock)

    archived = tell(sessions, clock, problem=ChannelProblem.ARCHIVED)
    other = tell(sessions, clock, channel="slack:C0OTHER")

    assert (archived.new, other.new) == (1, 1)


def test_with_no_organisers_nobody_is_told_and_nothing_is_planned(sessions, clock):
    with_forum(sessions, clock)

    told = tell(sessions, clock)

    assert (told.organisers, told.new) == (0, 0)
    assert told_rows(sessions) == []


def test_the_message_names_the_forum_and_the_channel_and_says_how_to_invite(ctx, sessions, clock):
    given.organiser(sessions, person("Asha Patel"), clock())
    with_forum(sessions, clock)
    tell(sessions, clock)

    reply = render(ctx, told_rows(sessions)[0])

    assert reply is not None
    assert reply.sections[0].heading == "QI Forum: I can't post in its channel"
    assert reply.sections[0].text.startswith(
        "I can't post QI Forum messages in the Slack channel with id G0CARERS: I haven't been "
        "invited to it (it may be private), or it no longer exists. Please open that channel "
        "and type /invite @qi-nudge there. That's all: what is waiting goes out by itself "
        "within 15 minutes, and nothing else is needed."
    )
    assert 'qi-nudge forum set "QI Forum" --channel slack:<channel id>' in reply.text


def test_on_teams_it_names_the_channel_and_says_to_add_the_app_back(ctx, sessions, clock):
    given.organiser(sessions, person("Asha Patel"), clock())
    with_forum(sessions, clock, channel=TEAMS_CHANNEL)
    with sessions.begin() as session:
        addresses.remember_channel(
            session,
            platform="teams",
            workspace="tenant",
            channel_id=TEAMS_CHANNEL.removeprefix("teams:"),
            name="QI Forum > General",
            address={},
            now=clock(),
        )
    tell(sessions, clock, channel=TEAMS_CHANNEL, problem=ChannelProblem.APP_REMOVED)

    reply = render(ctx, told_rows(sessions)[0])

    assert reply is not None
    assert 'the Teams channel "QI Forum > General"' in reply.text
    assert "qi-nudge was removed from that team" in reply.text
    assert "add qi-nudge to the team again" in reply.text


def test_the_message_is_dropped_once_the_channel_works_or_the_forum_moved(ctx, sessions, clock):
    given.organiser(sessions, person("Asha Patel"), clock())
    with_forum(sessions, clock)
    with_forum(sessions, clock, channel="slack:C0OTHER", name="Carers Forum")
    tell(sessions, clock)
    tell(sessions, clock, channel="slack:C0OTHER")
    slack_row, other_row = told_rows(sessions)

    before = (render(ctx, slack_row), render(ctx, other_row))

    post_reaches(sessions, clock, SLACK_CHANNEL)  # someone invited the bot meanwhile
    with sessions.begin() as session:
        carers = session.scalars(select(Forum).where(Forum.name == "Carers Forum")).one()
        carers.channel = "slack:C0NEW"  # the other forum now announces elsewhere

    assert None not in before
    assert render(ctx, slack_row) is None
    assert render(ctx, other_row) is None
