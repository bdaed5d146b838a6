"""Finding the project, forum or person a command is about, or saying kindly why not."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from handlers.core.args import parse_id
from handlers.core.context import Context
from handlers.core.errors import NotFound, Refusal
from handlers.core.matching import Named, match_name, match_project_name, with_shared_words
from handlers.core.reply import Actor
from handlers.core.wording import did_you_mean
from store import forums as forum_store
from store import people
from store.audit import record
from store.models import Forum, Person, Project
from store.names import clean_name, name_key
from store.projects import OPEN_STATUSES, find_by_key
from store.roles import Role, parse_role, role_list_text

M = TypeVar("M")

NO_FORUM = (
    "There is no QI forum set up here yet. Please ask your trust's QI team: whoever looks after "
    "qi-nudge for your trust can add one."
)
FORUM_WORDS = frozenset({"forum", "the forum", "qi forum", "the qi forum"})


# Platforms whose display names the bot may trust to say who someone is. Slack and Teams let
# people choose their own names, so a name there must never hand over someone's projects.
NAME_TRUSTED_PLATFORMS = frozenset({"console"})


def acting_person(session: Session, ctx: Context, actor: Actor) -> Person:
    """The person behind the actor, created on first contact (or linked to their other self)."""
    digest = people.email_digest(actor.verified_email)
    today = ctx.now().astimezone(ctx.timezone).date()
    found = people.find_identity(session, actor.platform, actor.workspace, actor.user_id)
    if found is not None:
        # The common case, in one query: keep their name as their platform shows it now, and
        # their address digest and active day (compared in memory; written only on a change).
        identity, known = found
        name = clean_name(actor.display_name) or actor.user_id
        if actor.name_verified and known.display_name != name:
            known.display_name = name
        people.note_activity(identity, email_sha256=digest, today=today)
        return known
    owner, via = _same_person_elsewhere(session, actor, digest)
    if owner is not None and people.link_identity(
        session,
        owner,
        platform=actor.platform,
        workspace=actor.workspace,
        user_id=actor.user_id,
        email_sha256=digest,
        active_on=today,
    ):
        record(
            session,
            at=ctx.now(),
            actor_id=owner.id,
            action="person.identity_linked",
            subject_type="person",
            subject_id=owner.id,
            platform=actor.platform,
            via=via,
        )
    return people.ensure_person_for_identity(
        session,
        platform=actor.platform,
        workspace=actor.workspace,
        user_id=actor.user_id,
        display_name=actor.display_name,
        now=ctx.now(),
        email_sha256=digest,
        active_on=today,
    )


def _same_person_elsewhere(
    session: Session, actor: Actor, digest: str | None
) -> tuple[Person | None, str]:
    """Who a new chat identity already is, if the platform proves it: (person, how we know)."""
    lead = people.find_unlinked_lead(
        session,
        email=actor.verified_email,
        name=actor.display_name if actor.platform in NAME_TRUSTED_PLATFORMS else None,
    )
    if lead is not None:
        # A lead imported from the project register, now using chat: the same person.
        return lead, "imported_lead"
    if digest is not None:
        # Someone already here from another platform with the same verified address. Names
        # are never used for this: on Slack and Teams people choose their own.
        return people.find_by_email_digest(session, digest, not_on=actor.platform), "email"
    return None, ""


def known_person(session: Session, actor: Actor) -> Person | None:
    """The person behind the actor if we know them; looking around stores nothing about anyone."""
    known = people.find_by_identity(session, actor.platform, actor.workspace, actor.user_id)
    digest = people.email_digest(actor.verified_email)
    if known is None and digest is not None:
        # Someone we know from another platform, looking before they have done anything here:
        # show them their own projects without storing anything yet.
        return people.find_by_email_digest(session, digest, not_on=actor.platform)
    return known


def find_project(session: Session, text: str, *, open_only: bool = True) -> Project:
    """The project the person named, forgivingly; a Refusal naming the closest ones if unsure."""
    if not name_key(text):
        raise Refusal(
            "Which project? Type its name, for example: /qi-join Falls prevention as carer"
        )
    # Fast path: the exact name (any case or spacing) is one indexed lookup.
    exact = find_by_key(session, name_key(text))
    if exact is not None:
        return ensure_open(exact) if open_only else exact
    return match_project(session, text, open_only=open_only)


def match_project(session: Session, text: str, *, open_only: bool = True) -> Project:
    """The project a loosely typed name means (the exact name was already tried)."""
    key = name_key(text)
    # Match among projects taking members first, so a finished "Falls audit 2024" does not make
    # "falls" ambiguous; only then look at the rest, to explain why a name cannot be joined.
    match = match_project_name(session, key, OPEN_STATUSES, typos=False) if open_only else None
    if match is None or match.found is None:
        match = match_project_name(session, key, None, typos=True)
    if match.found is None:
        if match.ambiguous:
            raise NotFound(
                f'More than one project matches "{text}".{did_you_mean(match.candidates)} '
                "Type a little more of the name.",
                typed=text,
                suggestions=match.candidates,
            )
        statuses = OPEN_STATUSES if open_only else None
        candidates = with_shared_words(session, key, statuses, match.candidates)
        raise NotFound(
            f'I couldn\'t find a project called "{text}".{did_you_mean(candidates)} '
            "Type /qi-projects to see them all.",
            typed=text,
            suggestions=candidates,
        )
    project = session.get(Project, match.found.id)
    assert project is not None
    return ensure_open(project) if open_only else project


def find_forum(session: Session, text: str = "") -> Forum:
    """The forum named, or the only one there is; a Refusal when it is not clear which."""
    forums = forum_store.list_forums(session)
    if not forums:
        raise Refusal(NO_FORUM)
    key = name_key(text)
    exact = [f for f in forums if f.name_key == key]
    if key and exact:
        return exact[0]  # a forum really called "QI Forum" is meant, not "whichever forum"
    if not key or key in FORUM_WORDS:
        if len(forums) == 1:
            return forums[0]
        names = ", ".join(f'"{f.name}"' for f in forums)
        raise Refusal(f"There are {len(forums)} forums: {names}. Please say which one.")
    match = match_name(text, [Named(f.name, f) for f in forums])
    if match.found is None:
        raise Refusal(f'I couldn\'t find a forum called "{text}".{did_you_mean(match.candidates)}')
    return match.found


def _forum_words(text: str) -> str | None:
    """The forum's own name within "forum South" / "the South forum", or None if not a forum."""
    key = name_key(text)
    if key in FORUM_WORDS:
        return ""
    for prefix in ("the qi forum ", "qi forum ", "the forum ", "forum "):
        if key.startswith(prefix):
            return key.removeprefix(prefix)
    return None


def says_forum(text: str) -> bool:
    """Whether the words themselves say "forum" ("forum", "forum South"), with no lookup."""
    return _forum_words(text) is not None


def means_forum(session: Session, text: str) -> bool:
    """Whether the words name a forum: "forum", "forum South", or a forum's own name."""
    key = name_key(text)
    rest = _forum_words(text)
    if rest == "":
        return True
    forums = forum_store.list_forums(session)
    if any(f.name_key == key for f in forums):
        return True
    # "forum south" for "South QI Forum": the word "forum" says it; the rest must fit one forum.
    return (
        rest is not None and match_name(rest, [Named(f.name, f) for f in forums]).found is not None
    )


def forum_name_from(text: str) -> str:
    """Drop a leading "forum" so "forum South" finds the forum called "South QI Forum"."""
    rest = _forum_words(text)
    return text if rest is None else rest


def ensure_open(project: Project) -> Project:
    """Refuse if the project has finished or stopped."""
    if project.status not in OPEN_STATUSES:
        raise Refusal(
            f'"{project.name}" is {project.status.label}, so it is not taking new members. '
            "Type /qi-projects to see the active projects."
        )
    return project


def require_role(words: list[str] | None, *, example: str) -> Role:
    """The role typed after "as"; a Refusal listing the roles if it is missing or unknown."""
    text = " ".join(words or [])
    role = parse_role(text) if text else None
    if role is None:
        start = f'I don\'t know the role "{text}". ' if text else ""
        raise Refusal(f"{start}The roles are: {role_list_text()}. For example: {example}")
    return role


def require_admin(session: Session, person: Person) -> None:
    """Refuse unless the person is a forum organiser (admin)."""
    if not people.is_admin(session, person.id):
        raise Refusal(
            "Only QI forum organisers can do that. If you think you should be one, ask whoever "
            "looks after qi-nudge for your trust."
        )


def require_lead_or_admin(session: Session, person: Person, project: Project) -> None:
    """Refuse unless the person leads the project or is an admin."""
    if project.lead_person_id == person.id or people.is_admin(session, person.id):
        return
    raise Refusal(
        f'Only the lead of "{project.name}" or a forum organiser can do that. '
        "If you'd like to help, you can join the team yourself with /qi-join."
    )


def get_by_id(session: Session, model: type[M], text: str) -> M | None:
    """The row whose id is in a button value or form context, or None if it is not a valid id."""
    row_id = parse_id(text)
    return None if row_id is None else session.get(model, row_id)


def project_by_id(session: Session, text: str) -> Project:
    """The project a button value or form context names, or a kind Refusal if it is gone."""
    project = get_by_id(session, Project, text)
    if project is None:
        raise Refusal("That project no longer exists. Type /qi-projects to see them all.")
    return project
