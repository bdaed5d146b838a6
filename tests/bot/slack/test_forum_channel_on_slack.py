"""A forum channel the bot is not in, on Slack: it joins if it can, else organisers are told once.

The service is built as serve builds it; the fake Slack refuses channels the bot is not in, as
Slack does. Announcements are planned by the scheduler's job and drained by the service's own
deliverer; time moves on the test clock.
"""

from datetime import timedelta

from sqlalchemy import select

from bot.runtime.scheduler import Jobs
from bot.runtime.serve import join_forum_channels_soon
from handlers.core import ids
from handlers.core.context import Context
from handlers.forum.announcements import ANNOUNCE
from handlers.forum.channel_problems import RETRY_EVERY
from handlers.forum.meetings import add_meeting
from handlers.nudges.buttons import PARTNER_REQUEST
from handlers.nudges.weekly import NudgePolicy
from store import outbox
from store.engine import make_sessions
from store.forums import create_forum
from store.memberships import add_membership
from store.models import Delivery, Forum, Project
from store.people import grant_admin
from store.projects import create_project
from store.roles import Involvement, ProjectStatus, Role
from tests.bot.slack.conftest import BOT_TOKEN
from tests.bot.slack.test_scheduled_messages import slack_person
from tests.bot.slack.test_slack_http import visible_text
from tests.fakes import block_actions_body

ORGANISER, SECOND_ORGANISER, LEAD = "UORG", "UORG2", "ULEAD"
PRIVATE, PUBLIC = "G0CARERS", "C0QIFORUM"


def forum_with_a_meeting(slack_bot, clock, channel: str, *, in_days: float = 6) -> Context:
    """The "QI Forum" announcing in `channel`, a meeting ahead, and two organisers on Slack."""
    ctx = slack_bot.service.transport.bot.ctx
    sessions = make_sessions(slack_bot.engine)
    with sessions.begin() as session:
        for user_id, name in ((ORGANISER, "Olu Admin"), (SECOND_ORGANISER, "Mo Admin")):
            organiser = slack_person(session, user_id, name, ctx.now())
            grant_admin(session, organiser.id, by_id=None, now=ctx.now())
        forum = create_forum(session, name="QI Forum", channel=f"slack:{channel}", now=ctx.now())
        add_meeting(
            session,
            Context(sessions=sessions, clock=clock),
            forum,
            ctx.now() + timedelta(days=in_days, hours=4),
            "Room 4",
            None,
        )
    return ctx


def a_pass(slack_bot, clock, jobs: Jobs) -> None:
    """The scheduler's next tick and the sender's next pass, one retry interval later."""
    clock.advance(seconds=RETRY_EVERY.total_seconds())
    jobs.run_due()
    slack_bot.service.deliverer.drain()


def announcements(slack_bot, kind: str = ANNOUNCE) -> list[Delivery]:
    with make_sessions(slack_bot.engine)() as session:
        return list(
            session.scalars(select(Delivery).where(Delivery.kind == kind).order_by(Delivery.id))
        )


def a_project_asking_in(slack_bot, channel: str) -> int:
    """A lead's project with no service user or carer; the forum announces in `channel`."""
    ctx = slack_bot.service.transport.bot.ctx
    with ctx.sessions.begin() as session:
        organiser = slack_person(session, ORGANISER, "Olu Admin", ctx.now())
        grant_admin(session, organiser.id, by_id=None, now=ctx.now())
        lead = slack_person(session, LEAD, "Asha Patel", ctx.now())
        create_forum(session, name="QI Forum", channel=f"slack:{channel}", now=ctx.now())
        project = create_project(
            session,
            name="Falls prevention",
            site=None,
            status=ProjectStatus.ACTIVE,
            lead_id=lead.id,
            now=ctx.now(),
        )
        return project.id


def lead_asks_the_forum(slack_bot, fake_slack, project_id: int) -> None:
    """The lead presses "Ask the forum to find a partner" in their weekly reminder."""
    fake_slack.add_user(LEAD, "Asha Patel")
    pressed = slack_bot.post(
        block_actions_body(
            ids.ASK_FORUM,
            str(project_id),
            user_id=LEAD,
            channel_id="DULEAD",
            response_url=fake_slack.response_url(),
        )
    )
    assert pressed.status_code == 200
    slack_bot.settle()
    slack_bot.service.deliverer.drain()


def test_a_private_channel_waits_for_an_invite_then_gets_the_announcement_once(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    ctx = forum_with_a_meeting(slack_bot, clock, PRIVATE)
    jobs = Jobs(ctx, NudgePolicy())

    jobs.run_due()
    slack_bot.service.deliverer.drain()
    for _ in range(3):  # three more tries while nobody has acted
        a_pass(slack_bot, clock, jobs)

    assert fake_slack.messages(PRIVATE) == []
    for organiser in (ORGANISER, SECOND_ORGANISER):
        (told,) = fake_slack.messages(organiser)  # once each, however many tries
        text = visible_text(told["blocks"])
        assert "QI Forum" in text and PRIVATE in text
        assert "/invite @qi-nudge" in text
        assert "nothing else is needed" in text
    (waiting,) = announcements(slack_bot)
    assert waiting.status == outbox.PENDING
    assert waiting.attempts == 0, "waiting for a person uses up no attempt"
    assert "organisers were told" in (waiting.error or "")
    assert fake_slack.calls_to("conversations.join") == []  # a private channel is never joined

    fake_slack.invite_bot(PRIVATE)  # an organiser types /invite @qi-nudge in the channel
    a_pass(slack_bot, clock, jobs)
    a_pass(slack_bot, clock, jobs)

    (post,) = fake_slack.messages(PRIVATE)
    assert "Coming up: QI Forum" in visible_text(post["blocks"])
    assert [len(fake_slack.messages(o)) for o in (ORGANISER, SECOND_ORGANISER)] == [1, 1]
    assert [a.status for a in announcements(slack_bot)] == [outbox.SENT]


def test_a_public_channel_is_joined_by_the_bot_and_nobody_needs_telling(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PUBLIC, "qi-forum")
    ctx = forum_with_a_meeting(slack_bot, clock, PUBLIC)

    Jobs(ctx, NudgePolicy()).run_due()
    slack_bot.service.deliverer.drain()

    assert fake_slack.bot_is_member(PUBLIC)
    assert [c.args["channel"] for c in fake_slack.calls_to("conversations.join")] == [PUBLIC]
    (post,) = fake_slack.messages(PUBLIC)
    assert "Coming up: QI Forum" in visible_text(post["blocks"])
    assert fake_slack.messages(ORGANISER) == []


def test_a_public_channel_the_bot_may_not_join_is_told_with_the_invite_and_then_sent(
    slack_bot, fake_slack, clock
):
    # An app installed before channels:join was added to the manifest may not join by itself.
    fake_slack.add_token(
        BOT_TOKEN, scopes=[s for s in fake_slack.bot_scopes if s != "channels:join"]
    )
    fake_slack.add_channel(PUBLIC, "qi-forum")
    ctx = forum_with_a_meeting(slack_bot, clock, PUBLIC)
    jobs = Jobs(ctx, NudgePolicy())

    jobs.run_due()
    slack_bot.service.deliverer.drain()
    a_pass(slack_bot, clock, jobs)

    (told,) = fake_slack.messages(ORGANISER)
    assert "I'm not in it" in visible_text(told["blocks"])
    assert "/invite @qi-nudge" in visible_text(told["blocks"])
    (waiting,) = announcements(slack_bot)
    assert (
        "could not join it: Slack said missing_scope (the app needs the scope channels:join: "
        "reinstall it)" in (waiting.error or "")
    )
    joins = fake_slack.calls_to("conversations.join")
    assert joins and {c.token for c in joins} == {BOT_TOKEN}  # asked, and refused by Slack

    fake_slack.invite_bot(PUBLIC)
    a_pass(slack_bot, clock, jobs)

    assert len(fake_slack.messages(PUBLIC)) == 1
    assert len(fake_slack.messages(ORGANISER)) == 1


def test_a_bot_removed_after_posting_is_told_again_and_the_next_post_waits_for_it(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True, bot_member=True)
    ctx = forum_with_a_meeting(slack_bot, clock, PRIVATE)
    jobs = Jobs(ctx, NudgePolicy())
    jobs.run_due()
    slack_bot.service.deliverer.drain()
    assert len(fake_slack.messages(PRIVATE)) == 1  # the week-before post went out

    fake_slack.remove_bot(PRIVATE)
    clock.advance(days=5, hours=4)  # the day before
    jobs.run_due()
    slack_bot.service.deliverer.drain()
    a_pass(slack_bot, clock, jobs)

    assert len(fake_slack.messages(ORGANISER)) == 1
    fake_slack.invite_bot(PRIVATE)
    a_pass(slack_bot, clock, jobs)

    assert [p["text"].splitlines()[0] for p in fake_slack.messages(PRIVATE)] == [
        "Coming up: QI Forum",
        "Tomorrow: QI Forum",
    ]
    # Removed once more after that: a new problem, so the organisers hear again, once.
    fake_slack.remove_bot(PRIVATE)
    clock.advance(hours=23, minutes=32)  # just after the meeting starts
    jobs.run_due()
    slack_bot.service.deliverer.drain()
    a_pass(slack_bot, clock, jobs)
    assert len(fake_slack.messages(ORGANISER)) == 2


def test_an_archived_channel_is_told_and_the_waiting_post_is_dropped_once_the_meeting_is_over(
    slack_bot, fake_slack, clock, capsys
):
    fake_slack.add_channel(PUBLIC, "qi-forum", bot_member=True, archived=True)
    ctx = forum_with_a_meeting(slack_bot, clock, PUBLIC, in_days=0.5)  # later today
    jobs = Jobs(ctx, NudgePolicy())

    jobs.run_due()
    slack_bot.service.deliverer.drain()
    (told,) = fake_slack.messages(ORGANISER)
    clock.advance(hours=17)  # the meeting was at 14:00 and is long over
    outcomes = slack_bot.service.deliverer.drain()

    assert "archived" in visible_text(told["blocks"])
    assert "unarchive" in visible_text(told["blocks"])
    assert outcomes["withdrawn"] == 1
    assert all(a.status == outbox.WITHDRAWN for a in announcements(slack_bot))
    assert fake_slack.messages(PUBLIC) == []


def test_an_older_announcement_still_waiting_gives_way_to_the_latest(slack_bot, fake_slack, clock):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    ctx = forum_with_a_meeting(slack_bot, clock, PRIVATE)
    jobs = Jobs(ctx, NudgePolicy())
    jobs.run_due()
    slack_bot.service.deliverer.drain()

    clock.advance(days=5, hours=4)  # the day before: still not invited
    jobs.run_due()
    fake_slack.invite_bot(PRIVATE)
    a_pass(slack_bot, clock, jobs)

    (post,) = fake_slack.messages(PRIVATE)
    assert post["text"].splitlines()[0] == "Tomorrow: QI Forum"
    assert sorted(a.status for a in announcements(slack_bot)) == [outbox.SENT, outbox.WITHDRAWN]


def test_at_start_serve_joins_public_forum_channels_and_logs_how_to_invite_to_private_ones(
    slack_bot, fake_slack, clock, caplog
):
    fake_slack.add_channel(PUBLIC, "qi-forum")
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    ctx = slack_bot.service.transport.bot.ctx
    with ctx.sessions.begin() as session:
        create_forum(session, name="QI Forum", channel=f"slack:{PUBLIC}", now=ctx.now())
        create_forum(session, name="Carers Forum", channel=f"slack:{PRIVATE}", now=ctx.now())
        create_forum(session, name="Teams Forum", channel="teams:19:x@thread.tacv2", now=ctx.now())

    joining = join_forum_channels_soon(slack_bot.service, ctx)
    assert joining is not None
    joining.join(10)

    assert fake_slack.bot_is_member(PUBLIC)
    assert not fake_slack.bot_is_member(PRIVATE)
    assert [c.args["channel"] for c in fake_slack.calls_to("conversations.join")] == [PUBLIC]
    assert "Carers Forum" in caplog.text and "/invite @qi-nudge" in caplog.text


# --- what waits must still be wanted, and go where the forum is now ------------------------------


def test_a_lead_asking_two_weeks_running_while_the_bot_is_kept_out_gets_one_request_posted(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    project_id = a_project_asking_in(slack_bot, PRIVATE)

    lead_asks_the_forum(slack_bot, fake_slack, project_id)
    clock.advance(days=7)  # nobody has invited the bot; the lead asks again next week
    lead_asks_the_forum(slack_bot, fake_slack, project_id)
    fake_slack.invite_bot(PRIVATE)
    clock.advance(seconds=RETRY_EVERY.total_seconds())
    slack_bot.service.deliverer.drain()

    (post,) = fake_slack.messages(PRIVATE)
    assert '"Falls prevention" team would like a service user or carer' in visible_text(
        post["blocks"]
    )
    assert sorted(r.status for r in announcements(slack_bot, PARTNER_REQUEST)) == [
        outbox.SENT,
        outbox.WITHDRAWN,
    ]


def test_a_partner_request_still_waiting_is_dropped_once_a_carer_joins_the_team(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    project_id = a_project_asking_in(slack_bot, PRIVATE)
    lead_asks_the_forum(slack_bot, fake_slack, project_id)
    ctx = slack_bot.service.transport.bot.ctx
    with ctx.sessions.begin() as session:  # the lead finds a carer another way, and adds them
        carer = slack_person(session, "UCARER", "Ben Okafor", ctx.now())
        add_membership(
            session,
            project_id=project_id,
            person_id=carer.id,
            role=Role.CARER,
            involvement=Involvement.TEAM_MEMBER,
            consent_by_id=carer.id,
            now=ctx.now(),
        )

    fake_slack.invite_bot(PRIVATE)
    clock.advance(seconds=RETRY_EVERY.total_seconds())
    outcomes = slack_bot.service.deliverer.drain()

    assert fake_slack.messages(PRIVATE) == []
    assert outcomes["withdrawn"] == 1
    assert [r.status for r in announcements(slack_bot, PARTNER_REQUEST)] == [outbox.WITHDRAWN]


def test_a_partner_request_still_waiting_is_dropped_once_the_project_closes(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    project_id = a_project_asking_in(slack_bot, PRIVATE)
    lead_asks_the_forum(slack_bot, fake_slack, project_id)
    ctx = slack_bot.service.transport.bot.ctx
    with ctx.sessions.begin() as session:
        session.get(Project, project_id).status = ProjectStatus.COMPLETED

    fake_slack.invite_bot(PRIVATE)
    clock.advance(seconds=RETRY_EVERY.total_seconds())
    slack_bot.service.deliverer.drain()

    assert fake_slack.messages(PRIVATE) == []
    assert [r.status for r in announcements(slack_bot, PARTNER_REQUEST)] == [outbox.WITHDRAWN]


def test_a_forum_moved_to_another_channel_never_posts_the_waiting_announcement_in_the_old_one(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    fake_slack.add_channel(PUBLIC, "qi-forum", bot_member=True)
    ctx = forum_with_a_meeting(slack_bot, clock, PRIVATE)
    jobs = Jobs(ctx, NudgePolicy())
    jobs.run_due()
    slack_bot.service.deliverer.drain()

    # The organiser follows the DM's advice and chooses another channel (however it is changed).
    with ctx.sessions.begin() as session:
        session.scalar(select(Forum)).channel = f"slack:{PUBLIC}"
    a_pass(slack_bot, clock, jobs)
    fake_slack.invite_bot(PRIVATE)  # days later someone invites the bot to the old channel
    clock.advance(days=2)
    a_pass(slack_bot, clock, jobs)

    assert fake_slack.messages(PRIVATE) == []
    (post,) = fake_slack.messages(PUBLIC)
    assert "QI Forum" in visible_text(post["blocks"])
    old, new = announcements(slack_bot)
    assert (old.recipient, old.status) == (f"channel:slack:{PRIVATE}", outbox.WITHDRAWN)
    assert (new.recipient, new.status) == (f"channel:slack:{PUBLIC}", outbox.SENT)


def test_an_announcement_planned_three_weeks_ahead_still_goes_when_the_bot_is_let_in_on_day_15(
    slack_bot, fake_slack, clock
):
    fake_slack.add_channel(PRIVATE, "carers-forum", private=True)
    ctx = forum_with_a_meeting(slack_bot, clock, PRIVATE, in_days=21)
    with ctx.sessions.begin() as session:
        session.scalar(select(Forum)).announce_offsets = [21 * 24 * 60 + 4 * 60]  # --announce 21d
    jobs = Jobs(ctx, NudgePolicy())
    jobs.run_due()
    slack_bot.service.deliverer.drain()
    for _ in range(15):  # two weeks and a day, nobody acting
        clock.advance(days=1)
        jobs.run_due()
        slack_bot.service.deliverer.drain()

    fake_slack.invite_bot(PRIVATE)  # the DM said: invite the bot, "nothing else is needed"
    a_pass(slack_bot, clock, jobs)

    (post,) = fake_slack.messages(PRIVATE)
    assert "QI Forum" in visible_text(post["blocks"])
    assert [a.status for a in announcements(slack_bot)] == [outbox.SENT]


def test_a_public_channel_found_archived_when_joining_tells_the_organisers_to_unarchive_it(
    slack_bot, fake_slack, clock
):
    # Slack answers the post with not_in_channel, then the join with is_archived.
    fake_slack.add_channel(PUBLIC, "qi-forum")
    fake_slack.fail("conversations.join", 200, error="is_archived", times=10)
    ctx = forum_with_a_meeting(slack_bot, clock, PUBLIC)

    Jobs(ctx, NudgePolicy()).run_due()
    slack_bot.service.deliverer.drain()

    (told,) = fake_slack.messages(ORGANISER)
    text = visible_text(told["blocks"])
    assert "the channel was archived" in text and "unarchive it" in text
    assert "/invite" not in text
    (waiting,) = announcements(slack_bot)
    assert waiting.status == outbox.PENDING
    assert "could not join it: Slack said is_archived" in (waiting.error or "")
