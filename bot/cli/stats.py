"""`qi-nudge stats`: the headline, run chart and figures for people outside chat."""

from __future__ import annotations

import argparse
import csv
from datetime import date

from bot.cli.output_files import check_target, database_files_of, open_output, write_output
from handlers.core import ids
from handlers.core.context import Context
from handlers.core.dates import example_past_day, local_today, read_past_day
from handlers.core.errors import Refusal
from handlers.core.reply import Reply
from handlers.core.wording import on_day, plural
from handlers.evidence.involvement_report import involvement_over_time
from handlers.evidence.stats import (
    IMPORT_COMMAND,
    Backfilled,
    backfill_report,
    explain_chart,
    forum_stats,
    project_stats,
)
from handlers.nudges.weekly import NudgePolicy
from store import stats as stats_store

CSV_HEADER = (
    "week",
    "week_start",
    "scope",
    "active_projects",
    "with_service_user_or_carer",
    "share",
    "attendance",
    "worked_out_later",
)


def cmd_stats(ctx: Context, args: argparse.Namespace) -> int:
    """Print the headline; write the chart (--chart) and the weekly figures (--csv)."""
    if getattr(args, "involvement", False):
        return cmd_involvement(ctx, args)
    protected = database_files_of(ctx.sessions)
    force = getattr(args, "force", False)
    for path in (args.chart, args.csv):
        if path:  # before any work (a back-fill can take a while): a bad path is said at once
            check_target(path, protected=protected, force=force)
    if args.backfill:
        since = _date(ctx, args.since) if args.since else None
        settings = getattr(args, "settings", None)
        # Measured when the live weekly figure is taken: NUDGE_DAY at NUDGE_TIME.
        policy = settings.nudge_policy if settings is not None else NudgePolicy()
        done = backfill_report(
            ctx, since=since, replace=args.replace, weekday=policy.weekday, at=policy.at
        )
        print(backfilled_text(done))
    reply: Reply = (
        forum_stats(ctx, args.forum)
        if args.forum is not None
        else project_stats(ctx, args.site or "")
    )
    print(reply.text)
    for button in reply.buttons:
        if button.action_id == ids.EXPLAIN_CHART:  # organisers here: the longer words at once
            print(f"\n{explain_chart(button.value).text}")
    if args.chart:
        if reply.image is None:
            print("No chart to write yet.")
        else:
            write_output(args.chart, reply.image.png, protected=protected, force=force)
            print(f"Chart written to {args.chart}. What it shows: {reply.image.alt_text}")
    if args.csv:
        rows = write_csv(ctx, args.csv, force=force)
        print(f"{rows} weekly figures written to {args.csv}.")
    return 0


def backfilled_text(done: Backfilled) -> str:
    """What a back-fill did, with each number saying what it counts."""
    if not done.any_projects:
        return (
            "There are no projects yet, so there are no past weeks to work out. Load the "
            f"project register first: {IMPORT_COMMAND}"
        )
    if not done.weeks or done.first is None:
        return "The first project began this week, so there are no past weeks to work out yet."
    began = " (when the first project began)" if done.from_first_project else ""
    lines = [
        f"Worked out the figures for {plural(done.weeks, 'past week')}, from the week of "
        f"{on_day(done.first)}{began} to last week, from the project and membership history."
    ]
    if done.without_active:
        lines.append(
            f"In {done.without_active} of them no project was active, so there is no share "
            f"to draw: the run chart leaves {'it' if done.without_active == 1 else 'them'} out."
            if done.without_active < done.weeks
            else "No project was active in any of them, so the run chart has nothing to draw "
            "from them."
        )
    if done.kept:
        lines.append(
            f"{plural(done.kept, 'week')} already recorded "
            f"{'was' if done.kept == 1 else 'were'} kept as "
            f"{'it was' if done.kept == 1 else 'they were'} (--replace works them out again)."
        )
    if done.this_week_taken:
        lines.append("This week's figure, taken when its reminder time came, is on the chart too.")
    return " ".join(lines)


def write_csv(ctx: Context, path: str, *, force: bool = False) -> int:
    """Every scope's weekly snapshots, oldest first, as a spreadsheet can read them."""
    with ctx.sessions() as session:
        rows = [
            (
                week.week,
                week.week_start.isoformat(),
                week.scope,
                week.active_projects,
                week.involved_projects,
                f"{week.involved_projects / week.active_projects:.3f}"
                if week.active_projects
                else "",
                "; ".join(f"{role}: {n}" for role, n in sorted((week.attendance or {}).items())),
                "yes" if week.backfilled else "no",
            )
            for scope in stats_store.scopes(session)
            for week in stats_store.snapshots(session, scope)
        ]
    protected = database_files_of(ctx.sessions)
    with open_output(path, protected=protected, force=force) as out:
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        writer.writerows(rows)
    return len(rows)


def _date(ctx: Context, text: str) -> date:
    """`--since`: a day gone by, read like every other date; the example is the CLI's own."""
    example = f"qi-nudge stats --backfill --since {example_past_day(ctx):%Y-%m-%d}"
    day = read_past_day(text, ctx, example=example)
    if day > local_today(ctx):
        # Back-fill works out weeks gone by: a day to come would quietly do nothing.
        raise Refusal(f"--since {day:%Y-%m-%d} is still to come. For example: {example}")
    return day


def cmd_involvement(ctx: Context, args: argparse.Namespace) -> int:
    """`stats --involvement`: how involved people feel, per period; the chart with --chart.

    Aggregates only, as organisers see them in chat; the comments are left to chat, where only
    organisers see them.
    """
    protected = database_files_of(ctx.sessions)
    force = getattr(args, "force", False)
    if args.chart:
        check_target(args.chart, protected=protected, force=force)
    reply = involvement_over_time(ctx, with_comments=False)
    print(reply.text)
    if args.chart and reply.image is not None:
        write_output(args.chart, reply.image.png, protected=protected, force=force)
        print(f"Chart written to {args.chart}. What it shows: {reply.image.alt_text}")
    elif args.chart:
        print("No chart to write yet.")
    return 0
