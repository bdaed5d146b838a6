"""Looking after a team: take someone off it, put their details right, say since when."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.args import Arguments, parse_id, split_on_as
from handlers.core.context import Context
from handlers.core.dates import day_first, example_past_day, read_past_day
from handlers.core.errors import Refusal
from handlers.core.long_lists import LIST_TEXT_MAX, text_units
from handlers.core.lookup import (
    acting_person,
    ensure_open,
    find_project,
    project_by_id,
    require_lead_or_admin,
    require_role,
)
from handlers.core.matching import Named, match_name
from handlers.core.reply import Actor, Button, Choice, Form, FormField, Reply, Section, say
from handlers.core.wording import did_you_mean, on_day
from handlers.evidence.stats import refigure_since
from store.audit import record
from store.models import Membership, Person, Project
from store.names import clean_name, name_key
from store.projects import TeamMember, current_team, find_by_key
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, Role, parse_role
from store.stats import ROLE_CHANGED

PERSON_NAME_MAX = 100
ADD_MEMBER_EXAMPLE = '/qi-project add-member "Falls prevention" "Sam Jones" as carer --consent'
REMOVE_MEMBER_EXAMPLE = '/qi-project remove-member "Falls prevention" "Sam Jones"'
EDIT_MEMBER_EXAMPLE = (
    '/qi-project edit-member "Falls prevention" "Sam Jones" --name "Sam Jonas" as service user'
)
# No QI project in qi-nudge's trusts began before this: an earlier --since is a typing slip.
EARLIEST_SINCE = date(2000, 1, 1)
# The change form lists the team to pick from up to this many (Slack's select takes 100);
# a bigger team, or names too long for one Teams message, is typed instead.
FORM_CHOICE_LIMIT = 99
# How much of a mistyped line a refusal repeats back.
ECHO_MAX = 100


# --- reading what was typed ---------------------------------------------------------------


def parse_since(ctx: Context, text: str | None) -> datetime | None:
    """`--since 2/11/2026`: when someone already on the team joined it (for the run chart)."""
    if text is None or not text.strip():
        return None
    day = read_past_day(text.strip(), ctx, example=f"--since {since_example(ctx)}")
    if day < EARLIEST_SINCE:
        raise Refusal(
            f"--since {day_first(day)} is before 2000, which looks like a slip in the year. "
            f"Please check it, for example --since {since_example(ctx)}."
        )
    joined = datetime.combine(day, time(), tzinfo=ctx.timezone)
    if joined > ctx.now():
        raise Refusal("--since is for someone already on the team: the date can't be ahead.")
    return joined


def since_example(ctx: Context) -> str:
    """A day a few weeks back, day first, for examples of --since."""
    return day_first(example_past_day(ctx))


def project_began(project: Project, zone: ZoneInfo) -> datetime:
    """When the run chart counts the project from: its register start date, if earlier."""
    began = project.created_at
    if project.started_on is not None:
        began = min(began, datetime.combine(project.started_on, time(), tzinfo=zone))
    return began


def within_project(ctx: Context, project: Project, since: datetime) -> tuple[datetime, str]:
    """`since`, moved up to when the project began if it is earlier, and a note saying so."""
    began = project_began(project, ctx.timezone)
    if since >= began:
        return since, ""
    day = on_day(began.astimezone(ctx.timezone))
    return began, (
        f' "{project.name}" has been counted since {day}, so I\'ve counted them on its team '
        "from then."
    )


def split_project_and_person(
    session: Session, words: list[str], *, example: str, open_only: bool = True
) -> tuple[Project, str]:
    """The project and the person's name from `"<project>" "<name>"`, quoted or not."""
    if len(words) == 2:
        return find_project(session, words[0], open_only=open_only), words[1]
    # Unquoted: "Falls prevention Sam Jones": try each split where the start is a project's name.
    for cut in range(len(words) - 1, 0, -1):
        project = find_by_key(session, name_key(" ".join(words[:cut])))
        if project is not None:
            return (ensure_open(project) if open_only else project), " ".join(words[cut:])
    raise Refusal(f"Please put the project and the person's name in quotes, like this: {example}")


def find_member(project: Project, team: list[TeamMember], name: str) -> TeamMember:
    """The one current member called `name` (case and spacing aside); else a kind Refusal."""
    key = name_key(name)
    same = [m for m in team if name_key(m.name) == key]
    if len(same) > 1:
        raise Refusal(
            f'More than one person on the "{project.name}" team is called {same[0].name}. '
            f'Please use the "Change or remove someone" button on /qi-project show '
            f'"{project.name}" to choose which.'
        )
    if same:
        return same[0]
    # A part of a name ("jo", "y") is never acted on: taking someone off or renaming them must
    # be the person typed in full. The close names are offered instead.
    match = match_name(name, [Named(m.name, m) for m in team])
    close = (match.found.name,) if match.found is not None else match.candidates
    raise Refusal(
        f'I couldn\'t find "{name[:ECHO_MAX]}" on the "{project.name}" team.'
        f"{did_you_mean(close)} Please give their name in full, as it is on the team. "
        f'To see the team: /qi-project show "{project.name}"'
    )


def membership_by_id(session: Session, text: str) -> Membership:
    """The membership a button names; a kind Refusal if it is gone."""
    row_id = parse_id(text)
    membership = None if row_id is None else session.get(Membership, row_id)
    if membership is None:
        raise Refusal("That person is no longer on the team. Type /qi-projects to find it again.")
    return membership


# --- remove-member --------------------------------------------------------------------------


def remove_member_command(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`remove-member "<project>" "<name>"`: take someone off the team, keeping the history."""
    if len(args.words) < 2:
        raise Refusal(f"Please say which project and who, like this: {REMOVE_MEMBER_EXAMPLE}")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project, name = split_project_and_person(
            session, args.words, example=REMOVE_MEMBER_EXAMPLE, open_only=False
        )
        require_lead_or_admin(session, person, project)
        team = current_team(session, project.id)
        return remove_member(session, ctx, person, project, team, find_member(project, team, name))


def remove_member(
    session: Session,
    ctx: Context,
    remover: Person,
    project: Project,
    team: list[TeamMember],
    member: TeamMember,
) -> Reply:
    """End the membership (as leaving does), audited; the figures stop counting them."""
    membership = session.get(Membership, member.membership_id)
    assert membership is not None
    now = ctx.now()
    membership.left_at = max(now, membership.joined_at)
    record(
        session,
        at=now,
        actor_id=remover.id,
        action="membership.removed",
        subject_type="membership",
        subject_id=membership.id,
        project_id=project.id,
    )
    text = (
        f'I\'ve taken {member.name} off the "{project.name}" team. Their time on it is kept in '
        "the project's history."
    )
    if _counts(member) and not any(_counts(m) for m in team if m is not member):
        text += f' "{project.name}" now has no service user or carer on the team.'
    if member.in_chat:
        text += " If that was a mistake, they can join again with /qi-join."
    else:
        since = membership.joined_at.astimezone(ctx.timezone).date().isoformat()
        consulted = " --consulted" if member.involvement == Involvement.CONSULTED else ""
        text += (
            f' If that was a mistake: /qi-project add-member "{project.name}" "{member.name}" '
            f"as {member.role.label} --consent{consulted} --since {since}"
        )
    return say(text)


def counts_in_headline(role: Role, involvement: Involvement) -> bool:
    """Whether the headline counts a member: a service user or carer on the team."""
    return role in LIVED_EXPERIENCE_ROLES and involvement == Involvement.TEAM_MEMBER


def _counts(member: TeamMember) -> bool:
    return counts_in_headline(member.role, member.involvement)


# --- edit-member ----------------------------------------------------------------------------


def edit_member_command(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`edit-member "<project>" "<name>" [--name N] [as <role>] [--consulted] [--since D]`."""
    left, role_words = split_on_as(args.words)
    if len(left) < 2:
        raise Refusal(f"Please say which project and who, like this: {EDIT_MEMBER_EXAMPLE}")
    role = require_role(role_words, example=EDIT_MEMBER_EXAMPLE) if role_words is not None else None
    if {"consulted", "team-member"} <= args.flags:
        raise Refusal("Please give either --consulted or --team-member, not both.")
    involvement = (
        Involvement.CONSULTED
        if "consulted" in args.flags
        else Involvement.TEAM_MEMBER
        if "team-member" in args.flags
        else None
    )
    since = parse_since(ctx, args.options.get("since"))
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project, name = split_project_and_person(
            session, left, example=EDIT_MEMBER_EXAMPLE, open_only=False
        )
        require_lead_or_admin(session, person, project)
        team = current_team(session, project.id)
        member = find_member(project, team, name)
        return edit_member(
            session,
            ctx,
            person,
            project,
            team,
            member,
            new_name=args.options.get("name"),
            role=role,
            involvement=involvement,
            since=since,
        )


def edit_member(
    session: Session,
    ctx: Context,
    editor: Person,
    project: Project,
    team: list[TeamMember],
    member: TeamMember,
    *,
    new_name: str | None,
    role: Role | None,
    involvement: Involvement | None,
    since: datetime | None,
) -> Reply:
    """Put right a member's name, role, involvement or start; each change audited."""
    if new_name is not None and member.in_chat:
        raise Refusal(
            f"{member.name} uses chat, so their name is the one they chose there and only they "
            "can change it. You can still change their role, --consulted or --since."
        )
    if new_name is None and role is None and involvement is None and since is None:
        raise Refusal(f"What would you like to change? For example: {EDIT_MEMBER_EXAMPLE}")
    membership = session.get(Membership, member.membership_id)
    assert membership is not None
    now = ctx.now()
    changes: list[str] = []
    note = ""
    if new_name is not None:
        tidy = clean_name(new_name)
        if not name_key(tidy):
            raise Refusal(f"Please give their new name, like this: {EDIT_MEMBER_EXAMPLE}")
        if len(tidy) > PERSON_NAME_MAX:
            raise Refusal(
                f"That name is too long. Please keep it under {PERSON_NAME_MAX} characters."
            )
        others = [m for m in team if m is not member and not m.in_chat]
        if any(name_key(m.name) == name_key(tidy) for m in others):
            raise Refusal(f'{tidy} is already on the "{project.name}" team.')
        if tidy != member.name and _leads_a_project(session, member.person_id):
            # A lead imported from the project register, not yet on chat: the register (and
            # their chat account, once they use it) says what they are called.
            raise Refusal(
                f"{member.name} leads a project, so their name comes from the project register. "
                "You can still change their role, --consulted or --since."
            )
        if tidy != member.name:
            # The same person on every team they are recorded on: it is their name.
            membership.person.display_name = tidy
            changes.append(f"their name is now {tidy}")
            _audit(session, now, editor, membership, "membership.name_corrected")
    if role is not None and role != membership.role:
        old_role = membership.role
        membership.role = role
        changes.append(f"their role from {old_role.label} to {role.label}")
        # The run chart reads role changes from the audit trail, as for /qi-join.
        _audit(session, now, editor, membership, ROLE_CHANGED, old=old_role.value, new=role.value)
    if involvement is not None and involvement != membership.involvement:
        old_involvement = membership.involvement
        membership.involvement = involvement
        changes.append(
            "now a member of the team"
            if involvement == Involvement.TEAM_MEMBER
            else "now consulted now and then rather than on the team"
        )
        _audit(
            session,
            now,
            editor,
            membership,
            "membership.involvement_changed",
            old=old_involvement.value,
            new=involvement.value,
        )
    if since is not None:
        since, note = within_project(ctx, project, since)
        if since != membership.joined_at:
            old_since = membership.joined_at
            membership.joined_at = since
            changes.append(f"on the team since {on_day(since.astimezone(ctx.timezone))}")
            _audit(
                session,
                now,
                editor,
                membership,
                "membership.since_changed",
                old=old_since.isoformat(),
                new=since.isoformat(),
            )
            # The weeks measured since the earlier of the two dates were measured with the old
            # one: work them out again, as add-member --since does.
            refigure_since(session, ctx, min(old_since, since))
    name = membership.person.display_name
    if not changes:
        return say(f"Nothing needed changing: that is how {name} is already recorded.{note}")
    text = f'I\'ve changed {name} on the "{project.name}" team: ' + "; ".join(changes) + "."
    counted_before = any(_counts(m) for m in team)
    counted_now = any(_counts(m) for m in team if m is not member) or counts_in_headline(
        membership.role, membership.involvement
    )
    if counted_now and not counted_before:
        text += f' "{project.name}" now has a service user or carer on the team.'
    elif counted_before and not counted_now:
        text += f' "{project.name}" now has no service user or carer on the team.'
    return say(text + note)


def _leads_a_project(session: Session, person_id: int) -> bool:
    return (
        session.scalar(select(Project.id).where(Project.lead_person_id == person_id).limit(1))
        is not None
    )


def _audit(
    session: Session,
    now: datetime,
    editor: Person,
    membership: Membership,
    action: str,
    **detail: str,
) -> None:
    """One audit line for one change to a membership (names are never in the trail)."""
    record(
        session,
        at=now,
        actor_id=editor.id,
        action=action,
        subject_type="membership",
        subject_id=membership.id,
        project_id=membership.project_id,
        **detail,
    )


# --- the card's "Change or remove someone" button, its form and the confirm step -------------


def _member_label(member: TeamMember) -> str:
    consulted = ", consulted" if member.involvement == Involvement.CONSULTED else ""
    on_chat = "" if member.in_chat else ", not on chat"
    return f"{member.name} ({member.role.label}{consulted}{on_chat})"


def build_change_member_form(session: Session, project: Project) -> Form:
    """The form to put right, or take off the team, one member of the project."""
    team = current_team(session, project.id)
    choices = tuple(Choice(_member_label(m), str(m.membership_id)) for m in team)
    question = "Who?"
    words = sum(text_units(choice.label) for choice in choices)
    if not choices or len(choices) > FORM_CHOICE_LIMIT or words > LIST_TEXT_MAX:
        who = FormField("member", question, hint="Their name, as the team shows it")
    else:
        who = FormField("member", question, choices=choices)
    return Form(
        form_id=ids.CHANGE_MEMBER_FORM,
        title="Change the team",
        context=str(project.id),
        fields=(
            who,
            FormField(
                "action",
                "What would you like to do?",
                choices=(
                    Choice("Change what I fill in below", "change"),
                    Choice("Take them off the team", "remove"),
                ),
            ),
            FormField(
                "name",
                "Their name, put right",
                optional=True,
                hint="Only for people not on chat; leave empty to keep it",
            ),
            FormField(
                "role",
                "Their role",
                choices=tuple(Choice(r.label.capitalize(), r.value) for r in Role),
                optional=True,
            ),
            FormField(
                "involvement",
                "How are they involved?",
                choices=(
                    Choice("A member of the team", Involvement.TEAM_MEMBER.value),
                    Choice("Consulted now and then", Involvement.CONSULTED.value),
                ),
                optional=True,
            ),
            FormField(
                "since",
                "On the team since",
                optional=True,
                hint="A date, such as 2/3/2026 or 2026-03-02; leave empty to keep it",
            ),
        ),
        submit_label="Go on",
    )


def open_project_form(
    ctx: Context,
    actor: Actor,
    value: str,
    intro: str,
    build: Callable[[Session, Project], Form],
) -> Reply:
    """A form about one project for its lead or an organiser; `intro` has the name as {name}."""
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = project_by_id(session, value)
        require_lead_or_admin(session, person, project)
        return Reply(
            sections=(Section(text=intro.format(name=project.name)),),
            form=build(session, project),
        )


def handle_open_change_member(ctx: Context, actor: Actor, value: str) -> Reply:
    """The card's 'Change or remove someone' button: open the form for that project."""
    return open_project_form(
        ctx, actor, value, 'Change the "{name}" team.', build_change_member_form
    )


def handle_change_member_form(
    ctx: Context, actor: Actor, values: dict[str, str], context: str
) -> Reply:
    """The change form's answers: a confirm step to take someone off, or the changes made."""
    action = values.get("action", "")
    if action not in ("change", "remove"):
        raise Refusal("Please choose whether to change their details or take them off the team.")
    role_text = values.get("role", "").strip()
    role = parse_role(role_text) if role_text else None
    if role_text and role is None:
        raise Refusal("Please choose their role from the list.")
    involvement_text = values.get("involvement", "").strip()
    try:
        involvement = Involvement(involvement_text) if involvement_text else None
    except ValueError:
        raise Refusal("Please choose how they are involved.") from None
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = project_by_id(session, context)
        require_lead_or_admin(session, person, project)
        team = current_team(session, project.id)
        member = _chosen_member(project, team, values.get("member", ""))
        if action == "remove":
            return confirm_removal(project, member)
        new_name = values.get("name", "").strip() or None
        return edit_member(
            session,
            ctx,
            person,
            project,
            team,
            member,
            new_name=None if new_name == member.name else new_name,
            role=role,
            involvement=involvement,
            since=parse_since(ctx, values.get("since")),
        )


def _chosen_member(project: Project, team: list[TeamMember], chosen: str) -> TeamMember:
    """The member picked from the list (by membership id) or typed (by name)."""
    if not chosen.strip():
        raise Refusal("Please choose who.")
    row_id = parse_id(chosen)
    picked = next((m for m in team if m.membership_id == row_id), None)
    return picked if picked is not None else find_member(project, team, chosen)


def confirm_removal(project: Project, member: TeamMember) -> Reply:
    """Ask before taking someone off the team."""
    return say(
        f'Take {member.name} off the "{project.name}" team? Their time on it is kept in the '
        "project's history, and the figures stop counting them from now.",
        buttons=(
            Button("Yes, take them off", ids.REMOVE_MEMBER, str(member.membership_id), True),
            Button("No, keep them", ids.KEEP_MEMBER, str(member.membership_id)),
        ),
    )


def handle_remove_member_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'Yes, take them off': end the membership the confirm step named."""
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        membership = membership_by_id(session, value)
        project = membership.project
        require_lead_or_admin(session, person, project)
        team = current_team(session, project.id)
        member = next((m for m in team if m.membership_id == membership.id), None)
        if member is None:
            # Pressed twice, or taken off meanwhile: already done.
            return say(
                f'{membership.person.display_name} is no longer on the "{project.name}" team.'
            )
        return remove_member(session, ctx, person, project, team, member)


def handle_keep_member_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'No, keep them': nothing changes, and the answer says so."""
    return say("Nothing changed: they're still on the team.")
