"""Signing up to the QI forum, and saying whether you'd like to be matched with a project."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import acting_person, get_by_id
from handlers.core.reply import Actor, Button, Reply, Section, say
from handlers.core.wording import as_role
from store import forums as forum_store
from store.audit import record
from store.models import Forum, ForumMember, Person
from store.roles import LIVED_EXPERIENCE_ROLES, Role, parse_role

# Offered to people who would like a project but have not said how they come to the forum.
MATCH_ROLES = (Role.SERVICE_USER, Role.CARER, Role.PEER_SUPPORTER, Role.OTHER)


def join_forum(
    session: Session, ctx: Context, person: Person, forum: Forum, role: Role | None
) -> Reply:
    """Sign the person up to the forum (again is fine) and ask about being matched."""
    now = ctx.now()
    member = forum_store.current_forum_member(session, forum.id, person.id)
    if member is not None:
        changed = role is not None and role != member.role
        if changed:
            member.role = role
            record(
                session,
                at=now,
                actor_id=person.id,
                action="forum_member.role_changed",
                subject_type="forum_member",
                subject_id=member.id,
                new=role.value if role else None,
            )
        start = f'You\'re already signed up to "{forum.name}".'
        if changed and role is not None:
            start += f" I've noted that you come {as_role(role)}."
        return _with_match_question(start, member)
    member = ForumMember(
        forum_id=forum.id, person_id=person.id, role=role, wants_match=False, joined_at=now
    )
    try:
        with session.begin_nested():  # a simultaneous second sign-up loses to the unique index
            session.add(member)
    except IntegrityError:
        return say(f'You\'re already signed up to "{forum.name}".')
    record(
        session,
        at=now,
        actor_id=person.id,
        action="forum_member.joined",
        subject_type="forum_member",
        subject_id=member.id,
        forum_id=forum.id,
        role=role.value if role else None,
    )
    start = (
        f'Welcome to "{forum.name}". It is where staff and people with lived experience meet as '
        "equals to talk about improving care. Type /qi-forum to see the next meeting."
    )
    return _with_match_question(start, member)


def _with_match_question(start: str, member: ForumMember) -> Reply:
    if member.wants_match or member.role == Role.STAFF:
        return say(start, buttons=(Button("See the next meeting", ids.SHOW_FORUM, "", True),))
    question = (
        "Some project teams are looking for a service user or carer to join them. "
        "Would you like us to put you in touch with one?"
    )
    buttons = (
        Button("Yes, please", ids.FORUM_MATCH, f"{member.id}:yes", primary=True),
        Button("Not now", ids.FORUM_MATCH, f"{member.id}:no"),
    )
    return Reply(sections=(Section(text=start), Section(text=question, buttons=buttons)))


def _own_member(session: Session, ctx: Context, actor: Actor, member_id: str) -> ForumMember:
    person = acting_person(session, ctx, actor)
    member = get_by_id(session, ForumMember, member_id)
    # Buttons carry ids; only the person they were offered to may press them.
    if member is None or member.person_id != person.id or member.left_at is not None:
        raise Refusal(
            "This button was for someone else, or you have left the forum since. To sign up, "
            "type /qi-join forum."
        )
    return member


def handle_forum_match_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'Yes, please' or 'Not now' to being matched with a project."""
    member_id, _, answer = value.partition(":")
    with ctx.sessions.begin() as session:
        member = _own_member(session, ctx, actor, member_id)
        wants = answer == "yes"
        if member.wants_match != wants:
            member.wants_match = wants
            record(
                session,
                at=ctx.now(),
                actor_id=member.person_id,
                action="forum_member.match_preference",
                subject_type="forum_member",
                subject_id=member.id,
                wants_match=wants,
            )
        if not wants:
            return say("That's fine. You can change your mind any time with /qi-join forum.")
        if member.role in LIVED_EXPERIENCE_ROLES or member.role == Role.PEER_SUPPORTER:
            return say(f"Thank you. {_match_promise(member.role)}")
        buttons = tuple(
            Button(role.label.capitalize(), ids.FORUM_ROLE, f"{member.id}:{role.value}")
            for role in MATCH_ROLES
        )
        return say(
            "Thank you. So we can find the right project, how would you describe yourself?",
            buttons=buttons,
        )


def handle_forum_role_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """How someone who wants a match describes themselves."""
    member_id, _, role_text = value.partition(":")
    role = parse_role(role_text)
    if role is None:
        raise Refusal("Sorry, that button didn't work. Please try /qi-join forum again.")
    with ctx.sessions.begin() as session:
        member = _own_member(session, ctx, actor, member_id)
        member.role = role
        record(
            session,
            at=ctx.now(),
            actor_id=member.person_id,
            action="forum_member.role_changed",
            subject_type="forum_member",
            subject_id=member.id,
            new=role.value,
        )
        return say(f"Thank you, I've noted that you come {as_role(role)}. {_match_promise(role)}")


def _match_promise(role: Role | None) -> str:
    """What happens next for someone who would like to join a project team."""
    if role in LIVED_EXPERIENCE_ROLES:
        # Matchmaking (handlers.nudges.matchmaking) introduces service users and carers itself.
        return (
            "When a project team would like someone like you, I'll ask you first, and your "
            "name is only shared if you say yes. You can always say no."
        )
    return (
        "A forum organiser will be in touch when a project team would like someone like you to "
        "join them. You can always say no."
    )


def handle_join_forum_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """The 'Join the forum' button: value "<forum id>", or "<forum id>:<role>" to rejoin."""
    forum_id, _, role_text = value.partition(":")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        forum = get_by_id(session, Forum, forum_id)
        if forum is None:
            raise Refusal("That forum no longer exists. Type /qi-forum to see what's on.")
        return join_forum(session, ctx, person, forum, parse_role(role_text))
