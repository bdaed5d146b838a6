"""`qi-nudge teams channels`: the Teams channels the bot can post in, so nobody copies ids."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from handlers.core.context import Context
from store import addresses
from store.models import Forum

PLATFORM = "teams"
NONE_YET = (
    "qi-nudge hasn't been added to a team yet, or nobody has written to it in a channel.\n"
    "Add the app to the forum's team in Teams (Apps, qi-nudge, Add to a team), then run this again."
)


def cmd_teams_channels(ctx: Context, args: argparse.Namespace) -> int:
    """Print each channel with the --channel value that names it, and the forums using it."""
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
