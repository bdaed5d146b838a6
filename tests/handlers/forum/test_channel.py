"""A forum's channel: which values are channels, and where waiting posts go when it moves."""

import pytest
from sqlalchemy import select

from handlers.core.errors import Refusal
from handlers.forum.announcements import ANNOUNCE
from handlers.forum.channel import change_channel, parse_channel
from handlers.nudges.buttons import PARTNER_REQUEST
from store import outbox
from store.forums import create_forum
from store.models import Delivery, Forum

OLD, NEW, OTHER = "slack:G0CARERS", "slack:C0QIFORUM", "teams:19:general@thread.tacv2"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("slack:C0123", "slack:C0123"),
        ("slack:G0PRIVATE9", "slack:G0PRIVATE9"),
        (" slack:C0PUBLIC\t", "slack:C0PUBLIC"),
        ("teams:19:abc-DEF_1@thread.tacv2", "teams:19:abc-DEF_1@thread.tacv2"),
        ("", None),
        (None, None),
    ],
)
def test_slack_and_teams_channels_are_taken_tidied(typed, stored):
    assert parse_channel(typed) == stored


@pytest.mark.parametrize(
    "typed",
    ["C0123", "teams:", "teams: ", "teams: 19:a", "slack:", "zoom:abc", "slack:c0123", "slack:D0"],
)
def test_anything_else_is_refused_naming_the_forms_that_work(typed):
    with pytest.raises(Refusal) as refused:
        parse_channel(typed)

    assert "slack:C0123" in refused.value.reply.text
    assert "teams:19:...@thread.tacv2" in refused.value.reply.text


def plan_waiting(sessions, clock, kind: str, occurrence: str, channel: str) -> None:
    with sessions.begin() as session:
        outbox.plan(
            session,
            [outbox.Planned(kind, occurrence, outbox.channel_recipient(channel), {})],
            now=clock(),
        )


def waiting(sessions) -> list[tuple[str, str, str]]:
    """(kind, recipient, status) of every delivery, oldest first."""
    with sessions() as session:
        rows = session.execute(
            select(Delivery.kind, Delivery.recipient, Delivery.status).order_by(Delivery.id)
        )
        return [tuple(row) for row in rows]


def move(sessions, name: str, channel: str | None) -> None:
    with sessions.begin() as session:
        forum = session.scalars(select(Forum).where(Forum.name == name)).one()
        change_channel(session, forum, channel)


def test_moving_a_forum_withdraws_its_announcements_waiting_for_the_old_channel(sessions, clock):
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=OLD, now=clock())
    plan_waiting(sessions, clock, ANNOUNCE, "meeting:1@0:10080", OLD)

    move(sessions, "QI Forum", NEW)

    assert waiting(sessions) == [(ANNOUNCE, f"channel:{OLD}", outbox.WITHDRAWN)]


def test_a_channel_another_forum_still_uses_keeps_that_forum_s_announcements(sessions, clock):
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=OLD, now=clock())
        create_forum(session, name="Carers Forum", channel=OLD, now=clock())
    plan_waiting(sessions, clock, ANNOUNCE, "meeting:2@0:10080", OLD)  # the Carers Forum's

    move(sessions, "QI Forum", NEW)

    # Still pending: its renderer decides, meeting by meeting, whose channel it was.
    assert waiting(sessions) == [(ANNOUNCE, f"channel:{OLD}", outbox.PENDING)]


def test_a_request_for_a_partner_waiting_for_the_old_channel_follows_the_forum(sessions, clock):
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=OLD, now=clock())
    plan_waiting(sessions, clock, PARTNER_REQUEST, "project:7:2026-W48", OLD)

    move(sessions, "QI Forum", NEW)
    move(sessions, "QI Forum", OTHER)  # and on to Teams

    assert waiting(sessions) == [(PARTNER_REQUEST, f"channel:{OTHER}", outbox.PENDING)]


def test_a_request_for_a_partner_the_new_channel_has_already_is_withdrawn_not_doubled(
    sessions, clock
):
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=OLD, now=clock())
    plan_waiting(sessions, clock, PARTNER_REQUEST, "project:7:2026-W48", OLD)
    plan_waiting(sessions, clock, PARTNER_REQUEST, "project:7:2026-W48", NEW)

    move(sessions, "QI Forum", NEW)

    assert waiting(sessions) == [
        (PARTNER_REQUEST, f"channel:{OLD}", outbox.WITHDRAWN),
        (PARTNER_REQUEST, f"channel:{NEW}", outbox.PENDING),
    ]


def test_clearing_the_only_channel_withdraws_what_waits_for_it(sessions, clock):
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=OLD, now=clock())
    plan_waiting(sessions, clock, ANNOUNCE, "meeting:1@0:10080", OLD)
    plan_waiting(sessions, clock, PARTNER_REQUEST, "project:7:2026-W48", OLD)

    move(sessions, "QI Forum", None)

    assert waiting(sessions) == [
        (ANNOUNCE, f"channel:{OLD}", outbox.WITHDRAWN),
        (PARTNER_REQUEST, f"channel:{OLD}", outbox.WITHDRAWN),
    ]


def test_another_forum_s_channel_change_leaves_the_requests_for_partners_alone(sessions, clock):
    with sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=OLD, now=clock())  # hears the requests
        create_forum(session, name="Carers Forum", channel=None, now=clock())
    plan_waiting(sessions, clock, PARTNER_REQUEST, "project:7:2026-W48", OLD)

    move(sessions, "Carers Forum", NEW)

    assert waiting(sessions) == [(PARTNER_REQUEST, f"channel:{OLD}", outbox.PENDING)]
