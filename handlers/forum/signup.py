"""Signing up to the QI forum, and saying whether you'd like to be matched with a project."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import acting_person, get_by_id
from handlers.core.reply import Actor, Button, Reply, Section, say
from handlers.core.wording import as_role
from handlers.forum.meetings import meeting_prefix
from store import forums as forum_store
from store.audit import record
from store.models import Forum, ForumMember, Person
from store.roles import LIVED_EXPERIENCE_ROLES, Role, parse_role

# Anyone may keep how they come to themselves.
UNSAID = "unsaid"
ROLE_QUESTION = "How do you come to the forum? It helps us welcome you; you don't have to say."
MATCH_QUESTION = (
    "Some project teams are looking for a service user or carer to join them. "
    "Would you like us to put you in touch with one?"
)


def join_forum(
    session: Session, ctx: Context, person: Person, forum: Forum, role: Role | None
) -> Reply:
    """Sign the person up to the forum (again is fine); ask their role, then about a project."""
    now = ctx.now()
    member = forum_store.current_forum_member(session, forum.id, person.id)
    if member is not None:
        start = f'You\'re already signed up to "{forum.name}".'
        refresh: tuple[str, ...] = ()
        if role is not None and role != member.role:
            refresh = _set_role(session, ctx, member, role)
            start += f" I've noted that you come {as_role(role)}."
        return replace(_next_question(start, member), refresh=refresh)
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
    # Answers given before joining now count in the role they joined in.
    refresh = _follow_role(session, ctx, member) if role is not None else ()
    return replace(_next_question(start, member), refresh=refresh)


def _next_question(start: str, member: ForumMember) -> Reply:
    """How they come first; then, for service users and carers only, about a project."""
    if member.role is None:
        return Reply(sections=(Section(text=start), _role_question(member)))
    if member.role in LIVED_EXPERIENCE_ROLES and not member.wants_match:
        buttons = (
            Button("Yes, please", ids.FORUM_MATCH, f"{member.id}:yes", primary=True),
            Button("Not now", ids.FORUM_MATCH, f"{member.id}:no"),
        )
        return Reply(sections=(Section(text=start), Section(text=MATCH_QUESTION, buttons=buttons)))
    return say(start, buttons=(Button("See the next meeting", ids.SHOW_FORUM, "", True),))


def _role_question(member: ForumMember) -> Section:
    buttons = tuple(
        Button(role.label.capitalize(), ids.FORUM_ROLE, f"{member.id}:{role.value}")
        for role in Role
    )
    unsaid = Button("I'd rather not say", ids.FORUM_ROLE, f"{member.id}:{UNSAID}")
    return Section(text=ROLE_QUESTION, buttons=(*buttons, unsaid))


def _set_role(session: Session, ctx: Context, member: ForumMember, role: Role) -> tuple[str, ...]:
    """Change the member's forum role, and with it their answers to meetings to come."""
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
    return _follow_role(session, ctx, member)


def _follow_role(session: Session, ctx: Context, member: ForumMember) -> tuple[str, ...]:
    """Count the member's answers to meetings to come in their forum role.

    The announcements of the meetings they're going to, whose counts change: to refresh.
    """
    going = forum_store.follow_forum_role(
        session, member.forum_id, member.person_id, member.role, ctx.now()
    )
    return tuple(meeting_prefix(meeting_id) for meeting_id in going)


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
        if member.role is None:  # a button from before the role was asked first
            return Reply(sections=(Section(text="Thank you."), _role_question(member)))
        return say(f"Thank you. {_match_promise(member.role)}")


def handle_forum_role_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """How someone describes the way they come to the forum (or that they'd rather not say)."""
    member_id, _, role_text = value.partition(":")
    role = None if role_text == UNSAID else parse_role(role_text)
    if role is None and role_text != UNSAID:
        raise Refusal("Sorry, that button didn't work. Please try /qi-join forum again.")
    with ctx.sessions.begin() as session:
        member = _own_member(session, ctx, actor, member_id)
        if role is None:
            return say(
                "That's fine. Type /qi-forum to see the next meeting.",
                buttons=(Button("See the next meeting", ids.SHOW_FORUM, "", True),),
            )
        refresh = _set_role(session, ctx, member, role) if role != member.role else ()
        thanks = f"Thank you, I've noted that you come {as_role(role)}."
        if member.wants_match:  # said yes to a project before they were asked how they come
            return replace(say(f"{thanks} {_match_promise(role)}"), refresh=refresh)
        return replace(_next_question(thanks, member), refresh=refresh)


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
