"""The `qi-nudge` command: the console by default, and the admin jobs as subcommands."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

# Nothing heavy at the top: `qi-nudge --help` and a mistyped option need only argparse. Each
# subcommand imports what it uses when it runs (SQLAlchemy, Alembic, Slack, APScheduler...).
if TYPE_CHECKING:
    from bot.runtime.settings import Settings
    from handlers.core.context import Context

log = logging.getLogger(__name__)

Command = Callable[["Context", argparse.Namespace], int]


@dataclass(frozen=True)
class LazyCommand:
    """A subcommand's function named by module and name, imported only when it is called."""

    module: str
    name: str

    def __call__(self, ctx: Context, args: argparse.Namespace) -> int:
        """Import the function, and run it."""
        command: Command = getattr(importlib.import_module(self.module), self.name)
        return command(ctx, args)


def _in(group: str, name: str) -> LazyCommand:
    """The command `name` of the module bot.cli.<group>, imported only when it runs."""
    return LazyCommand(f"bot.cli.{group}", name)


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand and its options."""
    parser = argparse.ArgumentParser(
        prog="qi-nudge",
        description="A chat bot that helps QI projects involve service users and carers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    console = sub.add_parser("console", help="try the bot in this terminal (the default)")
    console.add_argument("--as", dest="as_name", metavar="NAME", help="act as this person")
    console.add_argument(
        "--demo", action="store_true", help="fill an empty database with an example trust first"
    )

    sub.add_parser("demo", help="fill an empty database with an example trust")
    sub.add_parser(
        "serve", help="run the bot on Slack, Teams or both: web server, scheduler and sender"
    )

    sub.add_parser(
        "check", help="after installing or any change: is everything working? (line by line)"
    )

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade", "current"])

    imp = sub.add_parser("import-projects", help="load projects from a CSV project register")
    imp.add_argument("file")
    imp.add_argument("--strict", action="store_true", help="load nothing if any row is bad")
    imp.set_defaults(handler=_in("projects", "cmd_import_projects"))

    exp = sub.add_parser(
        "export",
        help="write projects (with their leads), memberships (with role changes) or forum "
        "sign-ups as CSV, with local dates",
    )
    exp.add_argument("what", choices=["projects", "memberships", "signups"])
    exp.add_argument("--out", metavar="FILE", help="write here instead of the screen")
    exp.add_argument("--force", action="store_true", help="replace the file if it is already there")
    exp.set_defaults(handler=_in("projects", "cmd_export"))

    projects = sub.add_parser("projects", help="list the projects, as the register loaded them")
    projects_sub = projects.add_subparsers(dest="action", required=True)
    projects_list = projects_sub.add_parser("list", help="every project, its lead and team")
    projects_list.add_argument("--site", help="only this site's projects")
    projects_list.add_argument("--status", help="only these: active, on hold, completed, stopped")
    projects_list.set_defaults(handler=_in("projects", "cmd_projects_list"))

    forum = sub.add_parser("forum", help="add, list, set or check forums, and their members")
    forum_sub = forum.add_subparsers(dest="action", required=True)
    forum_add = forum_sub.add_parser("add", help="add a forum")
    forum_add.add_argument("name")
    forum_add.add_argument("--channel", help="where announcements go, e.g. slack:C0123")
    forum_add.set_defaults(handler=_in("forums", "cmd_forum_add"))
    forum_sub.add_parser("list", help="list forums").set_defaults(
        handler=_in("forums", "cmd_forum_list")
    )
    forum_set = forum_sub.add_parser("set", help="a forum's channel and announcement times")
    forum_set.add_argument("name")
    forum_set.add_argument("--channel", help='e.g. slack:C0123 ("" for none)')
    forum_set.add_argument("--announce", help="times before each meeting, e.g. 7d,1d,0")
    forum_set.add_argument(
        "--public-signup", choices=["on", "off"], help="whether anyone may sign up on its web page"
    )
    forum_set.set_defaults(handler=_in("forums", "cmd_forum_set"))
    add_member = forum_sub.add_parser(
        "add-member", help="add someone who isn't on chat, reached by e-mail or text"
    )
    add_member.add_argument("name", help='their name, e.g. "Sam Jones"')
    reach = add_member.add_mutually_exclusive_group(required=True)
    reach.add_argument("--email", metavar="ADDRESS")
    reach.add_argument("--text", metavar="NUMBER", help="a mobile number, e.g. 07700 900123")
    add_member.add_argument("--role", help="staff, service user, carer, peer supporter, other")
    add_member.add_argument(
        "--consent", action="store_true", help="they agreed to hear about the forum this way"
    )
    add_member.add_argument("--forum", help="which forum (needed when there are several)")
    add_member.set_defaults(handler=_in("outside_members", "cmd_forum_add_member"))
    members = forum_sub.add_parser("members", help="who is in a forum and how each is reached")
    members.add_argument("--forum", help="which forum (needed when there are several)")
    members.set_defaults(handler=_in("outside_members", "cmd_forum_members"))
    remove_member = forum_sub.add_parser(
        "remove-member", help="take someone who isn't on chat off a forum"
    )
    remove_member.add_argument("name")
    which = remove_member.add_mutually_exclusive_group()
    which.add_argument("--email", metavar="ADDRESS", help="to choose between two of one name")
    which.add_argument("--text", metavar="NUMBER", help="to choose between two of one name")
    remove_member.add_argument("--forum", help="which forum (needed when there are several)")
    remove_member.set_defaults(handler=_in("outside_members", "cmd_forum_remove_member"))
    import_members = forum_sub.add_parser(
        "import-members", help="add members from a CSV: name,method,address,role,consent"
    )
    import_members.add_argument("file")
    import_members.add_argument("--forum", help="which forum (needed when there are several)")
    import_members.add_argument(
        "--dry-run", action="store_true", help="say what each row would do, and save nothing"
    )
    import_members.set_defaults(handler=_in("outside_members", "cmd_forum_import_members"))
    forum_sub.add_parser(
        "check", help="whether qi-nudge can post in each forum's channel"
    ).set_defaults(handler=_in("forums", "cmd_forum_check"))

    meeting = sub.add_parser("meeting", help="add, list, move, cancel or un-cancel forum meetings")
    meeting_sub = meeting.add_subparsers(dest="action", required=True)
    meeting_add = meeting_sub.add_parser("add", help="add a meeting")
    meeting_add.add_argument(
        "--at",
        required=True,
        help='local time, day first: "YYYY-MM-DD HH:MM", "3/12/2026 14:00" or "3 Dec 2pm"',
    )
    meeting_add.add_argument("--forum", help="which forum (needed when there are several)")
    meeting_add.add_argument("--location")
    meeting_add.set_defaults(handler=_in("forums", "cmd_meeting_add"))
    meeting_sub.add_parser("list", help="upcoming meetings and their numbers").set_defaults(
        handler=_in("forums", "cmd_meeting_list")
    )
    meeting_cancel = meeting_sub.add_parser("cancel", help="cancel a meeting and tell people")
    meeting_cancel.add_argument("id", type=int, help="the meeting's number (see meeting list)")
    meeting_cancel.set_defaults(handler=_in("forums", "cmd_meeting_change"))
    meeting_move = meeting_sub.add_parser("move", help="move a meeting and tell people")
    meeting_move.add_argument("id", type=int, help="the meeting's number (see meeting list)")
    meeting_move.add_argument(
        "--at",
        required=True,
        help='new local time, day first: "YYYY-MM-DD HH:MM" or "10 Dec 2pm"',
    )
    meeting_move.set_defaults(handler=_in("forums", "cmd_meeting_change"))
    meeting_uncancel = meeting_sub.add_parser(
        "uncancel", help="bring back a cancelled meeting and tell people"
    )
    meeting_uncancel.add_argument("id", type=int, help="the meeting's number (see meeting list)")
    meeting_uncancel.set_defaults(handler=_in("forums", "cmd_meeting_change"))

    admin = sub.add_parser("admin", help="grant, revoke or list the admin role")
    admin.add_argument("action", choices=["grant", "revoke", "list"])
    admin.add_argument("person", nargs="?", help='e.g. "console:Asha Patel", slack:T1:U1, #12')
    admin.set_defaults(handler=_in("people", "cmd_admin"))

    person = sub.add_parser("person", help="export, erase or link one person's data")
    person.add_argument("action", choices=["export", "erase", "link"])
    person.add_argument("person", help='e.g. "Asha Patel", slack:T1:U1, asha@nhs.net, #12')
    person.add_argument(
        "other", nargs="?", help="link: the same person's other record, merged into the first"
    )
    person.add_argument("--out", metavar="FILE", help="export: write here")
    person.add_argument("--force", action="store_true", help="export: replace the --out file")
    person.add_argument("--yes", action="store_true", help="erase or link: yes, really")
    person.set_defaults(
        handler_by_action={
            "export": _in("people", "cmd_person_export"),
            "erase": _in("people", "cmd_person_erase"),
            "link": _in("people", "cmd_person_link"),
        }
    )
    remind = sub.add_parser("remind", help="the weekly reminder to leads: preview or run now")
    when_group = remind.add_mutually_exclusive_group(required=True)
    when_group.add_argument(
        "--dry-run", action="store_true", help="show who would be reminded and why"
    )
    when_group.add_argument("--now", action="store_true", help="run this week's reminder now")
    remind.add_argument(
        "--show", action="store_true", help="with --dry-run: print each message as it would be sent"
    )
    remind.set_defaults(handler=_in("reminders", "cmd_remind"))

    sub.add_parser(
        "run-due", help="send what is due now: meeting announcements, this week's reminder"
    ).set_defaults(handler=_in("reminders", "cmd_run_due"))

    deliveries = sub.add_parser("deliveries", help="messages the bot sent on its own")
    deliveries.add_argument("--failed", action="store_true", help="only those that failed")
    deliveries.add_argument("--limit", type=int, default=50, help="how many (newest first)")
    deliveries.set_defaults(handler=_in("reminders", "cmd_deliveries"))

    stats = sub.add_parser("stats", help="the headline and run chart, outside chat")
    stats.add_argument("--chart", metavar="FILE.png", help="write the run chart here")
    stats.add_argument("--csv", metavar="FILE", help="write every week's figures here")
    stats.add_argument(
        "--force", action="store_true", help="replace the --chart or --csv file if it is there"
    )
    stats.add_argument("--site", help="one site's projects instead of all")
    stats.add_argument(
        "--forum", nargs="?", const="", help="attendance at a forum's meetings instead"
    )
    stats.add_argument(
        "--backfill", action="store_true", help="first work out past weeks from history"
    )
    stats.add_argument(
        "--since",
        metavar="DATE",
        help="back-fill from this date (YYYY-MM-DD, or day first: 2/3/2026, 2 Mar)",
    )
    stats.add_argument(
        "--replace", action="store_true", help="back-fill over weeks already recorded"
    )
    stats.add_argument(
        "--involvement", action="store_true", help="how involved service users and carers feel"
    )
    stats.set_defaults(handler=_in("stats", "cmd_stats"))

    teams = sub.add_parser("teams", help="Microsoft Teams: the app package, and its channels")
    teams_sub = teams.add_subparsers(dest="action", required=True)
    teams_sub.add_parser(
        "channels", help="the channels qi-nudge was added to, with their --channel values"
    )
    package = teams_sub.add_parser("package", help="write the Teams app package (a zip)")
    package.add_argument("--out", metavar="FILE", help="where to write it (qi-nudge-teams.zip)")
    package.add_argument("--domain", metavar="HOST", help="where Teams reaches the bot")
    package.add_argument("--version", metavar="X.Y.Z", help="the app's version (1.0.0)")
    return parser


def run_demo(ctx: Context) -> None:
    """Seed the example trust if the database is empty, and say what happened."""
    from handlers.core.wording import when
    from handlers.demo import is_empty, seed_example_trust

    if not is_empty(ctx):
        print("The database already has data, so no example data was added.")
        return
    summary = seed_example_trust(ctx)
    print(
        f"Added an example trust: {summary.projects} projects, {summary.people} people, and a "
        f"forum meeting on {when(summary.meeting_at, ctx.timezone)}."
    )


def run_console(ctx: Context, args: argparse.Namespace, settings: Settings) -> int:
    """The console transport on stdin and stdout."""
    import getpass

    from bot.console.terminal import Console, console_actor
    from handlers.demo import DEMO_ADMIN
    from handlers.dispatch import Dispatcher

    if args.demo:
        run_demo(ctx)
    name = args.as_name or (DEMO_ADMIN if args.demo else getpass.getuser().title())
    console = Console(
        Dispatcher(ctx),
        console_actor(name),
        sys.stdin,
        sys.stdout,
        bold=sys.stdout.isatty(),
        echo=not sys.stdin.isatty(),
        nudge_policy=settings.nudge_policy,  # :remind runs the reminder `serve` would
        live_platforms=tuple(
            name
            for name, on in (("Slack", settings.has_slack), ("Teams", settings.has_teams))
            if on
        ),
    )
    return console.run()


def dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """Run the chosen subcommand."""
    command = args.command or "console"
    if command == "teams" and args.action == "package":
        from bot.cli.teams import cmd_teams_package  # no database, no Teams SDK needed

        return cmd_teams_package(settings, args)
    if command == "check":
        from bot.cli.check import cmd_check  # checks the database itself: never migrates

        return cmd_check(settings)
    from bot.runtime.startup import build_context, open_database

    engine = open_database(settings, migrate=command != "db")
    ctx = build_context(settings, engine)
    if command == "db":
        from store.migrate import current_revision, upgrade

        if args.action == "upgrade":
            upgrade(engine)
        print(f"Database schema: {current_revision(engine) or 'empty'}")
        return 0
    if command == "demo":
        run_demo(ctx)
        return 0
    if command == "console":
        return run_console(ctx, args, settings)
    if command == "serve":
        from bot.runtime.serve import run_serve  # Slack and the web server load only when serving

        return run_serve(settings, engine, ctx)
    if command == "teams":
        from bot.cli.teams import cmd_teams_channels

        return cmd_teams_channels(ctx, args)
    handler: Command = args.handler_by_action[args.action] if command == "person" else args.handler
    args.settings = settings  # the import step links leads on Slack when Slack is configured
    return handler(ctx, args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `qi-nudge` command."""
    parser = build_parser()
    args = parser.parse_args(argv)  # --help and mistakes end here, before anything heavy loads
    if args.command is None:
        args.as_name, args.demo = None, False
    from sqlalchemy.exc import OperationalError

    from bot.runtime.settings import SettingsError, load_settings
    from bot.runtime.startup import CONSOLE_LOG_FILE, configure_logging
    from handlers.core.errors import Refusal

    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    # The console shares the terminal with the person typing: its logs (and any traceback)
    # go to a file, as they would go to IT's log store behind a chat platform.
    console = args.command in (None, "console")
    configure_logging(settings, to_file=CONSOLE_LOG_FILE if console else None)
    try:
        status = dispatch(settings, args)
        sys.stdout.flush()  # here, so that a closed pipe is noticed below, not at exit
        return status
    except BrokenPipeError:
        # `qi-nudge person export X | head -1`: whatever read the output stopped reading.
        # Python would complain again when it flushes at exit: point stdout at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("The output was cut short: what was reading it stopped.", file=sys.stderr)
        return 1
    except Refusal as refusal:
        print(refusal.reply.text, file=sys.stderr)
        return 1
    except OperationalError as error:
        log.debug("database error", exc_info=True)
        print(f"Could not use the database: {error.orig}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
