"""A forum channel whose team the app is not in, on Teams: organisers told once, post waits.

The service is built as serve builds it with only Teams configured; the fake Bot Connector
answers as Teams does: 403 BotNotInConversationRoster in a channel the app was removed from, 404
ConversationNotFound in one whose team it was never added to.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.runtime.scheduler import Jobs
from bot.teams.sender import BLOCKED_BY_ADMIN
from handlers.forum.announcements import ANNOUNCE
from handlers.forum.channel_problems import CHANNEL_PROBLEM, RETRY_EVERY, render_channel_problem
from handlers.forum.meetings import add_meeting
from handlers.nudges.weekly import NudgePolicy
from store import outbox
from store.forums import create_forum
from store.models import Delivery
from store.people import grant_admin
from tests.bot.teams.test_teams_http import BEN, card_of, card_text, sent_to
from tests.bot.teams.test_teams_outbox import FORUM_CHANNEL, teams_person
from tests.fakes.teams_connector import SEND_ACTIVITY
from tests.fakes.teams_signing import CHANNEL_ID_QI, TEAM_ID


@pytest.mark.parametrize("app", ["removed from the team", "never added to the team"])
def test_a_channel_the_app_is_not_in_waits_until_it_is_added(teams_bot, fake_teams, clock, app):
    ctx = teams_bot.ctx
    with ctx.sessions.begin() as session:
        organiser = teams_person(session, BEN, ctx.now(), reachable_on=fake_teams)
        grant_admin(session, organiser.id, by_id=None, now=ctx.now())
        forum = create_forum(session, name="QI Forum", channel=FORUM_CHANNEL, now=ctx.now())
        add_meeting(session, ctx, forum, ctx.now() + timedelta(days=6, hours=4), "Room 4", None)
    if app == "removed from the team":
        fake_teams.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])
        fake_teams.remove_bot(CHANNEL_ID_QI)
    jobs = Jobs(ctx, NudgePolicy())

    jobs.run_due()
    teams_bot.service.deliverer.drain()
    for _ in range(3):
        clock.advance(seconds=RETRY_EVERY.total_seconds())
        jobs.run_due()
        teams_bot.service.deliverer.drain()

    (told,) = sent_to(fake_teams, BEN)  # once, however many tries
    text = card_text(card_of(told))
    assert "QI Forum" in text and "qi-nudge was removed from that team" in text
    assert "add qi-nudge to the team again" in text
    assert fake_teams.activities(CHANNEL_ID_QI) == []
    with ctx.sessions() as session:
        (waiting,) = session.scalars(select(Delivery).where(Delivery.kind == ANNOUNCE))
        assert (waiting.status, waiting.attempts) == (outbox.PENDING, 0)
    refused = [c for c in fake_teams.calls_to(SEND_ACTIVITY) if c.conversation_id == CHANNEL_ID_QI]
    assert [c.status for c in refused] == [403 if app == "removed from the team" else 404] * 4

    if app == "removed from the team":
        fake_teams.reinstall_bot(CHANNEL_ID_QI)  # someone adds the app to the team again
    else:
        fake_teams.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])
    for _ in range(2):
        clock.advance(seconds=RETRY_EVERY.total_seconds())
        jobs.run_due()
        teams_bot.service.deliverer.drain()

    (post,) = fake_teams.activities(CHANNEL_ID_QI)
    assert "Coming up: QI Forum" in card_text(card_of(post))
    assert len(sent_to(fake_teams, BEN)) == 1


def test_an_app_blocked_by_the_tenant_admin_asks_for_it_to_be_allowed_and_the_post_waits(
    teams_bot, fake_teams, clock
):
    ctx = teams_bot.ctx
    with ctx.sessions.begin() as session:
        organiser = teams_person(session, BEN, ctx.now(), reachable_on=fake_teams)
        grant_admin(session, organiser.id, by_id=None, now=ctx.now())
        forum = create_forum(session, name="QI Forum", channel=FORUM_CHANNEL, now=ctx.now())
        add_meeting(session, ctx, forum, ctx.now() + timedelta(days=6, hours=4), "Room 4", None)
    fake_teams.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])
    # IT blocks the app for the whole organisation: the next two sends (the post, then the
    # note to the organiser) are refused with 403 BotDisabledByAdmin; then IT allows it again.
    fake_teams.fail(SEND_ACTIVITY, 403, code=BLOCKED_BY_ADMIN, times=2)
    jobs = Jobs(ctx, NudgePolicy())

    jobs.run_due()
    teams_bot.service.deliverer.drain()

    with ctx.sessions() as session:
        waiting = session.scalars(select(Delivery).where(Delivery.kind == ANNOUNCE)).one()
        told = session.scalars(select(Delivery).where(Delivery.kind == CHANNEL_PROBLEM)).one()
        assert (waiting.status, waiting.attempts) == (outbox.PENDING, 0)
        assert "Teams admin has blocked the qi-nudge app" in (waiting.error or "")
        # The organiser is on Teams too, so their note cannot arrive either: it fails, saying why.
        assert told.status == outbox.FAILED
        assert "Teams admin has blocked the qi-nudge app" in (told.error or "")
    with ctx.sessions() as session:
        note = render_channel_problem(session, ctx, outbox.as_claimed(told))
    assert note is not None
    assert "administrator has blocked the qi-nudge app" in note.text
    assert "ask your IT team to allow qi-nudge again" in note.text
    assert "add qi-nudge to the team again" not in note.text

    clock.advance(seconds=RETRY_EVERY.total_seconds())  # IT allows the app again
    jobs.run_due()
    teams_bot.service.deliverer.drain()

    (post,) = fake_teams.activities(CHANNEL_ID_QI)
    assert "Coming up: QI Forum" in card_text(card_of(post))
