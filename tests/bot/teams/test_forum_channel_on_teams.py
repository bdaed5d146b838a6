"""A forum channel whose team the app is not in, on Teams: organisers told once, post waits.

The service is built as serve builds it with only Teams configured; the fake Bot Connector
answers as Teams does: 403 BotNotInConversationRoster in a channel the app was removed from, 404
ConversationNotFound in one whose team it was never added to.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.scheduler import Jobs
from handlers.announcements import ANNOUNCE
from handlers.channel_problems import RETRY_EVERY
from handlers.forum import add_meeting
from handlers.nudges import NudgePolicy
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
