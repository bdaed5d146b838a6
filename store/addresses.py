"""Where the bot can reach people and channels on platforms that hand out addresses (Teams)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.models import ChatAddress, ChatChannel
from store.upsert import insert_for


def remember_address(
    session: Session,
    *,
    platform: str,
    workspace: str,
    user_id: str,
    address: dict[str, Any],
    now: datetime,
    dm_channel: str | None = None,
    email_sha256: str | None = None,
) -> None:
    """Keep (or refresh) how to reach a user; a known 1:1 conversation or digest is kept."""
    values: dict[str, Any] = {"address": address, "updated_at": now}
    if dm_channel is not None:
        values["dm_channel"] = dm_channel
    if email_sha256 is not None:
        values["email_sha256"] = email_sha256
    # One statement: two first messages at once must not fail on the unique key.
    statement = insert_for(session, ChatAddress.__table__).values(
        platform=platform, workspace=workspace, user_id=user_id, **values
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["platform", "workspace", "user_id"], set_=values
        )
    )


def address_of(session: Session, platform: str, workspace: str, user_id: str) -> ChatAddress | None:
    """How to reach this user, if they ever installed or messaged the bot."""
    return session.scalar(
        select(ChatAddress).where(
            ChatAddress.platform == platform,
            ChatAddress.workspace == workspace,
            ChatAddress.user_id == user_id,
        )
    )


def address_with_chat(session: Session, platform: str, dm_channel: str) -> ChatAddress | None:
    """The address whose 1:1 conversation this is (rarely asked: after a restart, or a 403)."""
    return session.scalar(
        select(ChatAddress).where(
            ChatAddress.platform == platform, ChatAddress.dm_channel == dm_channel
        )
    )


def set_dm_channel(session: Session, address_id: int, dm_channel: str | None) -> None:
    """Record (or, with None, forget) the 1:1 conversation with a user."""
    session.execute(
        update(ChatAddress).where(ChatAddress.id == address_id).values(dm_channel=dm_channel)
    )


def forget_address(session: Session, address_id: int) -> None:
    """Delete how to reach a user (erasure of someone known by nothing more)."""
    session.execute(delete(ChatAddress).where(ChatAddress.id == address_id))


def remember_channel(
    session: Session,
    *,
    platform: str,
    workspace: str,
    channel_id: str,
    name: str | None,
    address: dict[str, Any],
    now: datetime,
) -> None:
    """Note a channel the bot can post in (added to its team, or spoken to there)."""
    values: dict[str, Any] = {"address": address, "removed_at": None}
    if name:
        values["name"] = name
    statement = insert_for(session, ChatChannel.__table__).values(
        platform=platform,
        workspace=workspace,
        channel_id=channel_id,
        added_at=now,
        **values,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["platform", "workspace", "channel_id"], set_=values
        )
    )


def forget_channels(
    session: Session, *, platform: str, workspace: str, team_id: str, now: datetime
) -> int:
    """Mark every channel of a team as removed (the bot was taken out of it); how many."""
    rows = session.scalars(
        select(ChatChannel).where(
            ChatChannel.platform == platform,
            ChatChannel.workspace == workspace,
            ChatChannel.removed_at.is_(None),
        )
    )
    gone = [row for row in rows if row.address.get("teamId") == team_id]
    for row in gone:
        row.removed_at = now
    return len(gone)


def channel_of(session: Session, platform: str, channel_id: str) -> ChatChannel | None:
    """A channel the bot was added to (still there or not), by its id."""
    return session.scalar(
        select(ChatChannel)
        .where(ChatChannel.platform == platform, ChatChannel.channel_id == channel_id)
        .order_by(ChatChannel.added_at.desc())
        .limit(1)
    )


def list_channels(session: Session, platform: str) -> list[ChatChannel]:
    """The channels the bot is in on a platform, by team and name."""
    return list(
        session.scalars(
            select(ChatChannel)
            .where(ChatChannel.platform == platform, ChatChannel.removed_at.is_(None))
            .order_by(ChatChannel.name, ChatChannel.channel_id)
        )
    )
