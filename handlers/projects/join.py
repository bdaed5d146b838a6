"""/qi-join: joining a project team or the QI forum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.args import parse_arguments, parse_id, split_on_as
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.long_lists import LIST_TEXT_MAX, and_more, shortlist, text_units
from handlers.core.lookup import (
    acting_person,
    ensure_open,
    find_forum,
    find_project,
    forum_name_from,
    get_by_id,
    match_project,
    means_forum,
    project_by_id,
    require_role,
    says_forum,
)
from handlers.core.reply import Actor, Button, Choice, Form, FormField, Reply, Section, say
from handlers.core.wording import as_role
from handlers.forum.signup import join_forum
from store import forums as forum_store
from store import memberships, outbox
from store.audit import record
from store.models import Forum, Membership, Person, Project
from store.names import name_key
from store.projects import OPEN_STATUSES, find_by_key, find_with_lead, project_names
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, Role, parse_role

EXAMPLE = "/qi-join Falls prevention as carer"
MEMBER_JOINED = "member_joined"  # the lead told that someone joined their team
# The lead's news of who joined is one message per hour (on the clock, UTC): a training day
# where ten people join is one message, not ten. It goes a minute after the hour ends, so a
# join still being saved as the hour ends is in it.
NEWS_WINDOW = timedelta(hours=1)
NEWS_GRACE = timedelta(minutes=1)
# At most this many names in one message; the rest are counted.
NEWS_NAMES_SHOWN = 50
# Slack's select menus take at most 100 options; longer lists (or lists of names too long for
# one Teams message) are typed instead.
FORM_CHOICE_LIMIT = 99


def handle_join_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """Join a project (`<project> as <role>`) or the forum; with no words, offer the form."""
    args = parse_arguments(text)
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        if not args.words:
            return Reply(
                sections=(Section(text="Let's find the right team for you."),),
                form=build_join_form(session),
            )
        target_words, role_words = split_on_as(args.words)
        target = " ".join(target_words)
        if not target_words and role_words is not None:
            raise Refusal(f"Which project would you like to join? For example: {EXAMPLE}")
        # An exact project name is one indexed query; forums are looked at only if it isn't.
        project = None if says_forum(target) else find_by_key(session, name_key(target))
        if role_words is not None and parse_role(" ".join(role_words)) is None:
            # "Care as usual" is a name, not the project "Care" in the role "usual".
            whole = find_by_key(session, name_key(" ".join(args.words)))
            if whole is not None:
                project, target, role_words = whole, whole.name, None
        if project is None and means_forum(session, target):
            forum = find_forum(session, forum_name_from(target))
            role = (
                require_role(role_words, example="/qi-join forum as carer") if role_words else None
            )
            return join_forum(session, ctx, person, forum, role)
        if project is not None:
            project = ensure_open(project)
        elif not name_key(target):
            project = find_project(session, target)  # says kindly which project is missing
        else:
            project = match_project(session, target)  # the exact name was just tried
        if role_words is None:
            return _ask_role(project)
        role = require_role(role_words, example=f"/qi-join {project.name} as carer")
        return join_project(session, ctx, person, project, role)


def _ask_role(project: Project) -> Reply:
    buttons = tuple(
        Button(role.label.capitalize(), ids.JOIN_AS, f"{project.id}:{role.value}") for role in Role
    )
    return say(f'How will you be part of the "{project.name}" team?', buttons=buttons)


def join_project(
    session: Session,
    ctx: Context,
    person: Person,
    project: Project,
    role: Role,
    *,
    tell_lead: bool = True,
) -> Reply:
    """Put the person on the team; joining again only changes the role if it differs.

    The lead is told through the outbox, so the news survives a restart and is sent once.
    """
    now = ctx.now()
    # The membership and its audit line: one statement on PostgreSQL.
    membership_id = memberships.join_and_record(
        session,
        project_id=project.id,
        person_id=person.id,
        role=role,
        involvement=Involvement.TEAM_MEMBER,
        now=now,
    )
    if membership_id is None:
        current = memberships.current_membership(session, project.id, person.id)
        if current is None or current.role == role:
            return say(f'You\'re already on the "{project.name}" team {as_role(role)}.')
        old = current.role
        current.role = role
        record(
            session,
            at=now,
            actor_id=person.id,
            action="membership.role_changed",
            subject_type="membership",
            subject_id=current.id,
            old=old.value,
            new=role.value,
        )
        return say(
            f"You're already on the \"{project.name}\" team. I've changed your role from "
            f"{old.label} to {role.label}."
        )
    lead = project.lead
    lead_text = f" {lead.display_name} leads it." if lead and lead.id != person.id else ""
    thanks = (
        " Thank you: people with lived experience on the team make QI projects better."
        if role in LIVED_EXPERIENCE_ROLES
        else ""
    )
    if tell_lead and lead is not None and lead.id != person.id:
        plan_news_for_lead(session, lead.id, now)
    return say(
        f'Welcome to the "{project.name}" team {as_role(role)}.{lead_text}{thanks}',
        buttons=(Button("Leave this team", ids.LEAVE, f"project:{project.id}"),),
    )


def plan_news_for_lead(session: Session, lead_id: int, now: datetime) -> None:
    """Plan the lead's news for this hour; a second join in the hour finds it planned already.

    The message is written when it is sent, from everyone who joined in the hour.
    """
    since = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    outbox.plan_message_to(
        session,
        lead_id,
        MEMBER_JOINED,
        f"joins:{since:%Y-%m-%dT%H}",
        {"since": since.isoformat()},
        now=now,
        due_at=since + NEWS_WINDOW + NEWS_GRACE,
    )


def render_member_joined(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The lead's news of who joined their teams in the hour, or None if all have left again."""
    if "membership" in delivery.payload:  # planned, one per join, before news was batched
        return _render_one_join(session, delivery.payload["membership"])
    lead_id = outbox.recipient_person_id(delivery.recipient)
    since = datetime.fromisoformat(delivery.payload["since"])
    if lead_id is None:
        return None
    joined = memberships.joined_teams_led_by(
        session, lead_id, since=since, until=since + NEWS_WINDOW
    )
    if not joined:
        return None
    if len(joined) == 1:
        (one,) = joined
        return say(_one_joined(one.person, one.project, one.role))
    return say(_many_joined(joined))


def _render_one_join(session: Session, membership_id: object) -> Reply | None:
    membership = session.get(Membership, membership_id)
    if membership is None or membership.left_at is not None:
        return None
    return say(
        _one_joined(membership.person.display_name, membership.project.name, membership.role)
    )


def _one_joined(person: str, project: str, role: Role) -> str:
    news = f'{person} has joined your project "{project}" {as_role(role)}.'
    if role in LIVED_EXPERIENCE_ROLES:
        news += " That means a service user or carer is on the team. Do say hello!"
    return news


def _many_joined(joined: list[memberships.Joined]) -> str:
    """'3 people joined your project "Falls prevention": ...', a line each, as many as fit."""
    one_team = len({j.project_id for j in joined}) == 1
    if one_team:
        opening = f'{len(joined)} people joined your project "{joined[0].project}":'

        def line(j: memberships.Joined) -> str:
            return f"• {j.person} {as_role(j.role)}"
    else:
        opening = f"{len(joined)} people joined your project teams:"

        def line(j: memberships.Joined) -> str:
            return f'• {j.person} joined "{j.project}" {as_role(j.role)}'

    listed = shortlist(joined, NEWS_NAMES_SHOWN, line=line)
    lines = [opening, *(line(j) for j in listed.shown)]
    if listed.more:
        where = (
            f'Type /qi-project show "{joined[0].project}" to see the whole team.'
            if one_team
            else "Type /qi-projects mine to see your teams."
        )
        lines.append(f"{and_more(listed.more, 'person', 'people')}. {where}")
    if any(j.role in LIVED_EXPERIENCE_ROLES for j in joined):
        lines.append(
            "That means a service user or carer is on the team. Do say hello!"
            if one_team
            else "Some of them are service users or carers. Do say hello!"
        )
    return "\n".join(lines)


def handle_join_as_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """The role buttons offered when someone named a project but no role."""
    project_id, _, role_text = value.partition(":")
    role = parse_role(role_text)
    if role is None:
        raise Refusal("Sorry, that button didn't work. Please try /qi-join again.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        # With its lead in the same query: join_project names them and tells them.
        row_id = parse_id(project_id)
        project = None if row_id is None else find_with_lead(session, row_id)
        if project is None:
            project = project_by_id(session, project_id)  # says kindly that it is gone
        return join_project(session, ctx, person, ensure_open(project), role)


def build_join_form(session: Session) -> Form:
    """The join form: which team (or the forum), and in what role."""
    open_projects = project_names(session, statuses=OPEN_STATUSES)
    forums = forum_store.list_forums(session)
    choices = [Choice(f.name, f"{ids.FORUM_TARGET}:{f.id}") for f in forums]
    choices += [Choice(p.name, str(p.id)) for p in open_projects]
    question = "Which project would you like to join, or the QI forum?"
    words = sum(text_units(choice.label) for choice in choices)
    if len(choices) > FORM_CHOICE_LIMIT or words > LIST_TEXT_MAX:
        # Too many to pick from: type the name instead, matched as forgivingly as the command.
        target = FormField(
            "target", question, hint='Type the project\'s name (or part of it), or "forum"'
        )
    else:
        target = FormField("target", question, choices=tuple(choices))
    return Form(
        form_id=ids.JOIN_FORM,
        title="Join a QI team",
        fields=(
            target,
            FormField(
                "role",
                "How will you take part?",
                choices=tuple(Choice(r.label.capitalize(), r.value) for r in Role),
            ),
        ),
        submit_label="Join",
    )


def handle_join_form(ctx: Context, actor: Actor, values: dict[str, str], context: str) -> Reply:
    """The join form's answers: the same as typing the one-line command."""
    target = values.get("target", "").strip()
    role = parse_role(values.get("role", ""))
    if not target:
        raise Refusal("Please choose a project or the QI forum.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        kind, _, forum_id = target.partition(":")
        if kind == ids.FORUM_TARGET and forum_id:
            forum = get_by_id(session, Forum, forum_id)
            if forum is None:
                raise Refusal("That forum no longer exists. Type /qi-forum to see what's on.")
            return join_forum(session, ctx, person, forum, role)
        if means_forum(session, target):
            return join_forum(
                session, ctx, person, find_forum(session, forum_name_from(target)), role
            )
        if role is None:
            raise Refusal("Please choose how you will take part.")
        project = get_by_id(session, Project, target)
        if project is None:
            project = find_project(session, target)
        return join_project(session, ctx, person, ensure_open(project), role)
