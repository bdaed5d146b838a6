"""`qi-nudge forum add-member`, `members`, `remove-member`, `import-members`: people outside chat.

The operator at the command line is trusted with full addresses; nothing here logs one.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import find_forum
from handlers.core.wording import plural
from handlers.forum.outside_members import (
    ADDED,
    JOINED,
    ROLE_CHANGED,
    SAME,
    Change,
    add_outside_member,
    consent_needed,
    members_reply,
    read_method,
    remove_outside_member,
)
from handlers.projects.register_import import decode_register
from store import contacts, erasure
from store.contacts import EMAIL, TEXT, BadAddress
from store.models import Forum
from store.roles import Role, parse_role, role_list_text

ADD_EXAMPLE = (
    'qi-nudge forum add-member "Sam Jones" --email sam.jones@example.org --role carer --consent'
)
COLUMNS = ("name", "method", "address", "role", "consent")
# A members file bigger than this is not a list of people.
MAX_FILE_BYTES = 5_000_000


def _way(args: argparse.Namespace) -> tuple[str, str] | None:
    """(method, address) from --email or --text, if either was given."""
    if getattr(args, "email", None):
        return EMAIL, args.email
    if getattr(args, "text", None):
        return TEXT, args.text
    return None


def _role(text: str | None) -> Role | None:
    if not (text or "").strip():
        return None
    role = parse_role(text or "")
    if role is None:
        raise Refusal(f'I don\'t know the role "{text}". The roles are: {role_list_text()}.')
    return role


def _refresh(ctx: Context, args: argparse.Namespace, change: Change) -> None:
    """Edit the forum channel's announcements whose counts the change altered."""
    if not change.refresh:
        return
    from bot.cli.reminders import build_deliverer, summary

    deliverer = build_deliverer(ctx, args.settings)
    deliverer.refresh(change.refresh)
    outcomes = deliverer.drain()
    if outcomes:
        print(summary(outcomes))


def cmd_forum_add_member(ctx: Context, args: argparse.Namespace) -> int:
    """Add someone not on chat to a forum, reached by e-mail or text, once they have agreed."""
    way = _way(args)
    if way is None:
        raise Refusal(f"Please give --email or --text, like this: {ADD_EXAMPLE}")
    method, address = way
    if not args.consent:
        raise Refusal(consent_needed(args.name, method, ADD_EXAMPLE))
    role = _role(args.role)
    with ctx.sessions.begin() as session:
        forum = find_forum(session, args.forum or "")
        change = add_outside_member(
            session,
            ctx,
            forum,
            name=args.name,
            method=method,
            address=address,
            role=role,
            recorded_by_id=None,
            masked=False,
        )
    print(change.text)
    _refresh(ctx, args, change)
    return 0


def cmd_forum_members(ctx: Context, args: argparse.Namespace) -> int:
    """Who is in a forum and how each is reached, with full addresses."""
    with ctx.sessions() as session:
        forum = find_forum(session, args.forum or "")
        print("\n".join(members_reply(session, ctx, forum, masked=False)))
    return 0


def cmd_forum_remove_member(ctx: Context, args: argparse.Namespace) -> int:
    """Take someone not on chat off a forum; with no other forum, they get no more messages."""
    with ctx.sessions.begin() as session:
        forum = find_forum(session, args.forum or "")
        change = remove_outside_member(
            session, ctx, forum, args.name, removed_by_id=None, at=_way(args)
        )
    print(change.text.replace("/qi-forum add-member", "qi-nudge forum add-member"))
    _refresh(ctx, args, change)
    return 0


@dataclass(frozen=True)
class RowResult:
    """What became of one row of a members file."""

    line: int
    name: str
    outcome: str  # ADDED, JOINED, ROLE_CHANGED, SAME, or SKIPPED
    why: str = ""
    method: str | None = None


SKIPPED = "skipped"
SAID = {
    ADDED: "added",
    JOINED: "already reached at that address: added to this forum",
    ROLE_CHANGED: "already a member at that address: role changed",
    SAME: "already a member at that address: nothing changed",
}
WOULD = {
    ADDED: "would be added",
    JOINED: "already reached at that address: would be added to this forum",
    ROLE_CHANGED: "already a member at that address: role would change",
    SAME: "already a member at that address: nothing would change",
}


def cmd_forum_import_members(ctx: Context, args: argparse.Namespace) -> int:
    """Add forum members from a CSV (name,method,address,role,consent), row by row."""
    rows = _read_members_file(Path(args.file))
    with ctx.sessions() as session:
        forum = find_forum(session, args.forum or "")
        results = [_import_row(session, ctx, forum, line, row) for line, row in rows]
        if args.dry_run:
            session.rollback()
        else:
            session.commit()
    said = WOULD if args.dry_run else SAID
    for result in results:
        outcome = f"skipped: {result.why}" if result.outcome == SKIPPED else said[result.outcome]
        print(f"line {result.line}, {result.name or '(no name)'}: {outcome}")
    counts = Counter(r.outcome for r in results)
    verb = "Would add" if args.dry_run else "Added"
    print(
        f"{verb} {counts[ADDED]} new; {counts[JOINED] + counts[ROLE_CHANGED] + counts[SAME]} "
        f"already reached; {plural(counts[SKIPPED], 'row')} skipped"
        + (" (nothing was saved: --dry-run)." if args.dry_run else ".")
    )
    unreachable = {
        r.method for r in results if r.outcome == ADDED and r.method not in ctx.outside_methods
    }
    if unreachable:
        what = " and ".join("e-mail" if m == EMAIL else "texts" for m in sorted(unreachable))
        print(f"Nothing reaches them by {what} until it is set up here (see the README).")
    return 1 if counts[SKIPPED] else 0


def _read_members_file(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The file's rows with their line numbers; a Refusal says kindly what is wrong with it."""
    if not path.is_file():
        raise Refusal(
            f"There is no file at {path}. Check the name and the folder, for example: "
            "qi-nudge forum import-members ./members.csv"
        )
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise Refusal(
                f"{path.name} is far bigger than a list of members. Is it the right file?"
            )
        text = decode_register(path.read_bytes()).replace("\0", "")
    except OSError as error:
        raise Refusal(f"I couldn't open {path}: {error.strerror or error}.") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        headers = [(h or "").strip().casefold() for h in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in headers]
        if missing:
            raise Refusal(
                f"{path.name} needs the columns {', '.join(COLUMNS)} in its first line; "
                f"it has no {', '.join(missing)}.{_separator_hint(headers)}"
            )
        reader.fieldnames = headers
        rows = []
        for row in reader:
            cells = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
            if any(cells.values()):
                rows.append((reader.line_num, cells))
    except csv.Error as error:
        # A cell far too long, or quotes that never close: nothing of the file is added.
        raise Refusal(
            f"I couldn't read {path.name} as a CSV file (line {reader.line_num}: {error}). "
            "Nothing was added. Save it again as CSV from the spreadsheet and try again."
        ) from None
    return rows


def _separator_hint(headers: list[str]) -> str:
    """A word about semicolons or tabs, when the first line was one column holding them."""
    if len(headers) == 1 and any(mark in headers[0] for mark in (";", "\t")):
        return " Its columns look separated by semicolons or tabs: save it as CSV with commas."
    return ""


def _import_row(
    session: Session, ctx: Context, forum: Forum, line: int, row: dict[str, str]
) -> RowResult:
    """One row, in a savepoint of its own: a row that cannot be added changes nothing."""
    name = row.get("name", "")

    def skipped(why: str) -> RowResult:
        return RowResult(line, name, SKIPPED, why)

    if not name:
        return skipped("it has no name")
    if row.get("consent", "").casefold() != "yes":
        return skipped(
            'consent must be "yes", once they have agreed to hear about the forum this way'
        )
    method = read_method(row.get("method", ""))
    if method is None:
        return skipped('method must be "email" or "text"')
    try:
        role = _role(row.get("role"))
        address = contacts.tidy_address(method, row.get("address", ""))
    except (Refusal, BadAddress) as error:
        return skipped(error.reply.text if isinstance(error, Refusal) else str(error))
    erased, _ = erasure.erased_among(session, email_sha256s=[contacts.address_digest(address)])
    if erased:
        return skipped(
            "someone at this address asked for their details to be erased, so they are not "
            "added again from a file. If they have asked to be added, use qi-nudge forum "
            "add-member"
        )
    known = contacts.contact_at(session, method, address)
    if known is not None and known.stopped_at is not None:
        # A list is no sign they changed their mind: only a check with them turns it back on.
        return skipped(
            "they asked for no more messages, so a file does not turn them back on. If they "
            "have asked to hear again, use qi-nudge forum add-member"
        )
    try:
        with session.begin_nested():
            change = add_outside_member(
                session,
                ctx,
                forum,
                name=name,
                method=method,
                address=address,
                role=role,
                recorded_by_id=None,
                masked=False,
            )
    except Refusal as refusal:
        return skipped(refusal.reply.text)
    return RowResult(line, name, change.outcome, method=method)
