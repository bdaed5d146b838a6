"""Matchmaking end to end on Slack: the offer in the nudge, the invitation, the join, the news."""

from sqlalchemy import select

from bot.runtime.scheduler import Jobs
from handlers.nudges.weekly import NudgePolicy
from store.models import Membership, Person
from store.roles import Role
from tests.bot.slack.test_slack_http import (
    CARER,
    LEAD,
    add_forum,
    button,
    command,
    start_project,
    visible_text,
)
from tests.fakes import block_actions_body


def press(bot, fake, message, label, user):
    """Press a button on a message the bot posted, as Slack sends the click."""
    pressed = button(message, label)
    click = block_actions_body(
        pressed["action_id"],
        pressed["value"],
        user_id=user,
        response_url=fake.response_url(),
        trigger_id=fake.new_trigger_id(),
    )
    answer = bot.post(click)
    assert answer.status_code == 200
    bot.settle()


def test_a_carer_from_the_forum_joins_a_team_through_the_lead_and_their_own_yes(
    slack_bot, fake_slack
):
    add_forum(slack_bot)
    start_project(slack_bot, fake_slack)
    fake_slack.add_user(CARER, "Ben Okafor")
    signup = command(slack_bot, fake_slack, CARER, "/qi-join", "forum as carer").json()
    press(slack_bot, fake_slack, signup, "Yes, please", CARER)

    Jobs(slack_bot.service.transport.bot.ctx, NudgePolicy()).run_due()
    slack_bot.settle()
    (nudge,) = fake_slack.messages("D" + LEAD)
    press(slack_bot, fake_slack, nudge, "Yes, ask them", LEAD)
    (invitation,) = fake_slack.messages("D" + CARER)
    press(slack_bot, fake_slack, invitation, "Yes, I'd like to join", CARER)

    assert "a carer from the QI forum has said they would like to join" in visible_text(
        nudge["blocks"]
    )
    assert "Ben" not in visible_text(nudge["blocks"])
    assert 'Asha Patel leads one called "Falls prevention"' in visible_text(invitation["blocks"])
    with slack_bot.engine.connect() as connection:
        team = connection.execute(
            select(Person.display_name, Membership.role).join(
                Person, Person.id == Membership.person_id
            )
        ).all()
    assert team == [("Ben Okafor", Role.CARER)]
    _nudge, news = fake_slack.messages("D" + LEAD)
    assert (
        'Good news: Ben Okafor, a carer from the QI forum, has joined "Falls prevention"'
        in (news["text"])
    )
    assert len(fake_slack.messages("D" + CARER)) == 1  # invited once
