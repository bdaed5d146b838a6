"""`qi-nudge remind`, `deliveries` and meeting changes: what the bot sends, by hand."""

from __future__ import annotations

import argparse
from collections import Counter

from sqlalchemy import select

from bot.delivery import Deliverer
from bot.scheduler import Jobs
from bot.settings import Settings
from handlers.announcements import DEFAULT_OFFSETS
from handlers.context import Context
from handlers.errors import Refusal
from handlers.forum import parse_local_time
from handlers.lookup import find_forum
from handlers.meeting_changes import cancel_meeting, move_meeting
from handlers.nudges import SweepPlan, plan_sweep, week_of
from handlers.wording import when
from store import outbox
from store.models import Meeting, Person

ACTIONS_SHOWN = {
    "nudge": "Would remind",
    "escalate": "Would pass to the organisers",
    "skip": "Skip",
}


def build_deliverer(ctx: Context, settings: Settings) -> Deliverer:
    """A deliverer for the configured platform: Slack if set up, else this terminal."""
    if settings.has_slack:
        from bot.slack.app import build_web_client
        from bot.slack.sender import SlackSender, build_sending_client

        sender = SlackSender(build_sending_client(build_web_client(settings)))
        return Deliverer(ctx, sender)
    from bot.console_sender import ConsoleSender

    return Deliverer(ctx, ConsoleSender())


def cmd_remind(ctx: Context, args: argparse.Namespace) -> int:
    """Show who this week's reminder would go to (--dry-run), or run it now (--now)."""
    settings: Settings = args.settings
    week = week_of(ctx.now(), ctx)
    if args.dry_run:
        with ctx.sessions() as session:
            plan = plan_sweep(session, ctx, week=week, policy=settings.nudge_policy)
            session.rollback()  # looking changes nothing
        print_plan(plan)
        return 0
    plan = Jobs(ctx, settings.nudge_policy).sweep(week)
    print_plan(plan, done=True)
    outcomes = build_deliverer(ctx, settings).drain()
    print(summary(outcomes))
    return 1 if outcomes.get("failed") else 0


def print_plan(plan: SweepPlan, *, done: bool = False) -> None:
    """Who is reminded, passed on or skipped this week, and why."""
    if not plan.decisions:
        print(
            f"Week {plan.week}: every active project has a service user or carer on the team. "
            "Nobody needs a reminder."
        )
        return
    print(
        f"Week {plan.week}: {len(plan.decisions)} active projects without a service user or carer."
    )
    for decision in plan.decisions:
        lead = decision.lead_name or "no lead"
        verb = ACTIONS_SHOWN[decision.action]
        if done:
            verb = verb.replace("Would remind", "Reminding").replace("Would pass", "Passing")
        print(f'  {verb}: "{decision.project_name}" (lead: {lead}): {decision.why}')
    if done:
        print(f"{plan.planned_new} new messages planned ({len(plan.deliveries)} this week in all).")


def summary(outcomes: Counter[str]) -> str:
    """One line counting what happened to the deliveries."""
    return (
        f"Sent {outcomes.get('sent', 0)}, no longer needed {outcomes.get('withdrawn', 0)}, "
        f"failed {outcomes.get('failed', 0)}, to retry later {outcomes.get('retry', 0)}"
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
            if row.attempts:
                line += f" after {row.attempts} attempt{'s' if row.attempts != 1 else ''}"
            if row.error and row.status in (outbox.FAILED, outbox.PENDING):
                line += f" ({row.error})"
            print(line)
    return 0


def cmd_meeting_list(ctx: Context, args: argparse.Namespace) -> int:
    """List upcoming meetings with their numbers (to move or cancel one)."""
    with ctx.sessions() as session:
        meetings = session.scalars(
            select(Meeting).where(Meeting.starts_at >= ctx.now()).order_by(Meeting.starts_at)
        ).all()
        for meeting in meetings:
            state = " (cancelled)" if meeting.cancelled_at else ""
            place = f" at {meeting.location}" if meeting.location else ""
            print(
                f"#{meeting.id} {meeting.forum.name}: "
                f"{when(meeting.starts_at, ctx.timezone)}{place}{state}"
            )
        if not meetings:
            print(
                'No upcoming meetings. Add one with: qi-nudge meeting add --at "2026-12-03 14:00"'
            )
    return 0


def cmd_meeting_change(ctx: Context, args: argparse.Namespace) -> int:
    """Cancel or move a meeting, then send the news and edit its announcements."""
    if args.action == "cancel":
        change = cancel_meeting(ctx, args.id, actor_id=None)
    else:
        change = move_meeting(ctx, args.id, parse_local_time(args.at, ctx), actor_id=None)
    print(change.text)
    deliverer = build_deliverer(ctx, args.settings)
    deliverer.refresh(change.refresh)
    outcomes = deliverer.drain()
    if outcomes:
        print(summary(outcomes))
    return 0


def cmd_run_due(ctx: Context, args: argparse.Namespace) -> int:
    """Do what the scheduler does each minute, once: plan what is due, then send it."""
    settings: Settings = args.settings
    plan = Jobs(ctx, settings.nudge_policy).run_due()
    if plan is not None:
        print_plan(plan, done=True)
    outcomes = build_deliverer(ctx, settings).drain()
    print(summary(outcomes) if outcomes else "Nothing is due to be sent.")
    return 1 if outcomes.get("failed") else 0


def parse_offsets(text: str) -> list[int]:
    """'7d,1d,0' or '2h, 30m' as minutes before a meeting; a Refusal explains a mistake."""
    units = {"d": 24 * 60, "h": 60, "m": 1}
    minutes: list[int] = []
    for part in (p.strip().lower() for p in text.split(",")):
        number, unit = (part[:-1], part[-1]) if part[-1:] in units else (part, "m")
        if not number.isdecimal() or int(number) * units[unit] > 60 * 24 * 60:
            raise Refusal(
                f'I couldn\'t read "{part}". Give times before the meeting like 7d,1d,2h,0 '
                "(days, hours, minutes; 0 is as it starts; at most 60 days)."
            )
        minutes.append(int(number) * units[unit])
    return sorted(set(minutes), reverse=True)


def cmd_forum_set(ctx: Context, args: argparse.Namespace) -> int:
    """Change a forum's announcement channel or when its meetings are announced."""
    with ctx.sessions.begin() as session:
        forum = find_forum(session, args.name)
        if args.channel is not None:
            forum.channel = args.channel or None
        if args.announce is not None:
            forum.announce_offsets = parse_offsets(args.announce)
        offsets = forum.announce_offsets or list(DEFAULT_OFFSETS)
        shown = ", ".join(_offset_text(m) for m in offsets)
        print(
            f'"{forum.name}" announces in {forum.channel or "no channel yet"}; '
            f"meetings are announced {shown}."
        )
    return 0


def _offset_text(minutes: int) -> str:
    if minutes == 0:
        return "as they start"
    for size, unit in ((24 * 60, "day"), (60, "hour"), (1, "minute")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''} before"
    return f"{minutes} minutes before"
