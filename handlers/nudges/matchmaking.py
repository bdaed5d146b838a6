"""Matchmaking: introduce forum members who want a project to leads whose team has nobody.

As a matchmaker would, and in this order, so that nobody's name travels without their say:
1. The weekly nudge offers the lead "a carer from the forum", without a name.
2. If the lead says yes, the person is asked, by name of the project and its lead.
3. Only the person's own "yes" puts them on the team; the lead is told either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.args import parse_id
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import acting_person, require_lead_or_admin
from handlers.core.reply import Actor, Button, Reply, Section, say
from handlers.core.wording import first_name
from handlers.projects.join import join_project
from store import matches, outbox
from store.audit import record
from store.models import ForumMember, MatchOffer, Project
from store.roles import ProjectStatus, Role

MATCH_ASK = "match_ask"  # to the person: would you like to join this team?
MATCH_RESULT = "match_result"  # to the lead: they joined, or can't this time
OFFER_YES = "Yes, ask them"
OFFER_NO = "No, thank you"


@dataclass(frozen=True)
class Seeking:
    """A project being nudged this week that could be offered someone from the forum."""

    project_id: int
    lead_id: int


def choose_matches(session: Session, seeking: Sequence[Seeking]) -> list[tuple[int, int, Role]]:
    """Pair willing people with projects, each at most once; changes nothing.

    Projects come in the order given (longest without a partner first) and people in the
    order they have waited, so everyone gets a turn.
    """
    if not seeking:
        return []
    free = matches.willing_people(session)
    if not free:
        return []
    # All open offers (few), rather than a lookup by every project seeking (many thousands).
    busy = matches.projects_with_open_offers(session)
    blocked = matches.unavailable_pairs(session, [w.person_id for w in free])
    pairs: list[tuple[int, int, Role]] = []
    for project in seeking:
        if project.project_id in busy:
            continue
        for index, person in enumerate(free):
            if person.person_id == project.lead_id:
                continue  # a lead with lived experience is already more than an offer
            if (project.project_id, person.person_id) in blocked:
                continue
            pairs.append((project.project_id, person.person_id, person.role))
            del free[index]
            break
        if not free:
            break
    return pairs


def offer_section(offer: MatchOffer, project: Project) -> Section:
    """The part of the lead's nudge that offers an introduction (no name until they agree)."""
    if offer.status == matches.ASKED:
        return Section(
            text=(
                f"I've asked the {offer.role.label} from the forum if they would like to join "
                f'"{project.name}". I\'ll let you know what they say.'
            )
        )
    return Section(
        text=offer_text(offer.role, project.name),
        buttons=(
            Button(OFFER_YES, ids.MATCH_OFFER, f"{offer.id}:yes", primary=True),
            Button(OFFER_NO, ids.MATCH_OFFER, f"{offer.id}:no"),
        ),
    )


def offer_text(role: Role, project_name: str) -> str:
    """The words offering a lead an introduction (the person is not named)."""
    return (
        f"Good news: a {role.label} from the QI forum has said they would like to join "
        f'a project team. Shall I ask them about "{project_name}"? I\'ll only share their '
        "name with you if they say yes."
    )


def handle_match_offer_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """The lead's answer to an introduction: ask the person, or let them go to another team."""
    offer_id, _, answer = value.partition(":")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        offer = matches.locked(session, parse_id(offer_id))
        if offer is None:
            raise Refusal("That suggestion is no longer open. Next week's reminder has the latest.")
        project = offer.project
        require_lead_or_admin(session, person, project)
        if offer.status != matches.OFFERED:
            return say(_already(offer, project))
        now = ctx.now()
        if answer != "yes":
            offer.status, offer.updated_at = matches.LEAD_DECLINED, now
            _audit(session, ctx, person.id, offer, "match.lead_declined")
            return say(
                "No problem. I'll offer them to another team. You can still ask the forum for "
                "help whenever you like."
            )
        if project.status != ProjectStatus.ACTIVE:
            offer.status, offer.updated_at = matches.EXPIRED, now
            _audit(session, ctx, person.id, offer, "match.lapsed")
            return say(_not_asked_now(project))
        if not matches.still_willing(session, offer.person_id):
            offer.status, offer.updated_at = matches.EXPIRED, now
            _audit(session, ctx, person.id, offer, "match.lapsed")
            return say(
                "Sorry, that suggestion has lapsed: they are no longer looking for a project. "
                "I'll suggest someone else when I can."
            )
        offer.status, offer.updated_at = matches.ASKED, now
        outbox.plan_message_to(
            session, offer.person_id, MATCH_ASK, f"offer:{offer.id}", {"offer": offer.id}, now=now
        )
        _audit(session, ctx, person.id, offer, "match.person_asked")
        return say(
            f"Thank you. I've asked the {offer.role.label} if they would like to join "
            f'"{project.name}". I\'ll let you know what they say.'
        )


def handle_match_answer_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """The person's answer: join the team, not this one, or no more suggestions."""
    offer_id, _, answer = value.partition(":")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        offer = matches.locked(session, parse_id(offer_id))
        # Buttons carry ids; only the person invited may answer.
        if offer is None or offer.person_id != person.id:
            raise Refusal("That invitation isn't yours to answer. Type /qi-join to join a team.")
        project = offer.project
        now = ctx.now()
        if answer == "stop":
            _stop_suggestions(session, person.id)
            if offer.status == matches.ASKED:
                offer.status, offer.updated_at = matches.PERSON_DECLINED, now
                _tell_lead(session, offer, now)
            _audit(session, ctx, person.id, offer, "match.stopped")
            return say(
                "That's fine: I won't suggest any more projects. If you change your mind, "
                "type /qi-join forum."
            )
        if offer.status == matches.JOINED:
            return say(f'You\'re on the "{project.name}" team already. Thank you for joining.')
        if offer.status == matches.EXPIRED and project.status != ProjectStatus.ACTIVE:
            return say(_project_not_active(project))
        if offer.status != matches.ASKED:
            return say(
                "That invitation has lapsed, sorry. I'll let you know if another team would "
                "like you to join them."
            )
        if answer != "yes":
            offer.status, offer.updated_at = matches.PERSON_DECLINED, now
            _tell_lead(session, offer, now)
            _audit(session, ctx, person.id, offer, "match.person_declined")
            return say(
                "That's fine, thank you for letting me know. I'll tell you if another "
                "project team would like you to join them.",
                buttons=(Button("Stop suggesting projects", ids.MATCH_ANSWER, f"{offer.id}:stop"),),
            )
        if project.status != ProjectStatus.ACTIVE:
            offer.status, offer.updated_at = matches.EXPIRED, now
            return say(_project_not_active(project))
        # The lead hears through the match's own news (below), once, not the usual join note.
        joined = join_project(session, ctx, person, project, offer.role, tell_lead=False)
        offer.status, offer.updated_at = matches.JOINED, now
        _tell_lead(session, offer, now)
        _audit(session, ctx, person.id, offer, "match.joined")
        return joined


def render_match_ask(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The invitation to the person, or None if it is no longer open."""
    offer = session.get(MatchOffer, delivery.payload.get("offer"))
    if offer is None or offer.status != matches.ASKED:
        return None
    project = offer.project
    if project.status != ProjectStatus.ACTIVE:
        return None
    lead = project.lead
    who = f"{lead.display_name} leads" if lead else "There is"
    where = f" It is based at {project.site}." if project.site else ""
    return Reply(
        sections=(
            Section(
                heading="A project team would like you to join them",
                text=(
                    f"Hello {first_name(offer.person.display_name)}. You told the QI forum you "
                    "would like to help with a quality improvement project: a piece of work to "
                    f'make care better. {who} one called "{project.name}", and the team would '
                    f"like a {offer.role.label} to join them.{where}"
                ),
            ),
            Section(
                text=(
                    "What you know from your own experience would help them. If you say yes, "
                    "I'll add you to the team and tell the lead, who will be in touch. You can "
                    "say no, and nobody will mind."
                ),
                buttons=(
                    Button("Yes, I'd like to join", ids.MATCH_ANSWER, f"{offer.id}:yes", True),
                    Button("Not this one", ids.MATCH_ANSWER, f"{offer.id}:no"),
                    Button("Stop suggesting projects", ids.MATCH_ANSWER, f"{offer.id}:stop"),
                ),
            ),
        )
    )


def render_match_result(session: Session, ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """What the person said, for the lead."""
    offer = session.get(MatchOffer, delivery.payload.get("offer"))
    if offer is None:
        return None
    project = offer.project
    # Someone who joined is on the team whatever its status: the lead should still hear. The
    # other news ends "I'll suggest someone else", which is not true of a project not active.
    if offer.status != matches.JOINED and project.status != ProjectStatus.ACTIVE:
        return None
    if offer.status == matches.JOINED:
        return say(
            f"Good news: {offer.person.display_name}, a {offer.role.label} from the QI forum, "
            f'has joined "{project.name}". Do say hello and welcome them to the team.',
            heading="Someone with lived experience has joined your team",
        )
    if offer.status == matches.EXPIRED:
        return say(
            f'The {offer.role.label} I asked about "{project.name}" hasn\'t answered in two '
            "weeks, so I've stopped waiting. I'll suggest someone else when I can, and you can "
            "ask the forum for help too.",
            buttons=(Button("Ask the forum to find a partner", ids.ASK_FORUM, str(project.id)),),
        )
    if offer.status == matches.PERSON_DECLINED:
        return say(
            f'The {offer.role.label} I asked can\'t join "{project.name}" this time. '
            "I'll suggest someone else when I can, and you can ask the forum for help too.",
            buttons=(Button("Ask the forum to find a partner", ids.ASK_FORUM, str(project.id)),),
        )
    return None


def tell_leads_of_lapsed(session: Session, offer_ids: list[int], now: datetime) -> None:
    """The leads waiting on invitations nobody answered: tell them, rather than leave them."""
    outbox.plan(
        session,
        [
            outbox.Planned(
                MATCH_RESULT,
                f"offer:{offer_id}",
                outbox.person_recipient(lead_id),
                {"offer": offer_id},
            )
            for offer_id, lead_id in matches.leads_of(session, offer_ids)
        ],
        now=now,
    )


def _tell_lead(session: Session, offer: MatchOffer, now: datetime) -> None:
    lead_id = offer.project.lead_person_id
    if lead_id is None:
        return
    outbox.plan_message_to(
        session, lead_id, MATCH_RESULT, f"offer:{offer.id}", {"offer": offer.id}, now=now
    )


def _stop_suggestions(session: Session, person_id: int) -> None:
    session.execute(
        update(ForumMember)
        .where(ForumMember.person_id == person_id, ForumMember.left_at.is_(None))
        .values(wants_match=False)
    )


def _not_asked_now(project: Project) -> str:
    return (
        f'"{project.name}" is {project.status.label} now, so I haven\'t asked them. '
        "If it starts again, the weekly reminder will suggest someone when it can."
    )


def _project_not_active(project: Project) -> str:
    return (
        f'Thank you for saying yes. Sorry: "{project.name}" is {project.status.label} now, '
        "so the team isn't looking for anyone at the moment. I'll let you know if another team "
        "would like you to join them."
    )


def _already(offer: MatchOffer, project: Project) -> str:
    if offer.status == matches.EXPIRED and project.status != ProjectStatus.ACTIVE:
        return _not_asked_now(project)
    if offer.status == matches.ASKED:
        return f"I've already asked them about \"{project.name}\". I'll let you know what they say."
    if offer.status == matches.JOINED:
        return f'They have already joined "{project.name}".'
    return "That suggestion is no longer open. I'll suggest someone else when I can."


def _audit(session: Session, ctx: Context, actor_id: int, offer: MatchOffer, action: str) -> None:
    record(
        session,
        at=ctx.now(),
        actor_id=actor_id,
        action=action,
        subject_type="match_offer",
        subject_id=offer.id,
        project_id=offer.project_id,
    )
