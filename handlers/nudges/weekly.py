"""The weekly nudge: kindly ask leads "who with lived experience is on your team?"."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cache
from typing import NamedTuple

from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.args import parse_id
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.long_lists import Shortlist, and_more, shortlist, words_of
from handlers.core.lookup import known_person
from handlers.core.reply import Actor, Button, Reply, Section, say
from handlers.core.weeks import week_before
from handlers.core.wording import first_name, join_names
from handlers.nudges.matchmaking import (
    OFFER_NO,
    OFFER_YES,
    Seeking,
    choose_matches,
    offer_section,
    offer_text,
    tell_leads_of_lapsed,
)
from handlers.projects.listing import SEE_MINE
from store import matches as match_store
from store import nudges as nudge_store
from store import outbox
from store.engine import let_others_write, reading_only
from store.models import Person, Project
from store.nudges import Candidate
from store.people import is_admin, list_admins
from store.roles import Role

NUDGE = "nudge"
ESCALATION = "escalation"
# A lead with many projects gets one message they can act on: this many of the projects
# waiting longest, each with its buttons, then how many more there are (Slack takes 50 blocks
# in a message, and each project shown takes two, two more with an offer from the forum).
NUDGE_PROJECTS_SHOWN = 10
OFFER_BUTTONS = (Button(OFFER_YES, ids.MATCH_OFFER), Button(OFFER_NO, ids.MATCH_OFFER))
# Up to this many projects, the opening names them all; beyond, it counts them.
NAMED_IN_OPENING = 3
# The organisers' note lists this many projects, the first few with a button each.
ESCALATION_PROJECTS_SHOWN = 20
ESCALATION_BUTTONS = 5
# The sweep writes in transactions of at most this many rows (project states, messages), with
# a pause between them: on SQLite one long transaction would hold the only write lock, and
# every chat request would wait for it (seconds, at 100,000 projects). One of this size takes
# tens of milliseconds; each pause costs 0.1 s, so not much smaller.
SWEEP_CHUNK = 5000
WHY_IT_MATTERS = (
    "Projects go further when people who use our services, or care for someone who does, help "
    "shape them from the start."
)


@dataclass(frozen=True)
class NudgePolicy:
    """When the weekly sweep runs (local time) and when a quiet project goes to the organisers."""

    weekday: int = 0  # Monday
    at: time = time(9, 30)
    escalate_after: int = 3  # nudges in a row before the organisers are asked instead


class Decision(NamedTuple):
    """What the sweep does about one project, and why (for `qi-nudge remind --dry-run`)."""

    project_id: int
    project_name: str
    lead_name: str | None
    action: str  # "nudge", "escalate" or "skip"
    why: str
    lead_id: int | None = None
    skipped_for: str = ""  # a skip's reason, one of SKIPPED_FOR: what the totals count


@dataclass
class SweepPlan:
    """Everything one week's sweep decided: messages to plan and project states to save."""

    week: str
    decisions: list[Decision] = field(default_factory=list)
    deliveries: list[outbox.Planned] = field(default_factory=list)
    states: list[dict[str, object]] = field(default_factory=list)
    # Introductions to offer: (project, forum member who would like a project, their role).
    offers: list[tuple[int, int, Role]] = field(default_factory=list)
    planned_new: int = 0


def plan_sweep(session: Session, ctx: Context, *, week: str, policy: NudgePolicy) -> SweepPlan:
    """Decide this week's nudges and escalations from one query; changes nothing."""
    now = ctx.now()
    plan = SweepPlan(week=week)
    nudged: dict[int, list[int]] = defaultdict(list)
    escalated: list[int] = []
    seeking: dict[int, list[tuple[int, str, Seeking]]] = defaultdict(list)
    # Without an organiser to pass a project to, escalating would silence it: keep nudging.
    admins = list_admins(session)
    for c in nudge_store.candidates(session):
        action, why, count = _decide(
            c, week=week, now=now, ctx=ctx, policy=policy, can_escalate=bool(admins)
        )
        skipped_for = _skipped_for(c, now) if action == "skip" else ""
        plan.decisions.append(
            Decision(c.project_id, c.project_name, c.lead_name, action, why, c.lead_id, skipped_for)
        )
        if action == "skip":
            continue
        plan.states.append(
            {
                "project_id": c.project_id,
                "weeks_in_a_row": count,
                "last_week": week,
                "escalated_at": now if action == "escalate" else None,
            }
        )
        if action == "nudge" and c.lead_id is not None:
            nudged[c.lead_id].append(c.project_id)
            # Offered once, in the week's first message: a re-run mid-week sends nothing new.
            if c.last_week != week:
                seeking[c.lead_id].append((count, c.project_name, Seeking(c.project_id, c.lead_id)))
        elif action == "escalate":
            escalated.append(c.project_id)
    # Only to projects the lead's message shows (the longest waiting, in the order it shows
    # them): an offer the lead never sees would keep its person from every other team until it
    # lapses.
    shown = [
        item
        for items in seeking.values()
        for item in shortlist(
            sorted(items, key=lambda item: (-item[0], item[2].project_id)),
            NUDGE_PROJECTS_SHOWN,
            line=lambda item: _room_taken(item[2].project_id, item[1]),
        ).shown
    ]
    # Longest without a partner first, so the first person free goes where it matters most.
    shown.sort(key=lambda item: -item[0])
    plan.offers = choose_matches(session, [s for _, _, s in shown])
    offered = {project_id: role for project_id, _person, role in plan.offers}
    plan.decisions = [
        d._replace(why=f"{d.why}; a {offered[d.project_id].label} from the forum is offered")
        if d.project_id in offered
        else d
        for d in plan.decisions
    ]
    # One message per lead, however many of their projects need it: no pile of DMs.
    covered = nudge_store.nudged_this_week(session, NUDGE, week)
    for lead_id, project_ids in nudged.items():
        recipient = outbox.person_recipient(lead_id)
        sent = covered.get(recipient, nudge_store.WeekMessages())
        plan.deliveries.append(_week_message(NUDGE, recipient, sorted(project_ids), sent, week))
    if escalated:
        # The organisers may have had this week's message already (a re-run mid-week):
        # projects escalated since then need a follow-up, or nobody would hear of them.
        told = nudge_store.nudged_this_week(session, ESCALATION, week)
        for admin in admins:
            recipient = outbox.person_recipient(admin.id)
            sent = told.get(recipient, nudge_store.WeekMessages())
            plan.deliveries.append(
                _week_message(ESCALATION, recipient, sorted(escalated), sent, week)
            )
    return plan


def _week_message(
    kind: str, recipient: str, project_ids: list[int], sent: nudge_store.WeekMessages, week: str
) -> outbox.Planned:
    """The week's message about these projects; on a re-run, a follow-up for the new ones.

    A project that needed a reminder (or escalating) only after this week's message went
    (`remind --now` run again mid-week), or whose message was withdrawn, would otherwise be
    counted as dealt with without anyone being told.
    """
    new = [p for p in project_ids if p not in sent.covered]
    if not sent.occurrences or not new:
        return outbox.Planned(kind, week, recipient, {"projects": project_ids})
    # Named by its first project, so running again finds this follow-up instead of a new one.
    occurrence, again = f"{week}+{new[0]}", 1
    while occurrence in sent.occurrences:  # that follow-up was itself withdrawn
        again += 1
        occurrence = f"{week}+{new[0]}.{again}"
    return outbox.Planned(kind, occurrence, recipient, {"projects": new})


def _decide(
    c: Candidate,
    *,
    week: str,
    now: datetime,
    ctx: Context,
    policy: NudgePolicy,
    can_escalate: bool = True,
) -> tuple[str, str, int]:
    if c.lead_id is None:
        return "skip", "no lead is recorded, so there is nobody to ask", 0
    if c.lead_muted:
        return "skip", "the lead has turned weekly reminders off", 0
    if c.snoozed_until is not None and c.snoozed_until > now:
        until = c.snoozed_until.astimezone(ctx.timezone)
        reason = SNOOZE_REASONS.get(c.snooze_reason or "", "no reason given")
        return "skip", f"snoozed until {until.day} {until:%B %Y} ({reason})", 0
    if c.escalated:
        return "skip", "already passed to the forum organisers; waiting for a change", 0
    if c.last_week == week:
        count = c.weeks_in_a_row  # this week's sweep ran already: same answer, nothing new
    elif c.last_week == week_before(week):
        count = c.weeks_in_a_row + 1
    else:
        count = 1
    if count > policy.escalate_after and can_escalate:
        return (
            "escalate",
            f"nudged {policy.escalate_after} weeks running with no change: "
            "the forum organisers are asked to help instead",
            count,
        )
    return "nudge", f"no service user or carer on the team (reminder {count} in a row)", count


# Why a project is skipped, as the dry run's totals count them, in the order _decide asks.
SKIPPED_FOR = {
    "no_lead": "no lead",
    "muted": "lead turned reminders off",
    "snoozed": "snoozed",
    "escalated": "already with the organisers",
}


def _skipped_for(c: Candidate, now: datetime) -> str:
    """The key in SKIPPED_FOR of a project _decide skipped."""
    if c.lead_id is None:
        return "no_lead"
    if c.lead_muted:
        return "muted"
    if c.snoozed_until is not None and c.snoozed_until > now:
        return "snoozed"
    return "escalated"


def tidy_before_sweep(session: Session, ctx: Context, *, week: str) -> None:
    """Clear what changed since last week: settled projects, unanswered introductions."""
    nudge_store.forget_settled(session)
    lapsed = match_store.expire_stale(session, week=week, now=ctx.now())
    tell_leads_of_lapsed(session, lapsed, ctx.now())


def run_sweep(
    ctx: Context,
    *,
    week: str,
    policy: NudgePolicy,
    between: Callable[[], None] | None = None,
) -> SweepPlan:
    """Plan this week's nudges into the outbox and save project states, in short transactions.

    The plan is worked out in a read transaction (on SQLite it holds no write lock), then
    written in transactions of at most SWEEP_CHUNK rows, calling `between` between any two
    (by default a pause for requests waiting to write). The rows go in an order that lets a
    run stopped between any two transactions be finished by the next (the scheduler runs an
    unfinished week again) with nothing twice: introductions first (a project whose state says
    it was reminded this week is not offered one again; one with an open offer is not offered
    another), then the messages (planning one again finds its row), then the project states
    (a project escalated this week is skipped by a later run, so its note is planned before
    its state says so).
    """
    pause = between or (lambda: let_others_write(ctx.sessions))
    with ctx.sessions.begin() as session:
        tidy_before_sweep(session, ctx, week=week)
    # Planning only reads: on SQLite it holds no write lock, so chat requests write meanwhile.
    with reading_only(), ctx.sessions() as session:
        plan = plan_sweep(session, ctx, week=week, policy=policy)
    now = ctx.now()

    def offer(session: Session, pairs: Sequence[tuple[int, int, Role]]) -> None:
        match_store.add_offers(session, pairs, week=week, now=now)

    def deliver(session: Session, planned: Sequence[outbox.Planned]) -> None:
        plan.planned_new += outbox.plan(session, planned, now=now)

    def save(session: Session, states: Sequence[dict[str, object]]) -> None:
        nudge_store.save_states(session, states, now=now)

    writes: list[tuple[Callable[[Session, Sequence], None], Sequence]] = [
        (offer, plan.offers),
        (deliver, plan.deliveries),
        (save, plan.states),
    ]
    total = sum(len(rows) for _write, rows in writes)
    for first in range(0, total, SWEEP_CHUNK):
        if first:
            pause()
        with ctx.sessions.begin() as session:
            _write_rows(session, writes, first, first + SWEEP_CHUNK)
    return plan


def _write_rows(
    session: Session,
    writes: list[tuple[Callable[[Session, Sequence], None], Sequence]],
    start: int,
    stop: int,
) -> None:
    """Rows start to stop of all the writes' rows, taken in order, each write given its own."""
    offset = 0
    for write, rows in writes:
        mine = rows[max(start - offset, 0) : max(stop - offset, 0)]
        if mine:
            write(session, mine)
        offset += len(rows)


SNOOZE_REASONS = {
    "recruiting": "we're finding someone",
    "not_appropriate": "not right for this project",
    "other": "another reason",
}


def render_nudge(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The lead's weekly message, from what is true now; None if it is no longer needed.

    However many projects need it, one message that fits: the longest waiting with their
    buttons, then how many more there are, a button for the next few and where to see them all.
    """
    lead_id = outbox.recipient_person_id(delivery.recipient)
    waiting, total = nudge_store.still_without_lived_experience(
        session,
        delivery.payload.get("projects", []),
        lead_id=lead_id,
        now=ctx.now(),
        most=NUDGE_PROJECTS_SHOWN,
    )
    lead = session.get(Person, lead_id) if lead_id is not None else None
    if not waiting or lead is None or lead.nudges_muted_at is not None:
        return None
    # As many as fit in one message, counting every word each project may add to it.
    listed = shortlist(
        waiting,
        NUDGE_PROJECTS_SHOWN,
        line=lambda w: _room_taken(w.project.id, w.project.name),
        total=total,
    )
    shown = [w.project for w in listed.shown]
    # The heading asks the question; the words say where things stand and what to do.
    hello = f"Hello {first_name(lead.display_name)}."
    if total == 1:
        opening = f'{hello} Your "{shown[0].name}" team has no service user or carer on it yet.'
    elif not listed.more and total <= NAMED_IN_OPENING:
        names = join_names(f'"{p.name}"' for p in shown)
        opening = f"{hello} Your teams {names} have no service user or carer on them yet."
    else:
        opening = (
            f"{hello} {total} of your project teams have no service user or carer on them yet."
        )
    opening += (
        " If someone is already involved, add them. If not, the forum can help you find someone."
    )
    sections = [Section(heading="Who with lived experience is on your team?", text=opening)]
    offers = match_store.open_offers_for(session, [p.id for p in shown])
    sections.extend(offer_section(offers[p.id], p) for p in shown if p.id in offers)
    steps = "Here are some next steps"
    if listed.more:
        steps += f" for the {len(shown)} that have waited longest for a service user or carer"
    sections.append(Section(text=f"{WHY_IT_MATTERS} {steps}:"))
    sections.extend(_next_steps(p.id, p.name, named=total > 1) for p in shown)
    if listed.more:
        value = f"{_week_of(delivery)}:{lead.id}:{_mark_value(listed.shown[-1].mark)}"
        sections.append(_more_of_yours(listed.more, value))
    sections.append(
        Section(
            text="Rather not get these weekly reminders?",
            buttons=(Button("Turn reminders off", ids.MUTE_NUDGES, "off"),),
        )
    )
    return Reply(sections=tuple(sections))


def _next_steps(project_id: int, name: str, *, named: bool, lead: str | None = None) -> Section:
    """The buttons for one project, under its name (and lead's) when there are several."""
    led = f" (lead: {lead})" if lead else ""
    return Section(
        text=f'"{name}"{led}' if named else "",
        buttons=(
            Button("Ask the forum to find a partner", ids.ASK_FORUM, str(project_id), primary=True),
            Button("Add someone already involved", ids.OPEN_ADD_MEMBER, str(project_id)),
            Button("Snooze", ids.OPEN_SNOOZE, str(project_id)),
        ),
    )


def _room_taken(project_id: int, name: str) -> str:
    """Every word one project may add to the reminder: its next steps, and an offer.

    The sweep offers introductions only to the projects the reminder will show, before it
    knows which get one; so both count every project as offered one. The words do not
    depend on the project's id (only buttons' values carry it), so they are the words of a
    placeholder project with its name put in: the sweep asks this of thousands of projects.
    """
    return _room_template().replace(_NAME, name)


_NAME = "\x00"


@cache
def _room_template() -> str:
    offer = Section(text=offer_text(Role.SERVICE_USER, _NAME), buttons=OFFER_BUTTONS)
    return words_of(_next_steps(0, _NAME, named=True), offer)


def _more_of_yours(more: int, value: str) -> Section:
    """How many more of the lead's projects wait, with a button for the next few of them."""
    verb = "has" if more == 1 else "have"
    return Section(
        text=f"{and_more(more, 'of your projects', 'of your projects')} also {verb} no service "
        f"user or carer on the team yet. {SEE_MINE}",
        buttons=(Button(show_next_label(more), ids.MORE_WAITING, value),),
    )


def show_next_label(more: int) -> str:
    """'Show the next 10 projects': as many as the next answer shows, at most."""
    count = min(more, NUDGE_PROJECTS_SHOWN)
    return "Show the next project" if count == 1 else f"Show the next {count} projects"


def render_escalation(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The organisers' note about projects that stayed without a partner after reminders."""
    waiting, total = nudge_store.still_without_lived_experience(
        session,
        delivery.payload.get("projects", []),
        lead_id=None,
        now=ctx.now(),
        most=ESCALATION_PROJECTS_SHOWN,
    )
    if not waiting:
        return None
    listed = shortlist(
        waiting,
        ESCALATION_PROJECTS_SHOWN,
        line=lambda w: _escalation_line(w.project),
        total=total,
    )
    lines = [_escalation_line(w.project) for w in listed.shown]
    if listed.more:
        lines.append(
            f"{and_more(listed.more, 'project')}. Type /qi-projects to see every active project "
            "and whether it has a service user or carer on the team."
        )
    with_buttons = listed.shown[:ESCALATION_BUTTONS]
    sections = [
        Section(
            heading="Projects that could use the forum's help",
            text=(
                "These projects still have no service user or carer on the team after "
                "several weekly reminders. A friendly word from the forum may help more "
                "than another reminder, so I have stopped reminding their leads:\n"
                + "\n".join(lines)
            ),
            buttons=tuple(
                Button(f'Ask the forum for "{w.project.name}"', ids.ASK_FORUM, str(w.project.id))
                for w in with_buttons
            ),
        ),
    ]
    rest = total - len(with_buttons)
    if rest:
        value = f"{_week_of(delivery)}:{_mark_value(with_buttons[-1].mark)}"
        sections.append(
            Section(
                text="The other one has buttons too:"
                if rest == 1
                else f"The other {rest} have buttons too, a few at a time:",
                buttons=(Button(show_next_label(rest), ids.MORE_ESCALATED, value),),
            )
        )
    return Reply(sections=tuple(sections))


def _escalation_line(project: Project) -> str:
    return f'• "{project.name}" (lead: {_lead_name(project)})'


# --- the rest of a long reminder or note, a few at a time -----------------------------------

MORE_BROKE = "Sorry, that button didn't work. Type /qi-projects mine to see your projects."
FOR_SOMEONE_ELSE = (
    "This button was for someone else. Type /qi-projects mine to see your own projects."
)
NO_MORE = (
    "There are no more projects from that {what} to show: they have a service user or carer "
    "now, were snoozed or closed, or a newer {what} has them. {where}"
)
NO_MORE_OF_YOURS = NO_MORE.format(
    what="reminder", where="Type /qi-projects mine to see all your projects."
)
NO_MORE_ESCALATED = NO_MORE.format(
    what="note", where="Type /qi-projects to see every active project."
)
_WEEK = re.compile(r"\d{4}-W\d{2}")


def _week_of(delivery: outbox.Claimed) -> str:
    """The week a reminder is for: its occurrence, or that of the reminder it follows up."""
    return delivery.occurrence.partition("+")[0]


def _mark_value(mark: nudge_store.WaitMark) -> str:
    return f"{mark.weeks_in_a_row}:{mark.project_id}"


def _read_more_value(value: str, count: int) -> tuple[str, list[int]]:
    """The week and the `count` numbers a 'Show the next' button carries; a Refusal if not ours."""
    week, *texts = value.split(":")
    numbers = [parse_id(text) for text in texts]
    if len(numbers) != count or not _WEEK.fullmatch(week) or None in numbers:
        raise Refusal(MORE_BROKE)
    return week, [n for n in numbers if n is not None]


def _next_batch(
    session: Session, ctx: Context, *, week: str, lead_id: int | None, after: list[int]
) -> Shortlist[nudge_store.Waiting]:
    """The next few projects of that week's reminder to the lead (None: the organisers' note)."""
    batch, total = nudge_store.reminded_in_week(
        session,
        week=week,
        lead_id=lead_id,
        escalated=lead_id is None,
        after=nudge_store.WaitMark(*after),
        now=ctx.now(),
        most=NUDGE_PROJECTS_SHOWN,
    )
    return shortlist(batch, NUDGE_PROJECTS_SHOWN, line=_steps_room, total=total)


def handle_more_waiting_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'Show the next 10 projects' on a lead's reminder: the next few, with their buttons."""
    week, (lead_id, *after) = _read_more_value(value, 3)
    with ctx.sessions() as session:
        person = known_person(session, actor)
        if person is None or (person.id != lead_id and not is_admin(session, person.id)):
            raise Refusal(FOR_SOMEONE_ELSE)
        listed = _next_batch(session, ctx, week=week, lead_id=lead_id, after=after)
        if not listed.shown:
            return say(NO_MORE_OF_YOURS)
        sections = [
            Section(
                heading="More of your projects",
                text="These also have no service user or carer on the team yet. Here are some "
                "next steps:",
            ),
            *(_next_steps(w.project.id, w.project.name, named=True) for w in listed.shown),
        ]
    if listed.more:
        value = f"{week}:{lead_id}:{_mark_value(listed.shown[-1].mark)}"
        sections.append(_more_of_yours(listed.more, value))
    return Reply(sections=tuple(sections))


def handle_more_escalated_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'Show the next 10 projects' on the organisers' note: the next few, with their buttons."""
    week, after = _read_more_value(value, 2)
    with ctx.sessions() as session:
        person = known_person(session, actor)
        if person is None or not is_admin(session, person.id):
            raise Refusal(FOR_SOMEONE_ELSE)
        listed = _next_batch(session, ctx, week=week, lead_id=None, after=after)
        if not listed.shown:
            return say(NO_MORE_ESCALATED)
        sections = [
            Section(
                heading="More projects that could use the forum's help",
                text="These also still have no service user or carer on the team after several "
                "weekly reminders:",
            ),
            *(
                _next_steps(w.project.id, w.project.name, named=True, lead=_lead_name(w.project))
                for w in listed.shown
            ),
        ]
    if listed.more:
        value = f"{week}:{_mark_value(listed.shown[-1].mark)}"
        sections.append(
            Section(
                text=f"{and_more(listed.more, 'project')} also waiting.",
                buttons=(Button(show_next_label(listed.more), ids.MORE_ESCALATED, value),),
            )
        )
    return Reply(sections=tuple(sections))


def _steps_room(waiting: nudge_store.Waiting) -> str:
    """Every word one project adds to a 'Show the next' answer."""
    project = waiting.project
    return words_of(_next_steps(project.id, project.name, named=True, lead=_lead_name(project)))


def _lead_name(project: Project) -> str:
    return project.lead.display_name if project.lead else "no lead recorded"
