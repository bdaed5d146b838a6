"""`qi-nudge admin` and `person`: who organises, and one person's data: export, erase, link."""

from __future__ import annotations

import argparse
import json

from bot.cli.output_files import database_files_of, open_output
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.people import merging, personal_data
from store import people
from store.audit import record
from store.engine import checkpoint_sqlite


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
