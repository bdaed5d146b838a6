"""`qi-nudge remind`, `run-due` and `deliveries`: what the bot sends on its own, by hand."""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import select

from bot.console.sender import printed
from bot.console.weekly_figures import record_due_figures
from bot.runtime.delivery import Deliverer, DeliveryPolicy
from bot.runtime.routing import SenderRouter
from bot.runtime.scheduler import CATCH_UP_WINDOW, WEEKLY_NUDGE, Jobs, sweep_moment
from bot.runtime.sending import Sender
from bot.runtime.settings import Settings
from bot.runtime.waiting_report import elsewhere_for, report_waiting
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.weeks import week_after, week_of
from handlers.core.wording import plural
from handlers.nudges.preview import SweepPreview, preview_sweep
from handlers.nudges.weekly import SKIPPED_FOR, NudgePolicy, SweepPlan
from store import contacts, jobs, outbox
from store.models import Person

log = logging.getLogger(__name__)

ACTIONS_SHOWN = {
    "nudge": "Would remind",
    "escalate": "Would pass to the organisers",
    "skip": "Skip",
}


def build_deliverer(ctx: Context, settings: Settings) -> Deliverer:
    """A deliverer for the configured platforms (Slack, Teams, e-mail, texts), else this terminal.

    Messages for a platform not set up here stay queued, untouched, for a process that is:
    printed here, they would reach nobody and yet count as sent.
    """
    policy = DeliveryPolicy(claim_lease=settings.delivery_claim_lease)
    senders: list[Sender] = []
    if settings.has_slack:
        from bot.slack.app import build_web_client
        from bot.slack.sender import SlackSender, build_sending_client

        senders.append(SlackSender(build_sending_client(build_web_client(settings))))
    if settings.has_teams:
        from bot.teams.app import build_token_provider  # loads the Teams SDK (~2 s)
        from bot.teams.sender import TeamsSender

        provider = build_token_provider(settings)
        senders.append(TeamsSender.for_settings(settings, ctx.sessions, provider))
    if not senders:
        from bot.console.sender import ConsoleSender

        senders.append(ConsoleSender())
    # E-mail and texts to forum members outside chat, when SMTP or Notify is set up.
    from bot.outside.wiring import outside_senders

    senders.extend(outside_senders(settings, ctx))
    return Deliverer(ctx, SenderRouter(senders), policy, elsewhere=elsewhere_for(settings))


def cmd_remind(ctx: Context, args: argparse.Namespace) -> int:
    """Show who this week's reminder would go to (--dry-run), or run it now (--now)."""
    settings: Settings = args.settings
    week = week_of(ctx.now(), ctx)
    if args.dry_run:
        return dry_run(ctx, week, settings.nudge_policy, show=args.show)
    if args.show:
        raise Refusal(
            "--show goes with --dry-run: qi-nudge remind --dry-run --show prints the messages "
            "without sending them. Nothing was sent."
        )
    # As the scheduler does: the week's figures first, then the reminders.
    record_figures(ctx, settings.nudge_policy)
    plan = Jobs(ctx, settings.nudge_policy).sweep(week)
    print_plan(plan, done=True)
    deliverer = build_deliverer(ctx, settings)
    outcomes = deliverer.drain()
    print(summary(outcomes))
    return _exit_code(ctx, deliverer, outcomes)


def record_figures(ctx: Context, policy: NudgePolicy) -> None:
    """Record this week's figures for /qi-stats before the reminders, and say so."""
    try:
        recorded = record_due_figures(ctx, policy, early=True)
    except Exception:
        # The reminders must not wait on the figures, which can be worked out again later.
        log.exception("recording this week's figures failed; the reminders go on")
        print(
            "This week's figures could not be recorded just now (the log says why); the "
            "reminders go on. qi-nudge stats --backfill works them out later."
        )
        return
    if recorded:
        print("This week's figures are recorded: /qi-stats and the run chart show them.")


def _exit_code(
    ctx: Context, deliverer: Deliverer, outcomes: Counter[str], *, nothing_sent: bool = False
) -> int:
    """Say what is still waiting; 1 if anything failed or is overdue, else 0."""
    overdue = report_waiting(
        ctx,
        elsewhere=deliverer.elsewhere,
        lease=deliverer.policy.claim_lease,
        left=deliverer.left_for_elsewhere(),
        nothing_sent=nothing_sent,
    )
    return 1 if outcomes.get("failed") or overdue else 0


def dry_run(ctx: Context, week: str, policy: NudgePolicy, *, show: bool) -> int:
    """Say what this week's reminder will really do, changing nothing."""
    due = sweep_moment(week, ctx, policy)
    next_due = sweep_moment(week_after(week), ctx, policy)
    with ctx.sessions() as session:
        run = jobs.find_run(session, WEEKLY_NUDGE, week)
        if run is not None and run.finished_at is not None:
            print(
                f"This week's reminder ({week}) went on {_when(ctx, run.finished_at)}. Nothing "
                f"more will be sent this week. The next is due on {_when(ctx, next_due)}."
            )
            return 0
        if run is None and ctx.now() - due > CATCH_UP_WINDOW:
            print(
                f"This week's reminder ({week}) was due on {_when(ctx, due)} and was missed "
                "(qi-nudge was not running). It is skipped, so as not to remind people twice "
                f"in a few days; the next is due on {_when(ctx, next_due)}. To send it anyway: "
                "qi-nudge remind --now."
            )
            return 0
        preview = preview_sweep(session, ctx, week=week, policy=policy, show=show)
        session.rollback()  # looking changes nothing
    if due > ctx.now():
        print(f"This week's reminder ({week}) goes on {_when(ctx, due)}. If it went now:")
    else:
        print(
            f"This week's reminder ({week}) was due on {_when(ctx, due)}: it goes within a "
            "minute while qi-nudge serve is running, or with qi-nudge remind --now."
        )
    print_plan(preview.plan)
    print_unreachable(preview)
    print(totals(preview))
    for who, reply in preview.messages:
        print(f"\n--- Message {who} ---\n{printed(reply)}")
    return 0


def _when(ctx: Context, moment: datetime) -> str:
    local = moment.astimezone(ctx.timezone)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"


def print_unreachable(preview: SweepPreview) -> None:
    """Leads (and organisers) the week's messages cannot reach: no chat platform knows them."""
    reminded = preview.reminded_leads
    escalating = any(d.action == "escalate" for d in preview.plan.decisions)
    blocked = [
        u for u in preview.unreachable if u.person_id in reminded or (escalating and u.organiser)
    ]
    if not blocked:
        return
    print(
        "Cannot be reached yet (from the project register, never seen on chat): their message "
        "will be marked failed; they get reminders once they have used qi-nudge on Slack or Teams."
    )
    for person in blocked:
        email = f" <{person.email}>" if person.email else ""
        print(f"  {person.name}{email}")


def totals(preview: SweepPreview) -> str:
    """The dry run's last line: how many of each, whatever the number of projects."""
    plan = preview.plan
    actions = Counter(d.action for d in plan.decisions)
    leads = len(preview.reminded_leads)
    parts = [
        f"{plural(leads, 'lead')} reminded about {plural(actions['nudge'], 'project')}",
        f"{plural(actions['escalate'], 'project')} passed to the organisers",
    ]
    skipped = preview.skipped
    if skipped:
        why = ", ".join(
            f"{skipped[key]} {label}" for key, label in SKIPPED_FOR.items() if key in skipped
        )
        parts.append(f"{plural(sum(skipped.values()), 'project')} skipped ({why})")
    reminded = preview.reminded_leads
    cannot = sum(1 for u in preview.unreachable if u.person_id in reminded)
    if cannot:
        parts.append(f"{plural(cannot, 'lead')} cannot be reached yet")
    not_asked = preview.not_asked
    others = [
        (not_asked.get("partnered", 0), "already have a service user or carer"),
        (not_asked.get("on_hold", 0), "on hold"),
        (not_asked.get("completed", 0) + not_asked.get("stopped", 0), "completed or stopped"),
    ]
    never = ", ".join(f"{n} {what}" for n, what in others if n)
    return (
        f"Totals: {plural(len(plan.deliveries), 'message')}; "
        + "; ".join(parts)
        + "."
        + (f" Not asked: {never}." if never else "")
    )


def print_plan(plan: SweepPlan, *, done: bool = False) -> None:
    """Who is reminded, passed on or skipped this week, and why."""
    if not plan.decisions:
        print(
            f"Week {plan.week}: every active project has a service user or carer on the team. "
            "Nobody needs a reminder."
        )
        return
    print(
        f"Week {plan.week}: {plural(len(plan.decisions), 'active project')} without a service user "
        "or carer."
    )
    for decision in plan.decisions:
        lead = decision.lead_name or "no lead"
        verb = ACTIONS_SHOWN[decision.action]
        if done:
            verb = verb.replace("Would remind", "Reminding").replace("Would pass", "Passing")
        print(f'  {verb}: "{decision.project_name}" (lead: {lead}): {decision.why}')
    if done:
        print(
            f"{plural(plan.planned_new, 'new message')} planned "
            f"({len(plan.deliveries)} this week in all)."
        )


def summary(outcomes: Counter[str]) -> str:
    """One line counting what happened to the deliveries."""
    return (
        f"Sent {outcomes.get('sent', 0)}, no longer needed {outcomes.get('withdrawn', 0)}, "
        f"failed {outcomes.get('failed', 0)}, to retry later {outcomes.get('retry', 0)}"
        + (
            f", sent but unconfirmed {outcomes['unconfirmed']}"
            if outcomes.get("unconfirmed")
            else ""
        )
        + (
            f", taken over by another sender {outcomes['taken_over']}."
            if outcomes.get("taken_over")
            else "."
        )
    )


def cmd_deliveries(ctx: Context, args: argparse.Namespace) -> int:
    """List recent outbox deliveries (or only the failed ones) with their reasons."""
    with ctx.sessions() as session:
        counts = outbox.counts_by_status(session)
        rows = outbox.deliveries(
            session, status=outbox.FAILED if args.failed else None, limit=args.limit
        )
        person_ids = [outbox.recipient_person_id(r.recipient) for r in rows]
        names = {
            person.id: person.display_name
            for person in session.scalars(
                select(Person).where(Person.id.in_([pid for pid in person_ids if pid]))
            )
        }
        print(
            "Deliveries: "
            + (", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none yet")
        )
        if args.failed and not rows:
            print("No failed deliveries.")
        for row in rows:
            person_id = outbox.recipient_person_id(row.recipient)
            who = names.get(person_id, row.recipient) if person_id else row.recipient
            line = f"  #{row.id} {row.kind} {row.occurrence} to {who}: {row.status}"
            if row.status == outbox.SENT and row.platform in contacts.METHODS:
                line += " by e-mail" if row.platform == contacts.EMAIL else " by text"
            if row.attempts:
                line += f" after {row.attempts} attempt{'s' if row.attempts != 1 else ''}"
            # (A sent row keeps a note only when it is unconfirmed: admins should see that.)
            if row.error and row.status in (outbox.FAILED, outbox.PENDING, outbox.SENT):
                line += f" ({row.error})"
            print(line)
    return 0


def cmd_run_due(ctx: Context, args: argparse.Namespace) -> int:
    """Do what the scheduler does each minute, once: plan what is due, then send it."""
    settings: Settings = args.settings
    plan = Jobs(ctx, settings.nudge_policy).run_due()
    if plan is not None:
        print_plan(plan, done=True)
    deliverer = build_deliverer(ctx, settings)
    outcomes = deliverer.drain()
    # Given back for another platform is not something this run did.
    done = +Counter({k: n for k, n in outcomes.items() if k != "left"})
    if done:
        print(summary(done))
    return _exit_code(ctx, deliverer, outcomes, nothing_sent=not done)
