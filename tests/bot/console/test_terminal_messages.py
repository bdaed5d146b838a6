"""What the bot sends on its own, in the console: shown to its reader, pressable by number."""

import io
import re

from sqlalchemy import select

from bot.console.terminal import Console, console_actor
from handlers import dispatch
from handlers.core import ids
from handlers.core.reply import Button, Reply, Section
from handlers.demo import seed_example_trust
from handlers.dispatch import Dispatcher
from handlers.forum.command import handle_forum_command
from handlers.nudges.buttons import PARTNER_REQUEST_ADMIN
from handlers.nudges.weekly import NUDGE
from store import outbox
from store.models import ChatIdentity, Delivery, Membership, Person, Project, ProjectNudge
from store.projects import create_project
from store.roles import ProjectStatus

REMINDER = "Who with lived experience is on your team?"


def run_console(ctx, lines, name):
    out = io.StringIO()
    typed = io.StringIO("\n".join(lines) + "\n")
    console = Console(Dispatcher(ctx), console_actor(name), typed, out, echo=True)
    assert console.run() == 0
    return out.getvalue()


def after(transcript, typed):
    """What the console printed after the line `typed` (the last time), up to the next prompt."""
    _before, found, rest = transcript.rpartition(f"> {typed}\n")
    assert found, f"{typed!r} was not typed"
    prompt = re.search(r"^[^\n>]*\w> ", rest, re.MULTILINE)  # 'Mo Ahmed> ', not a form's '> '
    return rest[: prompt.start()] if prompt else rest


def deliveries(ctx, kind):
    with ctx.sessions() as session:
        return session.scalars(select(Delivery).where(Delivery.kind == kind)).all()


def test_a_lead_runs_the_reminder_sees_it_and_asks_the_forum_by_number(ctx):
    # Tom leads one project without a service user or carer: his buttons are [1] Ask the
    # forum to find a partner, [2] Add someone already involved, [3] Snooze.
    seed_example_trust(ctx)

    transcript = run_console(ctx, [":remind", "1", ":as Asha Patel"], name="Tom Hughes")

    reminded = after(transcript, ":remind")
    assert '"Pressure ulcer prevention" (lead: Tom Hughes): its lead is reminded' in reminded
    assert "--- A message for you from qi-nudge ---" in reminded
    assert "Hello Tom." in reminded and REMINDER in reminded
    assert "[1] Ask the forum to find a partner" in reminded
    # Other leads' reminders wait for them, and the console says so once.
    assert "Hello Grace." not in reminded
    assert "New messages for Asha Patel, Grace Lee, Mo Ahmed and Ben Okafor" in reminded
    pressed = after(transcript, "1")
    assert "I've asked the forum organisers to help find a service user or carer" in pressed
    assert "New message for Asha Patel: type :as Asha Patel to see it." in pressed
    # The organiser sees her own reminder and Tom's request when she acts as herself.
    as_asha = after(transcript, ":as Asha Patel")
    assert "Hello Asha." in as_asha
    assert 'Tom Hughes asked the forum to help find a service user or carer for "Pressure' in (
        as_asha
    )
    (request,) = deliveries(ctx, PARTNER_REQUEST_ADMIN)
    assert request.status == outbox.SENT
    assert {d.status for d in deliveries(ctx, NUDGE)} == {outbox.SENT}


def test_a_lead_snoozes_the_reminder_by_number(ctx):
    seed_example_trust(ctx)

    # [3] Snooze; then 4 weeks (choice 2) because they are still planning (choice 1).
    transcript = run_console(ctx, [":remind", "3", "2", "1"], name="Tom Hughes")

    assert 'Snooze reminders about "Pressure ulcer prevention"' in transcript
    assert 'Done: no reminders about "Pressure ulcer prevention" for 4 weeks.' in transcript
    with ctx.sessions() as session:
        snoozed = session.scalar(
            select(ProjectNudge.snoozed_until)
            .join(Project, Project.id == ProjectNudge.project_id)
            .where(Project.name == "Pressure ulcer prevention")
        )
    assert snoozed is not None and snoozed > ctx.now()


def test_an_introduction_goes_from_the_lead_to_the_forum_member_and_back(ctx):
    seed_example_trust(ctx)

    # Asha's reminder offers Priya (who asked the forum to be matched): [1] Yes, ask them.
    transcript = run_console(
        ctx, [":remind", "1", ":as Priya Shah", "1", ":as Asha Patel"], name="Asha Patel"
    )

    assert 'Shall I ask them about "Quicker discharge letters"?' in after(transcript, ":remind")
    offer = after(transcript, ":as Priya Shah")
    assert "A project team would like you to join them" in offer
    assert "[1] Yes, I'd like to join" in offer
    assert 'Welcome to the "Quicker discharge letters" team as a service user' in after(
        transcript, "1"
    )
    assert "Priya Shah, a service user from the QI forum, has joined" in after(
        transcript, ":as Asha Patel"
    )
    with ctx.sessions() as session:
        teams = session.scalars(
            select(Project.name)
            .join(Membership, Membership.project_id == Project.id)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.display_name == "Priya Shah")
        ).all()
    assert teams == ["Quicker discharge letters"]


def test_remind_twice_in_a_week_sends_nothing_twice(ctx):
    seed_example_trust(ctx)

    transcript = run_console(ctx, [":remind", ":remind"], name="Tom Hughes")

    assert transcript.count("Hello Tom.") == 1
    assert "These went out earlier this week" in after(transcript, ":remind")
    assert len(deliveries(ctx, NUDGE)) == 4  # one for each of the four leads


def test_remind_refuses_when_the_database_is_also_the_bots_on_slack(ctx):
    seed_example_trust(ctx)
    out = io.StringIO()
    console = Console(
        Dispatcher(ctx),
        console_actor("Tom Hughes"),
        io.StringIO(":remind\n"),
        out,
        echo=True,
        live_platforms=("Slack",),
    )

    assert console.run() == 0

    assert "would send this week's reminders to real people now" in out.getvalue()
    assert "qi-nudge remind --dry-run" in out.getvalue()
    assert deliveries(ctx, NUDGE) == []


def test_remind_with_every_project_covered_says_nobody_needs_one(ctx):
    transcript = run_console(ctx, [":remind"], name="Asha Patel")

    assert "nobody needs a reminder this week" in transcript
    assert "A message for you" not in transcript


def test_a_message_to_someone_else_waits_until_you_act_as_them(ctx, clock):
    seed_example_trust(ctx)
    joining = run_console(ctx, ["/qi-join kinder as service user"], name="Priya Shah")
    clock.advance(hours=1, minutes=1)  # a lead hears of the hour's joins once the hour is out

    transcript = run_console(
        ctx, [":inbox", ":as Mo Ahmed", ":inbox", ":as Priya Shah", ":inbox"], name="Priya Shah"
    )

    joined = after(joining, "/qi-join kinder as service user")
    assert 'Welcome to the "Kinder waiting rooms" team as a service user' in joined
    assert "has joined your project" not in joining
    waiting = transcript.partition("> :as Mo Ahmed\n")[0]
    assert "New message for Mo Ahmed: type :as Mo Ahmed to see it." in waiting
    news = 'Priya Shah has joined your project "Kinder waiting rooms" as a service user.'
    assert news in after(transcript, ":as Mo Ahmed")
    assert transcript.count(news) == 2  # and again in Mo's :inbox
    assert "No messages for you yet." in after(transcript, ":inbox")  # Priya's


def test_buttons_of_a_reply_and_a_message_are_numbered_one_after_the_other(ctx, monkeypatch):
    seed_example_trust(ctx)

    # A slot request whose answer has a button of its own: Asha is the lead asking and the
    # organiser asked, so the answer and her organiser's message come together.
    def slot_with_a_button(ctx, actor, text):
        answer = handle_forum_command(ctx, actor, text)
        more = Section(text="", buttons=(Button("See the forum", ids.SHOW_FORUM),))
        return Reply(sections=(*answer.sections, more))

    monkeypatch.setitem(dispatch.COMMANDS, "qi-forum-test", slot_with_a_button)

    transcript = run_console(
        ctx, ['/qi-forum-test slot "Quicker discharge" "Our letters"', "2"], name="Asha Patel"
    )

    asked = after(transcript, '/qi-forum-test slot "Quicker discharge" "Our letters"')
    assert "[1] See the forum" in asked
    assert 'Asha Patel asks for a slot for "Quicker discharge letters"' in asked
    assert "[2] Accept   [3] Decline" in asked
    assert asked.count("(Type a number to press a button.)") == 2
    assert 'The slot for "Quicker discharge letters" is accepted.' in after(transcript, "2")


def test_a_button_gone_from_view_points_to_the_inbox(ctx):
    seed_example_trust(ctx)

    transcript = run_console(ctx, [":remind", "/qi-help", "3"], name="Tom Hughes")

    assert "There is no button with that number" in after(transcript, "3")
    assert ":inbox shows your messages again, with their buttons." in after(transcript, "3")


def test_messages_for_people_on_slack_stay_queued_for_serve(ctx):
    with ctx.sessions.begin() as session:
        lead = Person(display_name="Sam Slack", created_at=ctx.now())
        lead.identities.append(ChatIdentity(platform="slack", workspace="T1", user_id="U1"))
        session.add(lead)
        session.flush()
        create_project(
            session,
            name="Falls prevention",
            lead_id=lead.id,
            site=None,
            status=ProjectStatus.ACTIVE,
            now=ctx.now(),
        )

    transcript = run_console(ctx, [":remind"], name="Asha Patel")

    assert '"Falls prevention" (lead: Sam Slack): its lead is reminded' in transcript
    assert "Sam Slack" not in after(transcript, ":remind").partition("reminded\n")[2]
    (nudge,) = deliveries(ctx, NUDGE)
    assert (nudge.status, nudge.attempts, nudge.claimed_at) == (outbox.PENDING, 0, None)


def test_help_lists_the_console_commands(ctx):
    transcript = run_console(ctx, [":help"], name="Asha Patel")

    for command in (":as NAME", ":inbox", ":remind", ":quit"):
        assert command in transcript
    assert "every Monday at 9:30am" in transcript


def test_a_typo_in_a_command_gets_a_suggestion(ctx):
    transcript = run_console(
        ctx, ["/qi-joinn forum", "/qi-stat", "/hello", "qi-join forum", ":inbx"], name="Asha"
    )

    assert "I don't know the command /qi-joinn. Did you mean /qi-join?" in transcript
    assert "Did you mean /qi-stats?" in transcript
    assert "I don't know the command /hello. Type /qi-help" in transcript
    assert "Commands start with /, like /qi-join." in transcript
    assert "There is no console command :inbx. Type :help to see them." in transcript
