"""Messages the bot sends on its own, end to end: the service as serve builds it, fake Slack."""

from datetime import timedelta

from sqlalchemy import insert, select

from bot.cli.main import build_parser
from bot.runtime.delivery import DeliveryPolicy, Pacer
from bot.runtime.scheduler import Jobs
from handlers.core.context import Context
from handlers.forum.meetings import add_meeting
from handlers.nudges.weekly import NudgePolicy
from store import outbox
from store.engine import make_sessions
from store.forums import create_forum
from store.models import ChatIdentity, Delivery, Person, ProjectNudge
from store.people import grant_admin
from store.projects import create_project
from store.roles import ProjectStatus
from tests.bot.message_limits import check_slack_message, check_slack_view, slack_buttons
from tests.bot.runtime.test_delivery import FakeMonotonic
from tests.bot.slack.test_slack_http import command, visible_text
from tests.fakes import block_actions_body, event_body
from tests.handlers import given

LEAD, CARER, ORGANISER = "ULEAD", "UCARER", "UORG"
ASK = "Ask the forum to find a partner"
WEEK_BEFORE = "2026-W47"  # the clock starts on Monday of 2026-W48


def slack_person(session, user_id, name, now):
    person = Person(display_name=name, created_at=now)
    person.identities.append(ChatIdentity(platform="slack", workspace="T0001", user_id=user_id))
    session.add(person)
    session.flush()
    return person


def test_weekly_nudge_reaches_the_lead_once_and_its_buttons_work(slack_bot, fake_slack, clock):
    ctx = slack_bot.service.transport.bot.ctx
    sessions = make_sessions(slack_bot.engine)
    with sessions.begin() as session:
        lead = slack_person(session, LEAD, "Asha Patel", ctx.now())
        organiser = slack_person(session, ORGANISER, "Olu Admin", ctx.now())
        grant_admin(session, organiser.id, by_id=None, now=ctx.now())
        create_forum(session, name="QI Forum", channel="slack:CFORUM", now=ctx.now())
        for name in ("Falls prevention", "Kinder waiting rooms"):
            create_project(
                session,
                name=name,
                site=None,
                status=ProjectStatus.ACTIVE,
                lead_id=lead.id,
                now=ctx.now(),
            )
    fake_slack.add_user(LEAD, "Asha Patel")
    jobs = Jobs(ctx, NudgePolicy())

    jobs.run_due()  # Monday 10:00: this week's reminder is due
    jobs.run_due()  # a second tick (or a second replica) the same week
    slack_bot.service.deliverer.drain()
    slack_bot.service.deliverer.drain()

    dms = fake_slack.messages(LEAD)
    assert len(dms) == 1, "one message for both projects, sent once"
    text = visible_text(dms[0]["blocks"])
    assert '"Falls prevention" and "Kinder waiting rooms"' in text
    assert dms[0]["metadata"]["event_type"] == "qi_nudge_delivery"
    assert fake_slack.messages(ORGANISER) == []
    assert len(fake_slack.calls_to("conversations.open")) == 1

    ask = next(
        e
        for b in dms[0]["blocks"]
        for e in b.get("elements", [])
        if e.get("text", {}).get("text") == "Ask the forum to find a partner"
    )
    pressed = slack_bot.post(
        block_actions_body(
            ask["action_id"],
            ask["value"],
            user_id=LEAD,
            channel_id="DULEAD",
            response_url=fake_slack.response_url(),
        )
    )
    slack_bot.settle()
    slack_bot.service.deliverer.drain()

    assert pressed.status_code == 200
    (post,) = fake_slack.messages("CFORUM")
    assert "would like a service user or carer to join" in visible_text(post["blocks"])
    assert "Join as carer" in visible_text(post["blocks"])
    (note,) = fake_slack.messages(ORGANISER)
    assert "asked the forum to help" in note["text"]


def test_announcement_counts_update_in_place_and_a_cancellation_is_told(
    slack_bot, fake_slack, clock
):
    ctx = slack_bot.service.transport.bot.ctx
    sessions = make_sessions(slack_bot.engine)
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=ctx.now())
        meeting = add_meeting(
            session,
            Context(sessions=sessions, clock=clock),
            forum,
            ctx.now() + timedelta(days=6, hours=4),
            "Room 4",
            None,
        )
        meeting_id = meeting.id
    fake_slack.add_user(CARER, "Ben Okafor")
    jobs = Jobs(ctx, NudgePolicy())

    jobs.run_due()
    jobs.run_due()
    slack_bot.service.deliverer.drain()

    (post,) = fake_slack.messages("CFORUM")
    assert "Coming up: QI Forum" in visible_text(post["blocks"])
    assert "Nobody has said yet." in visible_text(post["blocks"])
    going = next(
        e
        for b in post["blocks"]
        for e in b.get("elements", [])
        if e.get("text", {}).get("text") == "I'm going"
    )
    slack_bot.post(
        block_actions_body(
            going["action_id"],
            going["value"],
            user_id=CARER,
            channel_id="CFORUM",
            response_url=fake_slack.response_url(),
        )
    )
    slack_bot.settle()

    (edited,) = fake_slack.messages("CFORUM")
    assert "Going so far: 1" in visible_text(edited["blocks"])
    assert fake_slack.calls_to("chat.update")[-1].args["ts"] == post["ts"]

    clock.advance(days=5, hours=5)  # the day before: the reminder post and the goer's DM
    jobs.run_due()
    slack_bot.service.deliverer.drain()
    posts = fake_slack.messages("CFORUM")
    assert [p["text"].splitlines()[0] for p in posts] == [
        "Coming up: QI Forum",
        "Tomorrow: QI Forum",
    ]
    assert "A reminder" in fake_slack.messages(CARER)[0]["text"]

    from handlers.forum.changes import cancel_meeting

    change = cancel_meeting(ctx, meeting_id, actor_id=None)
    slack_bot.service.deliverer.refresh(change.refresh)
    slack_bot.service.deliverer.drain()

    assert change.told == 1
    assert all("cancelled" in p["text"] for p in fake_slack.messages("CFORUM"))
    assert "has been cancelled" in fake_slack.messages(CARER)[-1]["text"]
    with sessions() as session:
        statuses = session.scalars(select(Delivery.status).where(Delivery.kind == "announce"))
        assert set(statuses) == {outbox.SENT}


def paced_on(monotonic: FakeMonotonic) -> Pacer:
    """The service's pacer on a test clock: waits for Retry-After cost the test no time."""
    policy = DeliveryPolicy(channel_interval=0, workspace_interval=0)
    return Pacer(policy, clock=monotonic, sleep=monotonic.sleep)


def test_a_rate_limited_nudge_waits_shows_as_pending_and_is_sent_once(
    slack_bot, fake_slack, clock, capsys
):
    ctx = slack_bot.service.transport.bot.ctx
    sessions = make_sessions(slack_bot.engine)
    with sessions.begin() as session:
        lead = slack_person(session, LEAD, "Asha Patel", ctx.now())
        create_project(
            session,
            name="Falls prevention",
            site=None,
            status=ProjectStatus.ACTIVE,
            lead_id=lead.id,
            now=ctx.now(),
        )
    fake_slack.add_user(LEAD, "Asha Patel")
    monotonic = FakeMonotonic()
    deliverer = slack_bot.service.deliverer
    deliverer.pacer = paced_on(monotonic)
    fake_slack.fail("chat.postMessage", 429, retry_after=2, times=3)

    Jobs(ctx, NudgePolicy()).run_due()
    deliverer.drain()
    args = build_parser().parse_args(["deliveries"])
    capsys.readouterr()
    args.handler(ctx, args)
    listed = capsys.readouterr().out
    assert "to Asha Patel: pending" in listed and "Slack said ratelimited" in listed
    for _ in range(10):
        if fake_slack.messages(LEAD):
            break
        clock.advance(seconds=2)
        monotonic.now += 2
        deliverer.drain()

    assert len(fake_slack.messages(LEAD)) == 1
    assert len(fake_slack.calls_to("chat.postMessage")) == 4
    with sessions() as session:
        (nudge,) = session.scalars(select(Delivery).where(Delivery.kind == "nudge"))
        assert (nudge.status, nudge.attempts, nudge.error) == (outbox.SENT, 1, None)


def test_an_rsvp_count_edit_waits_out_429s_and_still_lands(slack_bot, fake_slack, clock):
    ctx = slack_bot.service.transport.bot.ctx
    sessions = make_sessions(slack_bot.engine)
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=ctx.now())
        add_meeting(
            session,
            Context(sessions=sessions, clock=clock),
            forum,
            ctx.now() + timedelta(days=6, hours=4),
            "Room 4",
            None,
        )
    fake_slack.add_user(CARER, "Ben Okafor")
    monotonic = FakeMonotonic()
    slack_bot.service.deliverer.pacer = paced_on(monotonic)
    Jobs(ctx, NudgePolicy()).run_due()
    slack_bot.service.deliverer.drain()
    (post,) = fake_slack.messages("CFORUM")
    going = next(
        e
        for b in post["blocks"]
        for e in b.get("elements", [])
        if e.get("text", {}).get("text") == "I'm going"
    )
    fake_slack.fail("chat.update", 429, retry_after=2, times=2)

    slack_bot.post(
        block_actions_body(
            going["action_id"],
            going["value"],
            user_id=CARER,
            channel_id="CFORUM",
            response_url=fake_slack.response_url(),
        )
    )
    slack_bot.settle()

    (edited,) = fake_slack.messages("CFORUM")
    assert "Going so far: 1" in visible_text(edited["blocks"])
    assert len(fake_slack.calls_to("chat.update")) == 3
    assert sum(monotonic.slept) >= 2 * 2  # each 429's Retry-After was waited out


def test_a_lead_with_300_projects_gets_one_reminder_that_fits_and_lets_them_act(
    slack_bot, fake_slack, clock
):
    ctx = slack_bot.service.transport.bot.ctx
    sessions = make_sessions(slack_bot.engine)
    with sessions.begin() as session:
        lead_id = slack_person(session, LEAD, "Asha Patel", ctx.now()).id
    names = [f"Project {n:03d}: " + "a long name for a QI project " * 6 for n in range(300)]
    projects = given.many_projects(sessions, names, ctx.now(), lead_id=lead_id)
    # The last ten by name have waited longest: reminded the two weeks before this one.
    waited_longest = projects[-10:]
    with sessions.begin() as session:
        session.execute(
            insert(ProjectNudge),
            [
                {"project_id": p, "weeks_in_a_row": 2, "last_week": "2026-W47"}
                for p in waited_longest
            ],
        )
    fake_slack.add_user(LEAD, "Asha Patel")

    Jobs(ctx, NudgePolicy()).run_due()
    slack_bot.service.deliverer.drain()

    (dm,) = fake_slack.messages(LEAD)
    check_slack_message(dm["text"], dm["blocks"])
    asks = [b for b in slack_buttons(dm["blocks"]) if b["text"]["text"] == ASK]
    assert [b["value"] for b in asks] == [str(p) for p in waited_longest]
    text = visible_text(dm["blocks"])
    assert "300 of your project teams have no service user or carer on them yet" in text
    assert "…and 290 more of your projects also have no service user or carer" in text
    assert "Type /qi-projects mine to see them all." in text
    assert "Turn reminders off" in text

    # The next ten of them, each with its buttons, answered to the lead alone.
    (more,) = [b for b in slack_buttons(dm["blocks"]) if b["text"]["text"].startswith("Show the")]
    assert more["text"]["text"] == "Show the next 10 projects"
    slack_bot.post(
        block_actions_body(
            more["action_id"],
            more["value"],
            user_id=LEAD,
            channel_id="DULEAD",
            response_url=fake_slack.response_url(),
        )
    )
    slack_bot.settle()
    ((_key, answer),) = fake_slack.responses
    assert answer["response_type"] == "ephemeral"
    check_slack_message(answer["text"], answer["blocks"])
    asks = [b for b in slack_buttons(answer["blocks"]) if b["text"]["text"] == ASK]
    assert [b["value"] for b in asks] == [str(p) for p in projects[:10]]
    assert "…and 280 more of your projects" in visible_text(answer["blocks"])

    # Where it says to look, every one of them can be seen, a page at a time.
    listing = command(slack_bot, fake_slack, LEAD, "/qi-projects", "mine").json()
    check_slack_message(listing["text"], listing["blocks"])
    assert "Your active projects (1 to " in visible_text(listing["blocks"])
    assert "Show more projects" in visible_text(listing["blocks"])
    slack_bot.post(
        event_body({"type": "app_home_opened", "user": LEAD, "tab": "home"}), json_body=True
    )
    slack_bot.settle()
    home = fake_slack.home(LEAD)
    check_slack_view(fake_slack.calls_to("views.publish")[-1].json_arg("view"))
    assert "…and 280 more projects. Type /qi-projects mine" in visible_text(home["blocks"])


def test_a_meeting_back_on_edits_its_posts_back_and_the_goer_hears_on_slack(
    slack_bot, fake_slack, clock
):
    from handlers.forum.changes import cancel_meeting, uncancel_meeting

    ctx = slack_bot.service.transport.bot.ctx
    sessions = make_sessions(slack_bot.engine)
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel="slack:CFORUM", now=ctx.now())
        meeting_id = add_meeting(
            session,
            Context(sessions=sessions, clock=clock),
            forum,
            ctx.now() + timedelta(days=3),
            "Room 4",
            None,
        ).id
    fake_slack.add_user(CARER, "Ben Okafor")
    jobs = Jobs(ctx, NudgePolicy())
    jobs.run_due()
    slack_bot.service.deliverer.drain()
    (post,) = fake_slack.messages("CFORUM")
    going = next(
        e
        for b in post["blocks"]
        for e in b.get("elements", [])
        if e.get("text", {}).get("text") == "I'm going"
    )
    slack_bot.post(
        block_actions_body(
            going["action_id"],
            going["value"],
            user_id=CARER,
            channel_id="CFORUM",
            response_url=fake_slack.response_url(),
        )
    )
    slack_bot.settle()
    for change in (cancel_meeting, uncancel_meeting):
        done = change(ctx, meeting_id, actor_id=None)
        slack_bot.service.deliverer.refresh(done.refresh)
        slack_bot.service.deliverer.drain()

    (edited,) = fake_slack.messages("CFORUM")
    assert visible_text(edited["blocks"]).startswith("Coming up: QI Forum")
    assert "Going so far: 1" in visible_text(edited["blocks"])
    cancelled, back_on = (m["text"] for m in fake_slack.messages(CARER))
    assert "has been cancelled" in cancelled
    assert back_on.startswith("Good news: the QI Forum meeting on ")


def test_joins_within_an_hour_reach_the_lead_as_one_message_sent_once(slack_bot, fake_slack, clock):
    from tests.bot.slack.test_slack_http import start_project

    start_project(slack_bot, fake_slack)  # Asha leads "Falls prevention"
    for user, name, role in [
        ("UBEN", "Ben Okafor", "carer"),
        ("UCHLOE", "Chloe Evans", "staff"),
        ("UDAN", "Dan Smith", "service user"),
    ]:
        fake_slack.add_user(user, name)
        command(slack_bot, fake_slack, user, "/qi-join", f"falls as {role}")
        clock.advance(minutes=15)
    slack_bot.settle()
    assert fake_slack.calls_to("chat.postMessage") == []  # the hour is not over yet

    clock.advance(minutes=20)  # 11:05
    slack_bot.settle()
    slack_bot.settle()

    (news,) = fake_slack.messages(LEAD)
    check_slack_message(news["text"], news["blocks"])
    assert visible_text(news["blocks"]) == (
        '3 people joined your project "Falls prevention":\n'
        "• Ben Okafor as a carer\n"
        "• Chloe Evans as staff\n"
        "• Dan Smith as a service user\n"
        "That means a service user or carer is on the team. Do say hello!"
    )
