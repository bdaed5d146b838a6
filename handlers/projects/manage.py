"""/qi-project: start a project, record team members who are not on chat, see a team."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.args import Arguments, parse_arguments, split_on_as
from handlers.core.clipping import clip
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more, shortlist
from handlers.core.lookup import (
    acting_person,
    ensure_open,
    find_project,
    known_person,
    project_by_id,
    require_lead_or_admin,
    require_role,
)
from handlers.core.matching import Named, match_name, match_project_name
from handlers.core.reply import (
    Actor,
    Button,
    Choice,
    Form,
    FormField,
    Reply,
    Section,
    refuse,
    say,
)
from handlers.core.wording import as_role, counts_by_role, did_you_mean
from handlers.evidence.involvement_questions import set_questions
from handlers.evidence.stats import refigure_since
from handlers.nudges.buttons import set_reminders
from handlers.projects.involvement_recording import EXAMPLE as INVOLVEMENT_EXAMPLE
from handlers.projects.involvement_recording import record_involvement_command
from handlers.projects.team import (
    ADD_MEMBER_EXAMPLE,
    ECHO_MAX,
    EDIT_MEMBER_EXAMPLE,
    PERSON_NAME_MAX,
    REMOVE_MEMBER_EXAMPLE,
    counts_in_headline,
    edit_member_command,
    open_project_form,
    parse_since,
    remove_member_command,
    split_project_and_person,
    within_project,
)
from store import matches as match_store
from store import memberships
from store import nudges as nudge_store
from store import people as people_store
from store.audit import record
from store.models import NAME_MAX, Membership, Person, Project
from store.names import clean_name, name_key
from store.projects import TeamMember, create_project, current_team, find_by_key
from store.roles import (
    LIVED_EXPERIENCE_ROLES,
    Involvement,
    ProjectStatus,
    Role,
    parse_role,
    parse_status,
)
from store.sites import recorded_site
from store.stats import ROLE_CHANGED

# The card names this many members; the rest are counted by role.
TEAM_SHOWN = 30
USAGE = (
    "Here's what /qi-project can do:\n"
    '• /qi-project new "Project name": start a project, with you as lead\n'
    f"• {ADD_MEMBER_EXAMPLE}: record a team member who doesn't use chat\n"
    f"• {REMOVE_MEMBER_EXAMPLE}: take someone off the team (their history is kept)\n"
    f"• {EDIT_MEMBER_EXAMPLE}: put right someone's name or role (also --consulted, "
    "--team-member, --since 2026-03-02)\n"
    '• /qi-project show "Project name": see who is on the team\n'
    '• /qi-project status "Project name" completed: mark a project active, on hold, completed '
    "or stopped\n"
    "• /qi-project reminders off (or on): stop or restart the weekly reminders about your "
    "projects\n"
    f"• {INVOLVEMENT_EXAMPLE}: record how a team member who doesn't use chat feels, once they "
    "have agreed\n"
    "• /qi-project questions off (or on): stop or restart the question about how involved you "
    "feel on your teams"
)


# The words /qi-project knows first; anything else is taken as a project's name.
VERBS = (
    "new",
    "add-member",
    "remove-member",
    "edit-member",
    "show",
    "status",
    "reminders",
    "involvement",
    "questions",
)


def handle_project_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """Route `/qi-project <new|add-member|remove-member|edit-member|show|status> ...`."""
    args = parse_arguments(text, options=frozenset({"site", "since", "name"}))
    if not args.words:
        return say(USAGE)
    typed = " ".join(args.words)
    verb, rest = name_key(args.words[0]).replace(" ", "-"), args.words[1:]
    args.words = rest
    if verb == "new":
        return new_project(ctx, actor, args)
    if verb in ("add-member", "add", "addmember"):
        return add_member_command(ctx, actor, args)
    if verb in ("remove-member", "removemember"):
        return remove_member_command(ctx, actor, args)
    if verb in ("edit-member", "editmember"):
        return edit_member_command(ctx, actor, args)
    if verb == "status":
        return set_status(ctx, actor, args)
    if verb == "show":
        return show_project(ctx, actor, " ".join(rest))
    if verb == "reminders" and len(rest) == 1 and name_key(rest[0]) in ("on", "off"):
        return set_reminders(ctx, actor, on=name_key(rest[0]) == "on")
    if verb == "involvement":
        return record_involvement_command(ctx, actor, args)
    if verb == "questions" and len(rest) == 1 and name_key(rest[0]) in ("on", "off"):
        return set_questions(ctx, actor, on=name_key(rest[0]) == "on")
    # "/qi-project Falls prevention" is taken as "show"; words that are neither a project's
    # name nor something it can do ("remove-membr ...") get the list of what it can do.
    try:
        return show_project(ctx, actor, text)
    except Refusal as refusal:
        return unknown_verb(ctx, verb, typed, refusal)


def unknown_verb(ctx: Context, verb: str, query: str, refusal: Refusal) -> Reply:
    """What /qi-project can do, with the closest verbs and projects to what was typed."""
    match = match_name(verb, [Named(v, v) for v in VERBS])
    verbs = (match.found,) if match.found else match.candidates
    with ctx.sessions() as session:
        projects = match_project_name(session, name_key(query), None, typos=True)
    if projects.ambiguous and not verbs:
        # "falls", with several falls projects: which one, as /qi-project show says.
        return refuse(f"{refusal.reply.text}\n{USAGE}")
    closest = did_you_mean([*(f"/qi-project {v}" for v in verbs), *projects.candidates])
    return refuse(
        f'"{clip(query, ECHO_MAX)}" isn\'t the name of a project, nor something /qi-project '
        f"can do.{closest}\n{USAGE}"
    )


def new_project(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """Register a project with the actor as lead, and ask at once about lived experience."""
    # `new "Name" as carer`: a lead can have lived experience too. A name that merely contains
    # "as" ("Care as usual") stays whole unless what follows is a role.
    name_words, role_words = split_on_as(args.words)
    lead_role = parse_role(" ".join(role_words)) if role_words else None
    if lead_role is None:
        name_words = args.words
    name = clean_name(" ".join(name_words))
    if not name_key(name):
        raise Refusal(
            'Please give the project a name, for example: /qi-project new "Falls prevention"'
        )
    if len(name) > NAME_MAX:
        raise Refusal(f"That name is too long. Please keep it under {NAME_MAX} characters.")
    site = args.options.get("site")
    if site is not None and len(clean_name(site)) > NAME_MAX:
        raise Refusal(f"That site is too long. Please keep it under {NAME_MAX} characters.")
    if site is not None and not name_key(site):
        raise Refusal(
            'Please give the site a name, for example: /qi-project new "Falls prevention on '
            'Ward 7" --site "Riverside Hospital"'
        )
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        # A site already known keeps its spelling: "riverside hospital" is Riverside Hospital.
        site = recorded_site(session, site)
        existing = find_by_key(session, name_key(name))
        if existing is not None:
            lead = existing.lead.display_name if existing.lead else "nobody yet"
            raise Refusal(
                f'There is already a project called "{existing.name}" (led by {lead}). To join '
                f"it: /qi-join {existing.name} as staff"
            )
        now = ctx.now()
        try:
            # Two people registering the same name at once: the unique name decides.
            with session.begin_nested():
                project = create_project(
                    session,
                    name=name,
                    lead_id=person.id,
                    site=site,
                    status=ProjectStatus.ACTIVE,
                    now=now,
                )
        except IntegrityError:
            raise Refusal(
                f'Someone has just registered a project called "{name}". Type /qi-projects to '
                "see it."
            ) from None
        if lead_role is not None:
            # A lead who says how they take part (a carer leading a project) is on the team, and
            # counts like any other member.
            memberships.add_membership(
                session,
                project_id=project.id,
                person_id=person.id,
                role=lead_role,
                involvement=Involvement.TEAM_MEMBER,
                consent_by_id=person.id,
                now=now,
            )
        record(
            session,
            at=now,
            actor_id=person.id,
            action="project.created",
            subject_type="project",
            subject_id=project.id,
        )
        return build_new_project_reply(project, lead_role)


def build_new_project_reply(project: Project, lead_role: Role | None) -> Reply:
    """The welcome for a new project, asking who with lived experience will be on the team.

    A lead who is on the team as a service user or carer is that person: they are thanked,
    not asked.
    """
    registered = Section(
        text=f'You\'re the lead of "{project.name}"'
        + (f", and on its team {as_role(lead_role)}." if lead_role else "."),
        heading="Project registered",
    )
    if lead_role in LIVED_EXPERIENCE_ROLES:
        return Reply(
            sections=(
                registered,
                Section(
                    text="Thank you: your project has someone with lived experience on its "
                    "team from the start. Others can join it by typing: "
                    f"/qi-join {project.name} as staff (or service user, or carer)",
                    buttons=(
                        Button(
                            "Record someone already involved", ids.OPEN_ADD_MEMBER, str(project.id)
                        ),
                        Button("See the next forum meeting", ids.SHOW_FORUM),
                    ),
                ),
            )
        )
    ask = (
        "Who with lived experience will be on your team? Projects go further when service "
        "users and carers help shape them from the start, not only when asked at the end."
    )
    ways = (
        "Ways to bring someone in:\n"
        f"• If they use chat, ask them to type: /qi-join {project.name} as service user "
        "(or carer)\n"
        "• If they don't, record them yourself once they have agreed: "
        f'/qi-project add-member "{project.name}" "Their name" as carer --consent\n'
        "• Come to the QI forum and meet people who would like to help: /qi-forum"
    )
    buttons = (
        Button("Record someone already involved", ids.OPEN_ADD_MEMBER, str(project.id), True),
        Button("See the next forum meeting", ids.SHOW_FORUM),
    )
    return Reply(sections=(registered, Section(text=ask), Section(text=ways, buttons=buttons)))


def add_member_command(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`add-member "<project>" "<name>" as <role> --consent [--consulted] [--since DATE]`."""
    left, role_words = split_on_as(args.words)
    if len(left) < 2:
        raise Refusal(f"Please say which project and who, like this: {ADD_MEMBER_EXAMPLE}")
    role = require_role(role_words, example=ADD_MEMBER_EXAMPLE)
    involvement = Involvement.CONSULTED if "consulted" in args.flags else Involvement.TEAM_MEMBER
    since = parse_since(ctx, args.options.get("since"))
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project, name = split_project_and_person(session, left, example=ADD_MEMBER_EXAMPLE)
        return add_member(
            session,
            ctx,
            person,
            project,
            name,
            role,
            involvement,
            "consent" in args.flags,
            since=since,
        )


def add_member(
    session: Session,
    ctx: Context,
    recorder: Person,
    project: Project,
    name: str,
    role: Role,
    involvement: Involvement,
    consent: bool,
    *,
    since: datetime | None = None,
) -> Reply:
    """Record someone who is not on chat as a team member, once they have agreed.

    `since`: they joined earlier than today (consent is still recorded as checked today).
    """
    require_lead_or_admin(session, recorder, project)
    tidy = clean_name(name)
    if not name_key(tidy):
        raise Refusal(f"Please give the person's name, like this: {ADD_MEMBER_EXAMPLE}")
    if len(tidy) > PERSON_NAME_MAX:
        raise Refusal(f"That name is too long. Please keep it under {PERSON_NAME_MAX} characters.")
    if not consent:
        raise Refusal(
            f"Before I record {tidy}, please check they are happy to be part of the team and for "
            "their name to be kept in qi-nudge (nothing else about them is stored). When they "
            f'have said yes, add --consent: /qi-project add-member "{project.name}" "{tidy}" '
            f"as {role.label} --consent"
        )
    team = current_team(session, project.id)
    # Only recorded members (not on chat) can be the same person typed again: a staff member on
    # chat who shares a carer's name is somebody else. Folded in Python for "Élodie"/"ÉLODIE".
    same = next((m for m in team if not m.in_chat and name_key(m.name) == name_key(tidy)), None)
    if same is not None:
        return _already_on_team(session, ctx, recorder, project, team, same, role)
    had_lived_experience = any(
        m.role in LIVED_EXPERIENCE_ROLES and m.involvement == Involvement.TEAM_MEMBER for m in team
    )
    now = ctx.now()
    # The same carer recorded by the same lead on a second project is one person, so that
    # exporting or erasing their data finds all of it.
    member = memberships.recorded_person_named(session, recorded_by_id=recorder.id, name=tidy)
    if member is None:
        member = Person(display_name=tidy, created_at=now)
        session.add(member)
        session.flush()
    membership = memberships.add_membership(
        session,
        project_id=project.id,
        person_id=member.id,
        role=role,
        involvement=involvement,
        consent_by_id=recorder.id,
        now=now,
    )
    note = ""
    if since is not None:
        since, note = within_project(ctx, project, since)
        membership.joined_at = since
        # The weeks since then were recorded without them: work those out again, so that the
        # run chart counts them from the date given (as figures worked out later).
        refigure_since(session, ctx, since)
    record(
        session,
        at=now,
        actor_id=recorder.id,
        action="membership.recorded",
        subject_type="membership",
        subject_id=membership.id,
        project_id=project.id,
        role=role.value,
        involvement=involvement.value,
        consent=True,
    )
    how = "a team member" if involvement == Involvement.TEAM_MEMBER else "someone the team consults"
    text = (
        f'{tidy} is now recorded on the "{project.name}" team {as_role(role)}, {how}. '
        "I've noted that you checked they agreed."
    )
    counts = role in LIVED_EXPERIENCE_ROLES and involvement == Involvement.TEAM_MEMBER
    if counts and not had_lived_experience:
        text += f' "{project.name}" now has a service user or carer on the team. Thank you.'
    return say(text + note)


def _already_on_team(
    session: Session,
    ctx: Context,
    recorder: Person,
    project: Project,
    team: list[TeamMember],
    member: TeamMember,
    role: Role,
) -> Reply:
    """Recorded again: nothing new, unless a new role was given, which replaces the old one."""
    if member.role == role:
        return say(f'{member.name} is already on the "{project.name}" team {as_role(role)}.')
    membership = session.get(Membership, member.membership_id)
    assert membership is not None
    membership.role = role
    # The run chart reads role changes from the audit trail, as for /qi-join.
    record(
        session,
        at=ctx.now(),
        actor_id=recorder.id,
        action=ROLE_CHANGED,
        subject_type="membership",
        subject_id=membership.id,
        project_id=project.id,
        old=member.role.value,
        new=role.value,
    )
    text = (
        f'{member.name} is already on the "{project.name}" team. I\'ve changed their role from '
        f"{member.role.label} to {role.label}."
    )
    counted = [m for m in team if counts_in_headline(m.role, m.involvement)]
    if counted == [member] and not counts_in_headline(role, member.involvement):
        text += f' "{project.name}" now has no service user or carer on the team.'
    elif not counted and counts_in_headline(role, member.involvement):
        text += f' "{project.name}" now has a service user or carer on the team. Thank you.'
    return say(text)


def build_add_member_form(project: Project) -> Form:
    """The form to record a team member who is not on chat."""
    return Form(
        form_id=ids.ADD_MEMBER_FORM,
        title="Record a team member",
        context=str(project.id),
        fields=(
            FormField("name", "Their name", hint="As they would like to be named"),
            FormField(
                "role",
                "Their role",
                choices=tuple(Choice(r.label.capitalize(), r.value) for r in Role),
            ),
            FormField(
                "involvement",
                "How are they involved?",
                choices=(
                    Choice("A member of the team", Involvement.TEAM_MEMBER.value),
                    Choice("Consulted now and then", Involvement.CONSULTED.value),
                ),
            ),
            FormField(
                "consent",
                "Have they agreed to be on the team and for their name to be kept here?",
                choices=(Choice("Yes, they have agreed", "yes"),),
            ),
        ),
        submit_label="Record",
    )


def handle_open_add_member(ctx: Context, actor: Actor, value: str) -> Reply:
    """The 'Record someone already involved' button: open the form for that project."""
    return open_project_form(
        ctx,
        actor,
        value,
        'Record a member of the "{name}" team.',
        lambda session, project: build_add_member_form(project),
    )


def handle_add_member_form(
    ctx: Context, actor: Actor, values: dict[str, str], context: str
) -> Reply:
    """The add-member form's answers."""
    role = parse_role(values.get("role", ""))
    if role is None:
        raise Refusal("Please choose their role.")
    try:
        involvement = Involvement(values.get("involvement") or Involvement.TEAM_MEMBER.value)
    except ValueError:
        raise Refusal("Please choose how they are involved.") from None
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = project_by_id(session, context)
        return add_member(
            session,
            ctx,
            person,
            ensure_open(project),
            values.get("name", ""),
            role,
            involvement,
            values.get("consent") == "yes",
        )


def show_project(ctx: Context, actor: Actor, text: str) -> Reply:
    """A project's lead, status and team; names only for its lead and forum organisers."""
    query = " ".join(parse_arguments(text).words)
    if not name_key(query):
        raise Refusal('Which project? For example: /qi-project show "Falls prevention"')
    with ctx.sessions() as session:
        person = known_person(session, actor)
        project = find_project(session, query, open_only=False)
        everyone = current_team(session, project.id)
        is_lead = person is not None and project.lead_person_id == person.id
        # Many members are not on chat and agreed to be on a team, not to be listed to all.
        may_see_names = is_lead or (
            person is not None and people_store.is_admin(session, person.id)
        )
        return build_project_card(
            project,
            everyone,
            is_lead=is_lead,
            show_names=may_see_names,
            viewer_id=person.id if person else None,
        )


def build_project_card(
    project: Project,
    everyone: list[TeamMember],
    *,
    is_lead: bool,
    show_names: bool,
    viewer_id: int | None,
) -> Reply:
    """The project card: facts, whether lived experience is on the team, and the team."""
    team = [m for m in everyone if m.involvement == Involvement.TEAM_MEMBER]
    consulted = [m for m in everyone if m.involvement == Involvement.CONSULTED]
    lead = project.lead.display_name if project.lead else "no lead named"
    site = f" at {project.site}" if project.site else ""
    has_le = any(m.role in LIVED_EXPERIENCE_ROLES for m in team)
    status = (
        "It has a service user or carer on the team."
        if has_le
        else "It has no service user or carer on the team yet."
    )
    lines: list[str] = []
    if show_names:
        # Lived experience first (as `current_team` orders), then the rest, as many as fit.
        listed = shortlist([*team, *consulted], TEAM_SHOWN, line=_member_line)
        lines += [_member_line(m) for m in listed.shown]
        if listed.more:
            rest = Counter(m.role for m in [*team, *consulted][len(listed.shown) :])
            lines.append(f"{and_more(listed.more)}: {counts_by_role(rest)}.")
    else:
        if team:
            lines.append("On the team: " + counts_by_role(Counter(m.role for m in team)) + ".")
        if consulted:
            lines.append(
                "Also consulted now and then: "
                + counts_by_role(Counter(m.role for m in consulted))
                + "."
            )
        mine = next((m for m in everyone if m.person_id == viewer_id), None)
        if mine is not None:
            lines.append(f"You're on the team {as_role(mine.role)}.")
    if not everyone:
        lines = ["Nobody has joined the team yet."]
    buttons: tuple[Button, ...] = ()
    if is_lead and not has_le:
        buttons = (Button("Record someone already involved", ids.OPEN_ADD_MEMBER, str(project.id)),)
    if show_names and everyone:
        # Only the lead and organisers see names, and only they may change the team.
        buttons += (Button("Change or remove someone", ids.OPEN_CHANGE_MEMBER, str(project.id)),)
    return Reply(
        sections=(
            Section(
                text=f"Led by {lead}{site}. Status: {project.status.label}. {status}",
                heading=project.name,
            ),
            Section(text="\n".join(lines), buttons=buttons),
        )
    )


def _member_line(member: TeamMember) -> str:
    consulted = ", consulted now and then" if member.involvement == Involvement.CONSULTED else ""
    return f"• {member.name}: {member.role.label}{consulted}" + (
        "" if member.in_chat else " (not on chat)"
    )


def set_status(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`status "<project>" <active|on hold|completed|stopped>`, for the lead or an organiser."""
    if len(args.words) < 2:
        raise Refusal(
            "Please say which project and its new status, like this: "
            '/qi-project status "Falls prevention" completed'
        )
    # Two-word statuses first: "on hold" must not be read as "hold" after a project "... on".
    for cut in (2, 1):
        status = parse_status(" ".join(args.words[-cut:]))
        if status is not None and len(args.words) > cut:
            project_text = " ".join(args.words[:-cut])
            break
    else:
        raise Refusal("The status can be: active, on hold, completed or stopped.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = find_project(session, project_text, open_only=False)
        require_lead_or_admin(session, person, project)
        if project.status == status:
            return say(f'"{project.name}" is already {status.label}.')
        old = project.status
        project.status = status
        project.updated_at = ctx.now()
        if old == ProjectStatus.ACTIVE:
            # Whoever it was introduced to is free for another project at the next sweep.
            match_store.expire_open_of_project(session, project.id, now=ctx.now())
        # Paused and restarted (or reopened): its reminders begin again from the first.
        nudge_store.start_afresh(session, project.id)
        record(
            session,
            at=ctx.now(),
            actor_id=person.id,
            action="project.status_changed",
            subject_type="project",
            subject_id=project.id,
            old=old.value,
            new=status.value,
        )
        return say(f'"{project.name}" is now {status.label} (it was {old.label}).')
