"""`qi-nudge import-projects`, `projects list` and `export`: the register in, and what it loaded."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.output_files import database_files_of, open_output
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.wording import plural
from handlers.evidence import exports
from handlers.evidence.stats import find_site
from handlers.projects.register_import import RegisterFileError, import_projects, open_register
from store.roles import ProjectStatus, parse_status

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


EXPORTS = {
    "projects": exports.export_projects,
    "memberships": exports.export_memberships,
    "signups": exports.export_signups,
}


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    """Write projects, memberships (with their history) or forum sign-ups as CSV.

    Dates are local (QI_TIMEZONE); the file, when one is named, is readable by its owner only.
    """
    writer = EXPORTS[args.what]
    protected = database_files_of(ctx.sessions)
    # The file is opened first: a path that cannot be written is said before any work.
    with (
        open_output(args.out, protected=protected, force=args.force) as out,
        ctx.sessions() as session,
    ):
        rows = writer(session, out, zone=ctx.timezone)
    if args.out:
        print(f"Wrote {rows} rows to {args.out}.")
    return 0


def cmd_projects_list(ctx: Context, args: argparse.Namespace) -> int:
    """Every project (or one site's, or one status's): what the register import loaded."""
    status = _status_from(args.status) if args.status else None
    if args.site is not None and not args.site.strip():
        raise Refusal('Please name the site, for example: --site "Riverside Hospital".')
    shown = with_partner = 0
    with ctx.sessions() as session:
        # The site found as /qi-projects and stats --site find it: "riverside" is Riverside
        # Hospital; an unknown or unclear one is refused with the closest sites.
        site = find_site(session, args.site) if args.site is not None else None
        rows = exports.project_register(
            session, zone=ctx.timezone, site_key=site and site.key, status=status
        )
        for row in rows:
            shown += 1
            with_partner += row.lived_experience
            print(_project_line(row))
    if not shown:
        print(_nothing_found(site.name if site else None, status))
        return 0
    print(f"{plural(shown, 'project')}, {with_partner} with a service user or carer on the team.")
    return 0


def _project_line(row: exports.RegisterRow) -> str:
    """'"Falls prevention" (Riverside), active, lead: Asha Patel <asha@nhs.net>, ...'."""
    site = f" ({row.site})" if row.site else ""
    lead = row.lead or "no lead recorded"
    if row.lead_email:
        lead += f" <{row.lead_email}>"
    partner = "yes" if row.lived_experience else "no"
    return (
        f'"{row.name}"{site}, {row.status.label}, lead: {lead}, started {row.started}, '
        f"service user or carer on the team: {partner}"
    )


def _status_from(text: str) -> ProjectStatus:
    status = parse_status(text)
    if status is None:
        choices = ", ".join(f'"{s.label}"' for s in ProjectStatus)
        raise Refusal(f'"{text}" is not a project status. Use one of {choices}.')
    return status


def _nothing_found(site: str | None, status: ProjectStatus | None) -> str:
    if site is None and status is None:
        return "No projects yet. Load the project register with qi-nudge import-projects FILE."
    kind = f"{status.label} " if status else ""
    where = f" at {site}" if site else ""
    return f"No {kind}projects{where}. Type qi-nudge projects list to see them all."
