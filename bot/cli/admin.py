"""The command-line jobs of the people who run qi-nudge: data in and out, forums, admins."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy import select

from bot.cli.output_files import database_files_of, open_output
from bot.cli.reminders import build_deliverer, summary
from bot.runtime.forum_channels import join_after_setting
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import find_forum
from handlers.core.wording import at_place, plural, when
from handlers.evidence import exports
from handlers.forum.announcements import MAX_OFFSET, offsets_of
from handlers.forum.changes import cancel_meeting, move_meeting
from handlers.forum.channel import change_channel, parse_channel
from handlers.forum.meetings import add_meeting, parse_local_time
from handlers.people import merging, personal_data
from handlers.projects.register_import import RegisterFileError, import_projects, open_register
from store import people
from store.audit import record
from store.engine import checkpoint_sqlite
from store.forums import create_forum, list_forums
from store.models import Meeting
from store.names import name_key

PROGRESS_FROM_ROWS = 500


def cmd_import_projects(ctx: Context, args: argparse.Namespace) -> int:
    """Load a project register CSV; bad rows are reported with their line numbers."""
    path = Path(args.file)
    if not path.is_file():
        raise Refusal(f"There is no file at {path}.")

    def progress(rows: int) -> None:
        # Only long files need reassurance that something is happening.
        if rows >= PROGRESS_FROM_ROWS:
            print(f"  ...{rows} rows read", file=sys.stderr, flush=True)

    try:
        with open_register(path) as source:
            report = import_projects(ctx, source, strict=args.strict, progress=progress)
    except RegisterFileError as error:
        raise Refusal(str(error)) from None
    for problem in report.problems:
        print(f"line {problem.line}: {problem.message}", file=sys.stderr)
    if report.unknown_columns:
        print("Ignored columns: " + ", ".join(report.unknown_columns))
    if not report.applied:
        print(f"Nothing was imported: {len(report.problems)} rows need fixing (--strict).")
        return 1
    print(
        f"Imported: {report.created} new, {report.updated} updated, {report.unchanged} unchanged"
        + (
            f", {plural(len(report.problems), 'row')} skipped (see above)."
            if report.problems
            else "."
        )
    )
    settings = getattr(args, "settings", None)
    if settings is not None and settings.has_slack:
        from bot.slack.app import build_web_client
        from bot.slack.leads import link_leads_by_email

        linking = link_leads_by_email(ctx.sessions, build_web_client(settings))
        print(
            f"Slack: {linking.linked} leads found by e-mail, {linking.not_on_slack} not on Slack."
        )
        if linking.not_checked:
            print(f"Slack: {linking.not_checked} leads not checked yet: {linking.problem}.")
        if linking.conflicts:
            print(
                "Already on Slack as a separate record (link the two with qi-nudge person link): "
                + ", ".join(linking.conflicts)
            )
    return 1 if report.problems else 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    """Write memberships or forum sign-ups as CSV."""
    writer = exports.export_memberships if args.what == "memberships" else exports.export_signups
    protected = database_files_of(ctx.sessions)
    # The file is opened first: a path that cannot be written is said before any work.
    with (
        open_output(args.out, protected=protected, force=args.force) as out,
        ctx.sessions() as session,
    ):
        rows = writer(session, out)
    if args.out:
        print(f"Wrote {rows} rows to {args.out}.")
    return 0


def cmd_forum_add(ctx: Context, args: argparse.Namespace) -> int:
    """Add a forum."""
    channel = parse_channel(args.channel)
    with ctx.sessions.begin() as session:
        if any(f.name_key == name_key(args.name) for f in list_forums(session)):
            raise Refusal(f'There is already a forum called "{args.name}".')
        forum = create_forum(session, name=args.name, channel=channel, now=ctx.now())
        record(
            session,
            at=ctx.now(),
            actor_id=None,
            action="forum.added",
            subject_type="forum",
            subject_id=forum.id,
        )
        print(f'Added the forum "{forum.name}".')
        added = forum.name
    if channel:
        join_after_setting(getattr(args, "settings", None), ctx, added, channel)
    return 0


def cmd_forum_list(ctx: Context, args: argparse.Namespace) -> int:
    """List forums."""
    with ctx.sessions() as session:
        forums = list_forums(session)
        for forum in forums:
            print(f"{forum.name}" + (f"  (announces in {forum.channel})" if forum.channel else ""))
        if not forums:
            print('No forums yet. Add one with: qi-nudge forum add "QI Forum"')
    return 0


def cmd_meeting_add(ctx: Context, args: argparse.Namespace) -> int:
    """Add a forum meeting at a local date and time."""
    starts = parse_local_time(args.at, ctx)
    with ctx.sessions.begin() as session:
        forum = find_forum(session, args.forum or "")
        meeting = add_meeting(session, ctx, forum, starts, args.location, None)
        print(f'Added a "{forum.name}" meeting on {when(meeting.starts_at, ctx.timezone)}.')
    return 0


def cmd_admin(ctx: Context, args: argparse.Namespace) -> int:
    """Grant, revoke or list the admin (forum organiser) role."""
    with ctx.sessions.begin() as session:
        if args.action == "list":
            admins = people.list_admins(session)
            for person in admins:
                print(f"#{person.id} {person.display_name}")
            if not admins:
                print("Nobody is an admin yet.")
            return 0
        if not args.person:
            raise Refusal('Say who, for example: qi-nudge admin grant "console:Asha Patel"')
        person = personal_data.find_person(session, args.person)
        if args.action == "grant":
            changed = people.grant_admin(session, person.id, by_id=None, now=ctx.now())
            verb = "is now an admin" if changed else "was already an admin"
        else:
            changed = people.revoke_admin(session, person.id, now=ctx.now())
            verb = "is no longer an admin" if changed else "was not an admin"
        if changed:
            record(
                session,
                at=ctx.now(),
                actor_id=None,
                action=f"admin.{args.action}",
                subject_type="person",
                subject_id=person.id,
            )
        print(f"{person.display_name} (#{person.id}) {verb}.")
    return 0


def cmd_person_export(ctx: Context, args: argparse.Namespace) -> int:
    """Print everything held about one person (or a chat account alone) as JSON."""
    with ctx.sessions() as session:
        found = personal_data.find_person_or_address(session, args.person)
        if isinstance(found, list):
            data = personal_data.export_address(found)
        else:
            data = personal_data.export_person(session, found.id)
    protected = database_files_of(ctx.sessions)
    with open_output(args.out, protected=protected, force=args.force) as out:
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
    return 0


WAL_NOT_EMPTIED = (
    "Note: the database's write-ahead log (the file beside it ending -wal) is in use by another "
    "qi-nudge process, so it could not be emptied now and may still hold the erased details. "
    "It is emptied when every qi-nudge process has stopped (stop qi-nudge serve for a moment), "
    "and overwritten as the bot runs."
)


def cmd_person_erase(ctx: Context, args: argparse.Namespace) -> int:
    """Erase one person and everything that names them (or a chat account held alone)."""
    with ctx.sessions.begin() as session:
        found = personal_data.find_person_or_address(session, args.person)
        if isinstance(found, list):
            if not args.yes:
                raise Refusal(personal_data.address_erasure_warning(found))
            done = personal_data.erase_address(session, found, now=ctx.now())
        else:
            if not args.yes:
                raise Refusal(
                    f"This deletes {found.display_name} (#{found.id}) and everything about "
                    "them. Run again with --yes to go ahead."
                )
            name = found.display_name
            erasure = personal_data.erase_person(session, found.id, now=ctx.now())
            done = f"Erased {name} (#{erasure.person_number})."
    print(done)  # once the transaction has committed
    if not checkpoint_sqlite(ctx.sessions):
        print(WAL_NOT_EMPTIED)
    if isinstance(found, list):
        return 0
    print(personal_data.REGISTER_REMINDER)
    if erasure.projects_left_without_lead:
        print(
            "These projects now have no lead. Put a new lead in the project register and run "
            "qi-nudge import-projects again:"
        )
        for project in erasure.projects_left_without_lead:
            print(f"  {project}")
    return 0


def cmd_person_link(ctx: Context, args: argparse.Namespace) -> int:
    """Link two records of one person: the second is merged into the first."""
    if not args.other:
        raise Refusal(
            "Say which two records are the same person, the one to keep first, for example: "
            'qi-nudge person link "Ben Okafor" #7'
        )
    with ctx.sessions.begin() as session:
        keep = personal_data.find_person(session, args.person)
        merged = personal_data.find_person(session, args.other)
        if not args.yes and keep.id != merged.id:
            raise Refusal(
                f"This merges {merged.display_name} (#{merged.id}) into {keep.display_name} "
                f"(#{keep.id}): everything of #{merged.id} moves to #{keep.id}, and "
                f"#{merged.id} is deleted. Run again with --yes to go ahead."
            )
        result = merging.merge_people(session, keep.id, merged.id, now=ctx.now())
    for line in merging.describe(result):
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
            print(
                f"#{meeting.id} {meeting.forum.name}: "
                f"{when(meeting.starts_at, ctx.timezone)}{at_place(meeting.location)}{state}"
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


def parse_offsets(text: str) -> list[int]:
    """'7d,1d,0' or '2h, 30m' as minutes before a meeting; a Refusal explains a mistake."""
    units = {"d": 24 * 60, "h": 60, "m": 1}
    minutes: list[int] = []
    for part in (p.strip().lower() for p in text.split(",")):
        number, unit = (part[:-1], part[-1]) if part[-1:] in units else (part, "m")
        if not number.isdecimal() or int(number) * units[unit] > MAX_OFFSET:
            raise Refusal(
                f'I couldn\'t read "{part}". Give times before the meeting like 7d,1d,2h,0 '
                "(days, hours, minutes; 0 is as it starts; at most 60 days)."
            )
        minutes.append(int(number) * units[unit])
    return sorted(set(minutes), reverse=True)


def cmd_forum_set(ctx: Context, args: argparse.Namespace) -> int:
    """Change a forum's announcement channel or when its meetings are announced."""
    channel = parse_channel(args.channel)
    with ctx.sessions.begin() as session:
        forum = find_forum(session, args.name)
        if args.channel is not None:
            change_channel(session, forum, channel)
        if args.announce is not None:
            forum.announce_offsets = parse_offsets(args.announce)
        shown = ", ".join(_offset_text(m) for m in offsets_of(forum))
        print(
            f'"{forum.name}" announces in {forum.channel or "no channel yet"}; '
            f"meetings are announced {shown}."
        )
        name, channel = forum.name, forum.channel
    if args.channel and channel:
        join_after_setting(getattr(args, "settings", None), ctx, name, channel)
    return 0


def _offset_text(minutes: int) -> str:
    if minutes == 0:
        return "as they start"
    if minutes % (24 * 60) == 0:
        count, unit = minutes // (24 * 60), "day"
    elif minutes % 60 == 0:
        count, unit = minutes // 60, "hour"
    else:
        count, unit = minutes, "minute"
    return f"{count} {unit}{'s' if count != 1 else ''} before"
