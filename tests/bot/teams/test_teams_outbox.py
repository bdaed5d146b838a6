"""Messages the bot sends on its own through Teams: the weekly nudge and forum announcements.

The service is built as serve builds it with only Teams configured; the outbox is drained by
its own deliverer, whose TeamsSender posts to tests.fakes.FakeTeams over HTTP.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from bot.runtime.scheduler import Jobs
from handlers.forum.meetings import add_meeting
from handlers.nudges.weekly import NudgePolicy
from store import addresses
from store.forums import create_forum
from store.models import ChatAddress, ChatIdentity, Delivery, Person, ProjectNudge
from store.people import grant_admin
from store.projects import create_project
from store.roles import ProjectStatus
from tests.bot.message_limits import check_teams_message, teams_buttons, walk
from tests.bot.teams.test_teams_http import BEN, button, card_of, card_text, sent_to
from tests.fakes.teams_connector import (
    CREATE_CONVERSATION,
    SEND_ACTIVITY,
    UPDATE_ACTIVITY,
    FakeTeams,
)
from tests.fakes.teams_signing import (
    CHANNEL_ID_QI,
    PRIYA,
    TEAM_ID,
    TENANT_ID,
    personal_conversation_id,
)
from tests.handlers import given

FORUM_CHANNEL = f"teams:{CHANNEL_ID_QI}"
WEEK_BEFORE = "2026-W47"  # the clock starts on Monday of 2026-W48


def teams_person(session, user, now, *, reachable_on: FakeTeams | None) -> Person:
    """Someone known on Teams; with `reachable_on`, one the bot can reach (they used the app)."""
    person = Person(display_name=user.name, created_at=now)
    person.identities.append(
        ChatIdentity(platform="teams", workspace=TENANT_ID, user_id=user.aad_object_id)
    )
    session.add(person)
    session.flush()
    if reachable_on is not None:
        reachable_on.add_user(user)  # in the tenant, with the app: Teams opens a chat with them
        # As an @mention in a channel leaves it: Teams' id for them, no 1:1 chat yet.
        addresses.remember_address(
            session,
            platform="teams",
            workspace=TENANT_ID,
            user_id=user.aad_object_id,
            address={"serviceUrl": reachable_on.service_url, "userId": user.user_id},
            now=now,
        )
    return person


def lead_with_two_projects(bot, *, address: bool = True) -> None:
    bot.fake.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])  # the forum's channel
    with bot.ctx.sessions.begin() as session:
        teams = bot.fake
        lead = teams_person(session, PRIYA, bot.ctx.now(), reachable_on=teams if address else None)
        organiser = teams_person(session, BEN, bot.ctx.now(), reachable_on=teams)
        grant_admin(session, organiser.id, by_id=None, now=bot.ctx.now())
        create_forum(session, name="QI Forum", channel=FORUM_CHANNEL, now=bot.ctx.now())
        for name in ("Falls prevention", "Kinder waiting rooms"):
            create_project(
                session,
                name=name,
                site=None,
                status=ProjectStatus.ACTIVE,
                lead_id=lead.id,
                now=bot.ctx.now(),
            )


def test_the_weekly_nudge_reaches_a_teams_lead_once_and_its_buttons_work(teams_bot, fake_teams):
    lead_with_two_projects(teams_bot)
    jobs = Jobs(teams_bot.ctx, NudgePolicy())

    jobs.run_due()  # Monday 10:00: this week's reminder is due
    jobs.run_due()  # a second tick (or a second replica) the same week
    teams_bot.service.deliverer.drain()
    teams_bot.service.deliverer.drain()

    (nudge,) = sent_to(fake_teams)
    card = card_of(nudge)
    assert '"Falls prevention" and "Kinder waiting rooms"' in card_text(card)
    # The 1:1 chat was opened once, and kept for next time.
    (created,) = fake_teams.calls_to(CREATE_CONVERSATION)
    assert created.body["members"] == [{"id": PRIYA.user_id}]
    with teams_bot.ctx.sessions() as session:
        kept = session.scalars(
            select(ChatAddress.dm_channel).where(ChatAddress.user_id == PRIYA.aad_object_id)
        ).one()
        delivery = session.scalars(select(Delivery).where(Delivery.kind == "nudge")).one()
    assert kept == personal_conversation_id(PRIYA)
    assert (delivery.status, delivery.platform) == ("sent", "teams")
    assert delivery.message_ts == nudge["id"]

    verb, data = button(card, "Ask the forum to find a partner")
    pressed = teams_bot.press(verb, data, reply_to_id=nudge["id"])
    teams_bot.service.deliverer.drain()

    assert pressed.status_code == 200
    assert "forum" in card_text(pressed.json()["value"]).lower()
    (post,) = fake_teams.activities(CHANNEL_ID_QI)
    assert "would like a service user or carer to join" in card_text(card_of(post))
    organiser_note = sent_to(fake_teams, BEN)
    assert len(organiser_note) == 1
    assert "asked the forum to help" in card_text(card_of(organiser_note[0]))


def test_a_lead_with_300_projects_gets_one_reminder_that_fits_and_lets_them_act(
    teams_bot, fake_teams
):
    now = teams_bot.ctx.now()
    with teams_bot.ctx.sessions.begin() as session:
        lead = teams_person(session, PRIYA, now, reachable_on=teams_bot.fake).id
    # Long names in Welsh, with an emoji: Teams counts each emoji twice.
    words = "Lleihau cwympiadau ar wardiau pobl hŷn " * 4
    names = [f"Prosiect {n:03d} 🏥 {words}" for n in range(300)]
    projects = given.many_projects(teams_bot.ctx.sessions, names, now, lead_id=lead)
    # The last ten by name have waited longest: reminded the two weeks before this one.
    waited_longest = projects[-10:]
    with teams_bot.ctx.sessions.begin() as session:
        session.execute(
            insert(ProjectNudge),
            [
                {"project_id": p, "weeks_in_a_row": 2, "last_week": WEEK_BEFORE}
                for p in waited_longest
            ],
        )

    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    teams_bot.service.deliverer.drain()

    (nudge,) = sent_to(fake_teams)
    # The activity as the Bot Connector received it, the SDK's own fields and all.
    check_teams_message(nudge)
    card = card_of(nudge)
    asks = [b for b in teams_buttons(card) if b["title"] == "Ask the forum to find a partner"]
    assert [b["data"]["value"] for b in asks] == [str(p) for p in waited_longest]
    text = card_text(card)
    assert "300 of your project teams have no service user or carer on them yet" in text
    assert "…and 290 more of your projects also have no service user or carer" in text
    assert "Type qi-projects mine to see them all." in text
    button(card, "Turn reminders off")

    # The next ten of them, each with its buttons, in the card that answers the press.
    verb, data = button(card, "Show the next 10 projects")
    pressed = teams_bot.press(verb, data, reply_to_id=nudge["id"])
    answer = pressed.json()["value"]
    check_teams_message({**nudge, "attachments": [{**nudge["attachments"][0], "content": answer}]})
    asks = [b for b in teams_buttons(answer) if b["title"] == "Ask the forum to find a partner"]
    assert [b["data"]["value"] for b in asks] == [str(p) for p in projects[:10]]
    assert "…and 280 more of your projects" in card_text(answer)
    button(answer, "Show the next 10 projects")


def test_a_lead_the_bot_cannot_reach_on_teams_is_reported_not_retried(teams_bot, fake_teams):
    lead_with_two_projects(teams_bot, address=False)  # never opened qi-nudge in Teams

    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    teams_bot.service.deliverer.drain()

    assert sent_to(fake_teams) == []
    with teams_bot.ctx.sessions() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.kind == "nudge")).one()
    assert delivery.status == "failed"
    assert "teams" in (delivery.error or "").lower()


def test_a_teams_only_shell_leaves_a_lead_it_cannot_reach_but_slack_can_to_serve(
    teams_bot, fake_teams, capsys
):
    """Priya is on Slack too: serve, set up on Slack, reaches her there; this shell cannot."""
    from bot.cli.reminders import _exit_code
    from bot.runtime.delivery import Deliverer
    from bot.runtime.waiting_report import elsewhere_for
    from tests.bot.teams.conftest import teams_settings

    lead_with_two_projects(teams_bot, address=False)  # never opened qi-nudge in Teams
    with teams_bot.ctx.sessions.begin() as session:
        priya = session.scalar(select(Person.id).where(Person.display_name == PRIYA.name))
        session.execute(
            insert(ChatIdentity).values(
                person_id=priya, platform="slack", workspace="T1", user_id="UPRIYA"
            )
        )
    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    url = teams_bot.engine.url.render_as_string(hide_password=False)
    shell = Deliverer(
        teams_bot.ctx,
        teams_bot.service.deliverer.router,
        elsewhere=elsewhere_for(teams_settings(fake_teams, url)),
    )

    outcomes = shell.drain()
    status = _exit_code(teams_bot.ctx, shell, outcomes, nothing_sent=True)

    said = capsys.readouterr().out
    assert sent_to(fake_teams) == []
    with teams_bot.ctx.sessions() as session:
        nudge = session.scalars(select(Delivery).where(Delivery.kind == "nudge")).one()
    assert (nudge.status, nudge.attempts, nudge.claimed_at) == ("pending", 0, None)
    assert "Sent nothing to Slack: it is not set up here. 1 message for it is still" in said
    assert "due and not sent" not in said
    assert status == 1


def test_the_forum_announcement_goes_to_the_channel_and_its_counts_update(teams_bot, fake_teams):
    fake_teams.install_in_team(TEAM_ID, channel_ids=[CHANNEL_ID_QI])
    with teams_bot.ctx.sessions.begin() as session:
        forum = create_forum(
            session, name="QI Forum", channel=FORUM_CHANNEL, now=teams_bot.ctx.now()
        )
        add_meeting(
            session,
            teams_bot.ctx,
            forum,
            teams_bot.ctx.now() + timedelta(days=6, hours=4),
            "Room 4",
            None,
        )
    jobs = Jobs(teams_bot.ctx, NudgePolicy())

    jobs.run_due()
    jobs.run_due()
    teams_bot.service.deliverer.drain()

    (post,) = fake_teams.activities(CHANNEL_ID_QI)
    assert "Coming up: QI Forum" in card_text(card_of(post))
    assert "Nobody has said yet." in card_text(card_of(post))

    verb, data = button(card_of(post), "I'm going")
    pressed = teams_bot.press(
        verb, data, reply_to_id=post["id"], channel_id=CHANNEL_ID_QI, user=BEN
    )

    assert pressed.status_code == 200
    with teams_bot.ctx.sessions() as session:
        # Ben only clicked: he can still be messaged later (the day-before reminder).
        assert session.scalar(
            select(ChatAddress.address).where(ChatAddress.user_id == BEN.aad_object_id)
        ) == {"serviceUrl": fake_teams.service_url, "userId": BEN.user_id}
    (edit,) = fake_teams.calls_to(UPDATE_ACTIVITY)
    (now_shown,) = fake_teams.activities(CHANNEL_ID_QI)
    assert now_shown["id"] == post["id"]
    assert "Nobody has said yet." not in card_text(card_of(now_shown))
    assert "1" in card_text(card_of(now_shown))
    assert edit.conversation_id == CHANNEL_ID_QI


def test_a_rate_limited_nudge_waits_and_is_then_sent_once(teams_bot, fake_teams, clock):
    lead_with_two_projects(teams_bot)
    fake_teams.fail(SEND_ACTIVITY, 429, retry_after=1)
    Jobs(teams_bot.ctx, NudgePolicy()).run_due()

    first = teams_bot.service.deliverer.drain()
    with teams_bot.ctx.sessions() as session:
        waiting = session.scalars(select(Delivery).where(Delivery.kind == "nudge")).one()
        waiting_state = (waiting.status, waiting.attempts, waiting.next_attempt_at)
    clock.advance(seconds=2)
    teams_bot.service.deliverer.pacer.hold(0)
    second = teams_bot.service.deliverer.drain()

    assert first["retry"] == 1 and second["sent"] == 1
    assert waiting_state[0] == "pending"
    assert waiting_state[1] == 0, "being rate-limited does not use up an attempt"
    assert len(sent_to(fake_teams)) == 1
    assert len([c for c in fake_teams.calls_to(SEND_ACTIVITY) if c.status == 429]) == 1


def test_a_lead_who_removed_the_app_gets_a_fresh_chat_next_time(teams_bot, fake_teams):
    lead_with_two_projects(teams_bot)
    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    teams_bot.service.deliverer.drain()
    fake_teams.remove_bot(personal_conversation_id(PRIYA))

    with teams_bot.ctx.sessions() as session:
        delivery = session.scalars(select(Delivery)).first()
    assert delivery is not None
    sender = teams_bot.service.teams_sender
    assert sender is not None
    from bot.runtime.sending import SendError
    from handlers.core.reply import say

    try:
        sender.post(personal_conversation_id(PRIYA), say("Hello"), "key")
    except SendError as error:
        refused = error
    else:  # pragma: no cover - the fake must refuse
        raise AssertionError("Teams accepted a post to a chat the app was removed from")

    assert not refused.retryable
    assert "removed" in refused.reason
    with teams_bot.ctx.sessions() as session:
        assert (
            session.scalars(
                select(ChatAddress.dm_channel).where(ChatAddress.user_id == PRIYA.aad_object_id)
            ).one()
            is None
        )


def test_a_lead_whose_app_the_teams_admin_blocked_keeps_their_chat_for_when_it_is_allowed(
    teams_bot, fake_teams
):
    from bot.runtime.sending import SendError
    from bot.teams.sender import BLOCKED_BY_ADMIN
    from handlers.core.reply import say
    from handlers.forum.channel_problems import ChannelProblem

    lead_with_two_projects(teams_bot)
    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    teams_bot.service.deliverer.drain()  # the chat with Priya is open
    fake_teams.fail(SEND_ACTIVITY, 403, code=BLOCKED_BY_ADMIN)
    sender = teams_bot.service.teams_sender
    assert sender is not None

    try:
        sender.post(personal_conversation_id(PRIYA), say("Hello"), "key")
    except SendError as error:
        refused = error
    else:  # pragma: no cover - the fake must refuse
        raise AssertionError("Teams accepted a post while the app was blocked")

    assert not refused.retryable
    assert refused.channel_problem is ChannelProblem.APP_BLOCKED
    assert "Teams admin has blocked the qi-nudge app" in refused.reason
    with teams_bot.ctx.sessions() as session:
        kept = session.scalars(
            select(ChatAddress.dm_channel).where(ChatAddress.user_id == PRIYA.aad_object_id)
        ).one()
    assert kept == personal_conversation_id(PRIYA)


def test_a_lead_who_blocked_the_bot_is_not_sent_the_nudge_nor_made_to_wait_for_it(
    teams_bot, fake_teams, clock
):
    lead_with_two_projects(teams_bot)
    fake_teams.block_bot(PRIYA)
    jobs = Jobs(teams_bot.ctx, NudgePolicy())

    jobs.run_due()
    teams_bot.service.deliverer.drain()
    clock.advance(seconds=3600)  # past any retry's back-off, or a channel's wait
    jobs.run_due()
    teams_bot.service.deliverer.drain()

    assert sent_to(fake_teams) == []
    refused = [c for c in fake_teams.calls_to(SEND_ACTIVITY) if c.status == 403]
    assert len(refused) == 1  # tried once: blocking is the person's choice, not a fault
    with teams_bot.ctx.sessions() as session:
        (nudge,) = session.scalars(select(Delivery).where(Delivery.kind == "nudge"))
        kinds = session.scalars(select(Delivery.kind)).all()
    assert (nudge.status, nudge.attempts) == ("failed", 1)
    assert "ConversationBlockedByUser: the person blocked qi-nudge in Teams" in nudge.error
    assert kinds == ["nudge"]  # no organiser is told to fix a "channel"
    assert sent_to(fake_teams, BEN) == []


def test_429s_without_retry_after_back_off_exponentially_and_reset_after_a_send(
    teams_bot, fake_teams
):
    from bot.runtime.sending import SendError
    from handlers.core.reply import say

    sender = teams_bot.service.teams_sender
    assert sender is not None
    # Priya has written to the bot, so her chat with it exists.
    conversation = fake_teams.activity("personal", "qi-help")["conversation"]["id"]
    fake_teams.fail(SEND_ACTIVITY, 429, times=3)  # Teams documents no Retry-After

    waits = []
    for _ in range(3):
        try:
            sender.post(conversation, say("Hello"), "key")
        except SendError as error:
            waits.append(error.retry_after)
    sender.post(conversation, say("Hello"), "key")  # goes through
    fake_teams.fail(SEND_ACTIVITY, 429)
    try:
        sender.post(conversation, say("Hello"), "key")
    except SendError as error:
        after_success = error.retry_after

    assert len(waits) == 3
    for wait, base in zip(waits, (2.0, 4.0, 8.0), strict=True):
        assert 0.8 * base <= wait <= 1.2 * base
    assert 1.6 <= after_success <= 2.4


def _submit_form(bot, card, answers):
    """Fill the form on `card` (field name -> value) and press its one submit."""
    submit = next(
        e
        for e in walk(card["body"])
        if e.get("type") == "Action.Execute" and e["verb"].startswith("form:")
    )
    inputs = {f"field:{name}": value for name, value in answers.items()}
    return bot.press(submit["verb"], submit["data"], inputs=inputs)


def test_a_lead_records_a_member_from_the_nudge_with_the_teams_form(teams_bot, fake_teams):
    from store.models import Membership
    from store.roles import Role

    lead_with_two_projects(teams_bot)
    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    teams_bot.service.deliverer.drain()
    (nudge,) = sent_to(fake_teams)
    verb, data = button(card_of(nudge), "Add someone already involved")

    opened = teams_bot.press(verb, data, reply_to_id=nudge["id"])
    form = opened.json()["value"]
    recorded = _submit_form(
        teams_bot,
        form,
        {"name": "Sam Jones", "role": "carer", "involvement": "team_member", "consent": "yes"},
    )

    assert "Record a team member" in card_text(form)
    assert "Sam Jones" in card_text(recorded.json()["value"])
    with teams_bot.ctx.sessions() as session:
        sam = session.scalars(select(Person).where(Person.display_name == "Sam Jones")).one()
        member = session.scalars(select(Membership).where(Membership.person_id == sam.id)).one()
    assert member.role == Role.CARER


def test_a_lead_snoozes_the_nudge_with_a_reason_on_teams(teams_bot, fake_teams):
    from store.models import ProjectNudge

    lead_with_two_projects(teams_bot)
    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    teams_bot.service.deliverer.drain()
    (nudge,) = sent_to(fake_teams)
    verb, data = button(card_of(nudge), "Snooze")

    form = teams_bot.press(verb, data, reply_to_id=nudge["id"]).json()["value"]
    weeks = next(e for e in _walk_inputs(form) if e["id"] == "field:weeks")
    reason = next(e for e in _walk_inputs(form) if e["id"] == "field:reason")
    answer = _submit_form(
        teams_bot,
        form,
        {"weeks": weeks["choices"][0]["value"], "reason": reason["choices"][0]["value"]},
    )

    assert answer.json()["statusCode"] == 200
    with teams_bot.ctx.sessions() as session:
        snoozed = session.scalars(select(ProjectNudge.snoozed_until)).all()
    assert any(until is not None for until in snoozed)


def _walk_inputs(card):
    from tests.bot.teams.test_teams_http import inputs_of

    return list(inputs_of(card).values())


def nudge_delivered_twice(bot, fake, clock, *, timeout=None, between=lambda: None):
    """Plan this week's nudge and drain the outbox twice through a real TeamsSender.

    The second drain comes ten minutes later (past a retry's back-off), as a restarted bot
    (a fresh deliverer) would; `between` runs in between. The two drains' outcomes.
    """
    from bot.runtime.delivery import Deliverer, DeliveryPolicy, Pacer
    from bot.teams.app import build_token_provider
    from bot.teams.sender import TeamsSender
    from tests.bot.teams.conftest import teams_settings

    lead_with_two_projects(bot)
    Jobs(bot.ctx, NudgePolicy()).run_due()
    settings = teams_settings(fake, "sqlite://")
    options = {} if timeout is None else {"timeout": timeout}
    sender = TeamsSender.for_settings(
        settings, bot.ctx.sessions, build_token_provider(settings), **options
    )
    no_pacing = DeliveryPolicy(channel_interval=0, workspace_interval=0)
    try:
        first = Deliverer(bot.ctx, sender, no_pacing, pacer=Pacer(no_pacing)).drain()
        between()
        clock.advance(minutes=10)
        second = Deliverer(bot.ctx, sender, no_pacing, pacer=Pacer(no_pacing)).drain()
    finally:
        sender.close()
    return first, second


def test_a_post_teams_took_but_never_answered_is_not_sent_again(teams_bot, fake_teams, clock):
    fake_teams.stall_after(SEND_ACTIVITY, 2.0)  # Teams posts it, then takes 2 s to say so

    # The sender gives up long before Teams answers.
    first, second = nudge_delivered_twice(teams_bot, fake_teams, clock, timeout=0.5)

    assert first["retry"] == 1
    assert second["unconfirmed"] == 1
    assert len(sent_to(fake_teams)) == 1, "the nudge reached the lead once, never twice"
    with teams_bot.ctx.sessions() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.kind == "nudge")).one()
    assert delivery.status == "sent"
    assert delivery.message_ts is None
    assert "unconfirmed" in (delivery.error or "")


@pytest.mark.parametrize("answer", [502, 504, 500, 408], ids=lambda a: f"then-{a}")
def test_a_post_teams_took_but_answered_badly_is_not_sent_again(
    teams_bot, fake_teams, clock, answer
):
    """A gateway error after Teams acted: the post may be there, so it is not posted again."""
    fake_teams.fail_after(SEND_ACTIVITY, answer)  # posted, then told it failed

    _, again = nudge_delivered_twice(teams_bot, fake_teams, clock)

    assert len(sent_to(fake_teams)) == 1, "the nudge reached the lead once, never twice"
    assert again["unconfirmed"] == 1


def test_a_post_teams_refused_outright_is_sent_again(teams_bot, fake_teams, clock):
    """503 and 412: Teams did not take it, so trying again cannot make a duplicate."""
    fake_teams.fail(SEND_ACTIVITY, 503)

    _, again = nudge_delivered_twice(teams_bot, fake_teams, clock)

    assert again["sent"] == 1
    assert len(sent_to(fake_teams)) == 1


def test_remind_now_on_a_teams_deployment_sends_through_teams(
    teams_bot, fake_teams, monkeypatch, tmp_path, capsys
):
    from bot.cli.main import main
    from tests.bot.teams.conftest import teams_env

    lead_with_two_projects(teams_bot)
    url = teams_bot.engine.url.render_as_string(hide_password=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    for name, value in {"DATABASE_URL": url, **teams_env(fake_teams)}.items():
        monkeypatch.setenv(name, value)

    status = main(["remind", "--now"])

    assert status == 0, capsys.readouterr()
    (nudge,) = sent_to(fake_teams)
    assert '"Falls prevention" and "Kinder waiting rooms"' in card_text(card_of(nudge))


def test_when_teams_sign_in_fails_nothing_is_lost_or_marked_sent(teams_bot, fake_teams, clock):
    from tests.fakes.teams_connector import TOKEN

    # A fresh sign-in (nothing cached), refused as when the client secret has expired; once:
    # the next sign-in (the secret renewed) works.
    fake_teams.fail(TOKEN, 401)
    states = []

    def look() -> None:
        with teams_bot.ctx.sessions() as session:
            waiting = session.scalars(select(Delivery).where(Delivery.kind == "nudge")).one()
            states.append((waiting.status, waiting.post_started_at, waiting.error))

    refused, later = nudge_delivered_twice(teams_bot, fake_teams, clock, between=look)

    (state,) = states
    assert refused["retry"] == 1
    assert state[0] == "pending" and state[1] is None
    assert "could not sign in to Teams" in state[2]
    assert later["sent"] == 1
    assert len(sent_to(fake_teams)) == 1


def test_a_refused_member_form_comes_back_with_the_name_typed(teams_bot, fake_teams):
    lead_with_two_projects(teams_bot)
    Jobs(teams_bot.ctx, NudgePolicy()).run_due()
    teams_bot.service.deliverer.drain()
    (nudge,) = sent_to(fake_teams)
    verb, data = button(card_of(nudge), "Add someone already involved")
    form = teams_bot.press(verb, data, reply_to_id=nudge["id"]).json()["value"]

    # A client that skips the card's own checks: consent is not given.
    answer = _submit_form(
        teams_bot, form, {"name": "Sam Jones", "role": "carer", "involvement": "team_member"}
    )

    again = answer.json()["value"]
    inputs = {e["id"]: e for e in _walk_inputs(again)}
    assert "please check they are happy to be part of the team" in card_text(again)
    assert inputs["field:name"]["value"] == "Sam Jones"
    assert inputs["field:role"]["value"] == "carer"
    with teams_bot.ctx.sessions() as session:
        assert session.scalars(select(Person).where(Person.display_name == "Sam Jones")).all() == []
