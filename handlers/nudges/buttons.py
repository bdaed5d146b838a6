"""What a lead can do from the weekly nudge: ask the forum, snooze, or turn reminders off."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.lookup import acting_person, ensure_open, project_by_id, require_lead_or_admin
from handlers.core.reply import Actor, Button, Choice, Form, FormField, Reply, Section, say
from handlers.core.weeks import week_of
from handlers.core.wording import on_day
from handlers.nudges.weekly import SNOOZE_REASONS
from store import nudges as nudge_store
from store import outbox
from store.audit import record
from store.models import Forum, Person, Project
from store.people import list_admins
from store.projects import still_seeking_partner
from store.roles import Role

PARTNER_REQUEST = "partner_request"
PARTNER_REQUEST_ADMIN = "partner_request_admin"
SNOOZE_WEEKS = (2, 4, 8)


def announcing_forum(session: Session) -> Forum | None:
    """The forum whose channel hears requests for partners: the first with a channel."""
    return session.scalar(
        select(Forum).where(Forum.channel.is_not(None)).order_by(Forum.id).limit(1)
    )


def partner_request_prefix(project_id: int) -> str:
    """What every week's request for a partner for this project has its occurrence start with."""
    return f"project:{project_id}:"


def handle_ask_forum_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """Ask the forum's channel and organisers to help find a service user or carer."""
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = project_by_id(session, value)
        require_lead_or_admin(session, person, project)
        ensure_open(project)  # a finished project needs no partner
        forum = announcing_forum(session)
        admins = list_admins(session)
        if forum is None and not admins:
            raise Refusal(
                "There's no QI forum channel or organiser set up yet, so there's nobody for me "
                "to ask. Please ask your trust's QI team to set one up."
            )
        week = week_of(ctx.now(), ctx)
        occurrence = f"{partner_request_prefix(project.id)}{week}"
        payload = {"project": project.id, "asked_by": person.id}
        planned = [
            outbox.Planned(
                PARTNER_REQUEST_ADMIN, occurrence, outbox.person_recipient(a.id), payload
            )
            for a in admins
        ]
        if forum is not None and forum.channel:
            planned.append(
                outbox.Planned(
                    PARTNER_REQUEST, occurrence, outbox.channel_recipient(forum.channel), payload
                )
            )
        # A request from an earlier week still waiting (the bot is not let into the channel
        # yet) gives way to this one: the channel gets the request once, not once a week.
        outbox.withdraw_pending(
            session,
            kinds=(PARTNER_REQUEST, PARTNER_REQUEST_ADMIN),
            occurrence_prefix=partner_request_prefix(project.id),
            keep=occurrence,
            reason="the lead asked again: a later request replaced it",
        )
        if outbox.plan(session, planned, now=ctx.now()) == 0:
            return say(
                f'You asked the forum about "{project.name}" this week already. The organisers '
                "have it and will be in touch."
            )
        record(
            session,
            at=ctx.now(),
            actor_id=person.id,
            action="nudge.asked_forum",
            subject_type="project",
            subject_id=project.id,
        )
        asked = [f"the {forum.name} channel"] if forum is not None else []
        asked += ["the forum organisers"] if admins else []
        return say(
            f"Thank you. I've asked {' and '.join(asked)} to help find a service user or "
            f'carer for "{project.name}". '
            + ("They will be in touch." if admins else "Anyone who can help will be in touch.")
        )


def render_partner_request(
    session: Session, ctx: Context, delivery: outbox.Claimed
) -> Reply | None:
    """The post in the forum's channel asking for a partner, with one-click ways to join."""
    project = session.get(Project, delivery.payload.get("project"))
    # A request that waited (for the bot to be let into the channel) may be stale: a project
    # that has since found its partner, or closed, asks nobody.
    if project is None or not still_seeking_partner(session, project.id):
        return None
    forum = announcing_forum(session)
    if not delivery.sent and (
        forum is None or delivery.recipient != outbox.channel_recipient(forum.channel or "")
    ):
        return None  # requests now go to another channel (changing it moves what waits)
    lead = f" {project.lead.display_name} leads it." if project.lead else ""
    return Reply(
        sections=(
            Section(
                heading="A project team would like a partner with lived experience",
                text=(
                    f'The "{project.name}" team would like a service user or carer to join '
                    f"them.{lead} Could you help, or do you know someone who might?"
                ),
                buttons=tuple(
                    Button(f"Join as {role.label}", ids.JOIN_AS, f"{project.id}:{role.value}")
                    for role in (Role.SERVICE_USER, Role.CARER)
                ),
            ),
        )
    )


def render_partner_request_admin(
    session: Session, ctx: Context, delivery: outbox.Claimed
) -> Reply | None:
    """The organisers' note that a lead asked the forum for help."""
    project = session.get(Project, delivery.payload.get("project"))
    asked_by = delivery.payload.get("asked_by")  # gone once the person was erased
    asker = session.get(Person, asked_by) if asked_by is not None else None
    if project is None:
        return None
    who = asker.display_name if asker else "A project lead"
    return say(
        f'{who} asked the forum to help find a service user or carer for "{project.name}". '
        "Could you put them in touch with someone from the forum?"
    )


def handle_open_snooze(ctx: Context, actor: Actor, value: str) -> Reply:
    """The Snooze button: a short form for how long and why."""
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = project_by_id(session, value)
        require_lead_or_admin(session, person, project)
        return Reply(
            sections=(Section(text=f'Snooze reminders about "{project.name}".'),),
            form=build_snooze_form(project),
        )


def build_snooze_form(project: Project) -> Form:
    """How long to snooze a project's reminders, and why."""
    return Form(
        form_id=ids.SNOOZE_FORM,
        title="Snooze reminders",
        context=str(project.id),
        fields=(
            FormField(
                "weeks",
                "For how long?",
                choices=tuple(Choice(f"{n} weeks", str(n)) for n in SNOOZE_WEEKS),
            ),
            FormField(
                "reason",
                "Why?",
                choices=tuple(
                    Choice(label[0].upper() + label[1:], code)
                    for code, label in SNOOZE_REASONS.items()
                ),
            ),
        ),
        submit_label="Snooze",
    )


def handle_snooze_form(ctx: Context, actor: Actor, values: dict[str, str], context: str) -> Reply:
    """Snooze a project's reminders for 2, 4 or 8 weeks; they start again by themselves."""
    weeks_text = values.get("weeks", "").strip()
    if weeks_text not in {str(n) for n in SNOOZE_WEEKS}:
        raise Refusal("Please choose 2, 4 or 8 weeks.")
    reason = values.get("reason", "").strip()
    if reason not in SNOOZE_REASONS:
        raise Refusal("Please choose a reason: it helps the forum understand.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        project = project_by_id(session, context)
        require_lead_or_admin(session, person, project)
        weeks = int(weeks_text)
        # From the start of that day, not this minute: snoozed from Monday's nudge, the nudge
        # comes back on the Monday `weeks` later (its sweep runs in the morning, which a
        # snooze ending at the time the button was pressed would miss by minutes, for a week).
        back_on = ctx.now().astimezone(ctx.timezone).date() + timedelta(weeks=weeks)
        until = datetime.combine(back_on, time(), tzinfo=ctx.timezone)
        nudge_store.snooze(session, project.id, until=until, reason=reason)
        record(
            session,
            at=ctx.now(),
            actor_id=person.id,
            action="nudge.snoozed",
            subject_type="project",
            subject_id=project.id,
            weeks=weeks,
            reason=reason,
        )
        return say(
            f'Done: no reminders about "{project.name}" for {weeks} weeks. They start again by '
            f"themselves from {on_day(back_on)}."
        )


def handle_mute_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """Turn all weekly reminders off ("off") or back on ("on") for the person."""
    return set_reminders(ctx, actor, on=value == "on")


def set_reminders(ctx: Context, actor: Actor, *, on: bool) -> Reply:
    """Mute or unmute the person's weekly reminders, with a button to undo."""
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        changed = nudge_store.set_muted(session, person.id, muted_at=None if on else ctx.now())
        if changed:
            record(
                session,
                at=ctx.now(),
                actor_id=person.id,
                action="nudge.unmuted" if on else "nudge.muted",
                subject_type="person",
                subject_id=person.id,
            )
    if on:
        return say(
            "Weekly reminders are on. I'll get in touch when one of your projects has no "
            "service user or carer on the team.",
            buttons=(Button("Turn reminders off", ids.MUTE_NUDGES, "off"),),
        )
    return say(
        "Weekly reminders are off. I won't send you any more. You can turn them back on "
        "whenever you like.",
        buttons=(Button("Turn reminders back on", ids.MUTE_NUDGES, "on"),),
    )
