"""/qi-leave: leaving a project team or the forum; history is kept."""

from __future__ import annotations

from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.args import parse_arguments
from handlers.core.context import Context
from handlers.core.errors import NotFound, Refusal
from handlers.core.long_lists import shortlist
from handlers.core.lookup import (
    acting_person,
    find_forum,
    find_project,
    forum_name_from,
    get_by_id,
    known_person,
    means_forum,
)
from handlers.core.matching import Named, match_name
from handlers.core.reply import Actor, Button, Reply, say
from handlers.core.wording import did_you_mean
from handlers.forum.leaving import left_forum_reply
from store import forums as forum_store
from store import memberships
from store.audit import record
from store.models import Forum, Person, Project
from store.names import name_key
from store.projects import OPEN_STATUSES, find_by_key, project_summaries
from store.roles import ProjectStatus, Role


def handle_leave_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """Leave the named project team, or the forum."""
    target = " ".join(parse_arguments(text).words)
    if not target:
        return ask_what_to_leave(ctx, actor)
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        if means_forum(session, target):
            return leave_forum(session, ctx, person, _forum_to_leave(session, person, target))
        return leave_project(session, ctx, person, _project_to_leave(session, person, target))


def _project_to_leave(session: Session, person: Person, text: str) -> Project:
    # "falls" means the falls team you are on, even if other projects mention falls.
    mine = project_summaries(session, statuses=list(ProjectStatus), member_id=person.id)
    match = match_name(text, [Named(p.name, p.id) for p in mine])
    if match.found is not None:
        project = session.get(Project, match.found)
        assert project is not None
        return project
    if match.candidates and find_by_key(session, name_key(text)) is None:
        # "fals" or "falls" for one of your two falls teams: offer yours, not everyone's (a
        # project called exactly that is meant, though: you are told you are not on it).
        raise NotFound(
            f'Which of your teams do you mean by "{text}"?{did_you_mean(match.candidates)}',
            typed=text,
            suggestions=match.candidates,
        )
    return find_project(session, text, open_only=False)


def _forum_to_leave(session: Session, person: Person, text: str) -> Forum:
    name = forum_name_from(text)
    mine = forum_store.forums_of(session, person.id)
    if not name and len(mine) == 1:
        return mine[0]
    return find_forum(session, name)


def leave_project(session: Session, ctx: Context, person: Person, project: Project) -> Reply:
    """End the person's membership of the team, keeping it as history."""
    membership = memberships.current_membership(session, project.id, person.id)
    if membership is None:
        raise Refusal(f'You\'re not on the "{project.name}" team, so there is nothing to leave.')
    membership.left_at = ctx.now()
    record(
        session,
        at=ctx.now(),
        actor_id=person.id,
        action="membership.left",
        subject_type="membership",
        subject_id=membership.id,
        project_id=project.id,
    )
    lead_note = (
        " You still lead it: ask a forum organiser if someone else should take over."
        if project.lead_person_id == person.id
        else ""
    )
    return say(
        f'You\'ve left the "{project.name}" team. Thank you for your help.{lead_note}',
        buttons=rejoin_project_buttons(project, membership.role),
    )


def leave_forum(session: Session, ctx: Context, person: Person, forum: Forum) -> Reply:
    """End the person's forum sign-up, keeping it as history."""
    member = forum_store.current_forum_member(session, forum.id, person.id)
    if member is None:
        raise Refusal(f'You\'re not signed up to "{forum.name}", so there is nothing to leave.')
    member.left_at = ctx.now()
    member.wants_match = False
    record(
        session,
        at=ctx.now(),
        actor_id=person.id,
        action="forum_member.left",
        subject_type="forum_member",
        subject_id=member.id,
        forum_id=forum.id,
    )
    return left_forum_reply(
        session, ctx, forum, member, rejoin=rejoin_forum_buttons(forum, member.role)
    )


def handle_leave_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """The 'Leave' button: value is "project:<id>" or "forum:<id>"."""
    kind, _, raw_id = value.partition(":")
    if kind not in ("project", "forum"):
        raise Refusal("Sorry, that button didn't work. Please use /qi-leave instead.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        if kind == "forum":
            forum = get_by_id(session, Forum, raw_id)
            if forum is None:
                raise Refusal("That forum no longer exists.")
            return leave_forum(session, ctx, person, forum)
        project = get_by_id(session, Project, raw_id)
        if project is None:
            raise Refusal("That project no longer exists.")
        return leave_project(session, ctx, person, project)


# --- Choosing what to leave, and undoing it ------------------------------------------------

# The most teams and forums offered as buttons when someone types /qi-leave alone; anyone on
# more is told how many others there are and types the name.
LEAVE_CHOICES = 10
NOTHING_TO_LEAVE = (
    "You're not on any project team or the QI forum, so there is nothing to leave. "
    "Type /qi-join to join one."
)


def ask_what_to_leave(ctx: Context, actor: Actor) -> Reply:
    """/qi-leave alone: the person's own teams and forums, each a button that leaves it."""
    with ctx.sessions() as session:
        person = known_person(session, actor)
        if person is None:
            raise Refusal(NOTHING_TO_LEAVE)
        forums = forum_store.forums_of(session, person.id)
        teams = project_summaries(session, statuses=list(ProjectStatus), member_id=person.id)
    choices = [Button(f.name, ids.LEAVE, f"forum:{f.id}") for f in forums]
    choices += [Button(p.name, ids.LEAVE, f"project:{p.id}") for p in teams]
    if not choices:
        raise Refusal(NOTHING_TO_LEAVE)
    shown = shortlist(choices, LEAVE_CHOICES, line=lambda b: b.label)
    text = "Which would you like to leave? You can join again afterwards."
    if shown.more:
        text += (
            f" For the {shown.more} not shown here, type /qi-leave and the name, for example "
            "/qi-leave Falls prevention."
        )
    return say(text, buttons=tuple(shown.shown))


def rejoin_project_buttons(project: Project, role: Role) -> tuple[Button, ...]:
    """A button that undoes leaving the team, in the same role, while it takes members."""
    if project.status not in OPEN_STATUSES:
        return ()
    return (Button("Join this team again", ids.JOIN_AS, f"{project.id}:{role.value}"),)


def rejoin_forum_buttons(forum: Forum, role: Role | None) -> tuple[Button, ...]:
    """A button that undoes leaving the forum, keeping the role the person had given."""
    value = f"{forum.id}:{role.value}" if role is not None else str(forum.id)
    return (Button("Join the forum again", ids.JOIN_FORUM, value),)
