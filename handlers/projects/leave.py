"""/qi-leave: leaving a project team or the forum; history is kept."""

from __future__ import annotations

from sqlalchemy.orm import Session

from handlers.core.args import parse_arguments
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import (
    acting_person,
    find_forum,
    find_project,
    forum_name_from,
    get_by_id,
    means_forum,
)
from handlers.core.matching import Named, match_name
from handlers.core.reply import Actor, Reply, say
from handlers.forum.leaving import left_forum_reply
from store import forums as forum_store
from store import memberships
from store.audit import record
from store.models import Forum, Person, Project
from store.projects import project_summaries
from store.roles import ProjectStatus


def handle_leave_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """Leave the named project team, or the forum."""
    target = " ".join(parse_arguments(text).words)
    if not target:
        raise Refusal(
            "What would you like to leave? For example: /qi-leave Falls prevention, or "
            "/qi-leave forum"
        )
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
    return say(f'You\'ve left the "{project.name}" team. Thank you for your help.{lead_note}')


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
    return left_forum_reply(session, ctx, forum, member)


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
