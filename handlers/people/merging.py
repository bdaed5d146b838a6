"""Linking two records of one person (their Slack and Teams selves): checks, merge and summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core.errors import Refusal
from store import merging
from store.audit import record
from store.models import ChatIdentity, Person
from store.roles import Involvement, Role

PLATFORM_NAMES = {"slack": "Slack", "teams": "Microsoft Teams", "console": "the console"}
INVOLVEMENT_WORDS = {
    Involvement.TEAM_MEMBER: "a team member",
    Involvement.CONSULTED: "someone the team consults",
}


@dataclass(frozen=True)
class MergeResult:
    """What linking two people did: who stayed, who was merged in, and what moved."""

    kept_id: int
    kept_name: str
    merged_id: int
    merged_name: str
    accounts: list[str]
    moved: merging.Moved


def merge_people(session: Session, keep_id: int, merge_id: int, *, now: datetime) -> MergeResult:
    """Make `merge_id` part of `keep_id`: everything moves, and the merged record goes.

    Refuses, changing nothing, for the same person twice, an unknown number, or a project or
    forum both are on in different roles (only someone who knows them can say which is right).
    """
    if keep_id == merge_id:
        raise Refusal(f"That is #{keep_id} twice: there is nothing to link.")
    keep = _person(session, keep_id)
    merged = _person(session, merge_id)
    found = merging.clashes(session, keep_id, merge_id)
    if found:
        raise Refusal(_clash_text(keep, merged, found))
    accounts = [
        f"{PLATFORM_NAMES.get(platform, platform)} account"
        for platform in session.scalars(
            select(ChatIdentity.platform)
            .where(ChatIdentity.person_id == merge_id)
            .order_by(ChatIdentity.id)
        )
    ]
    kept_name, merged_name = keep.display_name, merged.display_name
    moved = merging.move_everything(session, keep, merged, now=now)
    record(
        session,
        at=now,
        actor_id=None,
        action="person.merged",
        subject_type="person",
        subject_id=keep_id,
        merged=merge_id,
    )
    return MergeResult(keep_id, kept_name, merge_id, merged_name, accounts, moved)


def _person(session: Session, person_id: int) -> Person:
    found = session.get(Person, person_id)
    if found is None:
        raise Refusal(f"There is nobody with the number #{person_id}.")
    return found


def _clash_text(keep: Person, merged: Person, found: list[merging.Clash]) -> str:
    """Why two records can't be linked yet, and what to do about it."""
    lines = [
        f"Nothing was changed. {keep.display_name} (#{keep.id}) and {merged.display_name} "
        f"(#{merged.id}) are both on these, in different ways:"
    ]
    for clash in found:
        kept = _as(clash.keep_role, clash.keep_involvement)
        other = _as(clash.merge_role, clash.merge_involvement)
        what = "team" if clash.place == "project" else "forum"
        lines.append(f'  "{clash.name}" {what}: {kept} (#{keep.id}), {other} (#{merged.id})')
    lines.append(
        "Ask them which is right. On the account that is wrong they can leave with /qi-leave "
        "(or change their role with /qi-join ... as ...); then link them again."
    )
    return "\n".join(lines)


def _as(role: Role | None, involvement: Involvement | None) -> str:
    label = role.label if role is not None else "no role given"
    return f"{label}, {INVOLVEMENT_WORDS[involvement]}" if involvement else label


def describe(result: MergeResult) -> list[str]:
    """What linking did, in plain English, one line each (only what there was)."""
    moved = result.moved
    lines = [
        f"Linked {result.merged_name} (#{result.merged_id}) into {result.kept_name} "
        f"(#{result.kept_id}); #{result.merged_id} no longer exists.",
        f"Moved to #{result.kept_id}:",
    ]
    lines.extend(f"  their {account}" for account in result.accounts)
    counted = [
        (moved.memberships, "project team record", "project team records"),
        (moved.forum_signups, "forum sign-up", "forum sign-ups"),
        (moved.rsvps, "meeting answer", "meeting answers"),
        (moved.match_offers, "project introduction", "project introductions"),
        (moved.admin_grants, "organiser role record", "organiser role records"),
        (moved.projects_led, "project they lead", "projects they lead"),
        (moved.deliveries, "message to them", "messages to them"),
    ]
    lines.extend(f"  {_count(n, one, many)}" for n, one, many in counted if n)
    if len(lines) == 2:
        lines.append("  nothing else")
    twice = [
        (moved.memberships_combined, "Both were on {}: the earlier joining is kept.", "team"),
        (moved.forum_signups_combined, "Both were signed up to {}: kept once.", "forum"),
        (moved.rsvps_combined, "Both answered {}: the more recent answer is kept.", "meeting"),
        (
            moved.match_offers_combined,
            "Both were introduced to {}: the latest introduction is kept.",
            "project",
        ),
    ]
    lines.extend(text.format(_count(n, noun, noun + "s")) for n, text, noun in twice if n)
    waiting = [
        (moved.deliveries_withdrawn, "dropped: the same message was already going to them."),
        (
            moved.deliveries_combined,
            "combined with one already going to them: it now covers what both were about.",
        ),
        (
            moved.deliveries_superseded,
            "dropped: a different message of the same kind, for the same week or meeting, was "
            "already planned for them.",
        ),
    ]
    lines.extend(
        f"{_count(n, 'waiting message', 'waiting messages')} {text}" for n, text in waiting if n
    )
    return lines


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"
