"""`qi-nudge teams channels` and `teams package`: setting the bot up on Microsoft Teams."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.output_files import database_files, write_output
from bot.runtime.settings import Settings
from bot.teams.package import (
    DEFAULT_DOMAIN,
    DEFAULT_OUT,
    DEFAULT_VERSION,
    PackageError,
    build_app_package,
    check_domain,
    check_version,
)
from handlers.core.context import Context
from handlers.core.errors import Refusal

PLATFORM = "teams"
NONE_YET = (
    "qi-nudge hasn't been added to a team yet, or nobody has written to it in a channel.\n"
    "Add the app to the forum's team in Teams (Apps, qi-nudge, Add to a team), then run this again."
)


def cmd_teams_channels(ctx: Context, args: argparse.Namespace) -> int:
    """Print each channel with the --channel value that names it, and the forums using it."""
    # Here, not at the top: `teams package` (in this module too) needs no database.
    from sqlalchemy import select

    from store import addresses
    from store.models import Forum

    with ctx.sessions() as session:
        channels = addresses.list_channels(session, PLATFORM)
        forums = {f.channel: f.name for f in session.scalars(select(Forum)) if f.channel}
    if not channels:
        print(NONE_YET)
        return 0
    for channel in channels:
        value = f"{PLATFORM}:{channel.channel_id}"
        used = f'  (announcements of "{forums[value]}")' if value in forums else ""
        print(f"{channel.name or 'A channel'}{used}\n    --channel {value}")
    print('\nTo announce a forum\'s meetings there: qi-nudge forum set "QI Forum" --channel ...')
    return 0


NO_APP_ID = (
    "TEAMS_APP_ID is not set, so there is no app to package yet. Create an Azure Bot "
    "(single-tenant) first, then set TEAMS_APP_ID, TEAMS_TENANT_ID and TEAMS_APP_PASSWORD "
    "(see 'Putting it on Teams' in the README) and run this again."
)


def cmd_teams_package(settings: Settings, args: argparse.Namespace) -> int:
    """Write the Teams app package (--out), for "Upload a custom app" or the admin centre."""
    if not settings.teams_app_id:
        print(NO_APP_ID, file=sys.stderr)
        return 1
    try:
        domain = check_domain(args.domain or DEFAULT_DOMAIN)
        version = check_version(args.version or DEFAULT_VERSION)
    except PackageError as error:
        print(error, file=sys.stderr)
        return 1
    out = Path(args.out or DEFAULT_OUT)
    package = build_app_package(settings.teams_app_id, domain=domain, version=version)
    try:
        # A package is rebuilt for each new version: it replaces the last one without --force.
        protected = database_files(settings.database_url)
        write_output(str(out), package, protected=protected, force=True)
    except Refusal as refusal:
        print(refusal.reply.text, file=sys.stderr)
        return 1
    print(f"Wrote {out}: the Teams app for bot {settings.teams_app_id}, version {version}.")
    if not args.domain:
        print(
            f"It names the example address {DEFAULT_DOMAIN}: give --domain with the address "
            "where Teams will reach the bot before you upload it."
        )
    print(
        "Upload it in Teams (Apps > Manage your apps > Upload an app) or in the Teams admin "
        "centre; raise --version each time you upload a changed one."
    )
    return 0
