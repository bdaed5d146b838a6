"""Asking service users and carers how involved they feel on each team, and their answers.

Once a period (INVOLVEMENT_EVERY_WEEKS), everyone due is asked one short, optional question
about each team they are on; answering again changes the answer, and "Stop asking me" stops
the questions until they turn them back on.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.dates import local_today, long_date
from handlers.core.errors import Refusal
from handlers.core.lookup import acting_person, get_by_id
from handlers.core.reply import Actor, Button, Form, FormField, Reply, Section, say
from handlers.core.weeks import week_start
from store import involvement_asking, outbox
from store.audit import record
from store.involvement import A_LOT, ANSWERS, MIN_ANSWERS, NOT_AT_ALL, NOT_REALLY, SOMEWHAT
from store.involvement import period_key as key_of
from store.involvement import period_start as start_of
from store.models import InvolvementAnswer, Membership, Person, Project
from store.roles import LIVED_EXPERIENCE_ROLES, Involvement, ProjectStatus

INVOLVEMENT_QUESTION = "involvement_question"
ANSWER_LABELS = {
    A_LOT: "Yes, a lot",
    SOMEWHAT: "Yes, somewhat",
    NOT_REALLY: "Not really",
    NOT_AT_ALL: "Not at all",
}
COMMENT_MAX = 500  # characters, as the column holds
QUESTIONS_ON_COMMAND = "/qi-project questions on"
PRIVACY = (
    "Answers are only ever shown added up, never by name, and only once at least "
    f"{MIN_ANSWERS} people have answered. A comment, if you add one, is read only by the QI "
    "forum organisers."
)
GONE = (
    "Sorry, that question is no longer open. If you're asked again, you'll find the new "
    "question in your messages."
)
FOR_SOMEONE_ELSE = "This question was for someone else, so I haven't recorded anything."


def question_text(project_name: str) -> str:
    """The question itself, in plain words."""
    return f'On the "{project_name}" team, do you feel your views shape what the team does?'


def current_period(ctx: Context) -> tuple[date, str]:
    """The period today is in: the Monday it began, and its key ("2026-W49")."""
    start = start_of(local_today(ctx), ctx.involvement_every_weeks)
    return start, key_of(start)


def period_end(ctx: Context, start: date) -> date:
    """The last day (a Sunday) of the period that began on `start`."""
    return start + timedelta(weeks=ctx.involvement_every_weeks, days=-1)


def ask_due(ctx: Context) -> int:
    """Ask everyone due this period's question (set-based); how many messages were planned."""
    start, period = current_period(ctx)
    now = ctx.now()
    with ctx.sessions.begin() as session:
        asked = involvement_asking.ask_everyone_due(session, period=period, start=start, now=now)
        planned = [
            outbox.Planned(
                INVOLVEMENT_QUESTION,
                f"{period}:{a.membership_id}",
                outbox.person_recipient(a.person_id),
                {"membership": a.membership_id, "period": period},
            )
            for a in asked
        ]
        return outbox.plan(session, planned, now=now)


def _period_start_of(period: str) -> date | None:
    """The Monday a period key ("2026-W47") names; None if it names none (a forged button)."""
    try:
        return week_start(period)
    except ValueError:
        return None


def _still_open(session: Session, ctx: Context, membership: Membership, period: str) -> str | None:
    """Why the question about this team place and period is closed, kindly; None if open."""
    project = session.get(Project, membership.project_id)
    name = project.name if project is not None else "that"
    if membership.left_at is not None:
        return (
            f'You\'re no longer on the "{name}" team, so this question has closed. Thank you '
            "for the time you gave it."
        )
    # Asked of service users and carers who are team members of an active project: after the
    # project ends, or their place changes (consulted now, or staff), the question closes.
    if project is None or project.status != ProjectStatus.ACTIVE:
        return f'The "{name}" project is no longer active, so this question has closed. Thank you.'
    if (
        membership.involvement != Involvement.TEAM_MEMBER
        or membership.role not in LIVED_EXPERIENCE_ROLES
    ):
        return (
            f'Your place on the "{name}" team has changed, so this question has closed. '
            "Thank you all the same."
        )
    if period != current_period(ctx)[1]:
        start = _period_start_of(period)
        until = f" for the weeks up to {long_date(period_end(ctx, start))}" if start else ""
        return (
            f'That question about the "{name}" team was{until}, which have ended, so I can\'t '
            "take an answer now. Thank you all the same: you'll be asked again in a later round."
        )
    return None


def render_involvement_question(
    session: Session, ctx: Context, delivery: outbox.Claimed
) -> Reply | None:
    """The question about one team; None if it is answered, closed, or they asked to stop."""
    membership = session.get(Membership, delivery.payload.get("membership"))
    period = str(delivery.payload.get("period", ""))
    if membership is None or outbox.recipient_person_id(delivery.recipient) != (
        membership.person_id
    ):
        return None  # their team place went (erased, or combined with another record's)
    row = involvement_asking.row_for(session, membership.id, period)
    if row is not None and row.answer is not None:
        return None  # answered already (or a lead recorded it with them)
    person = session.get(Person, membership.person_id)
    project = session.get(Project, membership.project_id)
    if person is None or project is None or person.involvement_questions_muted_at is not None:
        return None
    if _still_open(session, ctx, membership, period) is not None:
        return None
    start, _period = current_period(ctx)
    return build_question(f"{membership.id}:{period}", project.name, ends=period_end(ctx, start))


def build_question(place: str, project_name: str, *, ends: date) -> Reply:
    """The question, its four answers, a comment, "Stop asking me", and who sees answers."""
    return Reply(
        sections=(
            Section(
                heading="A quick question about your team",
                text=question_text(project_name),
                buttons=_answer_buttons(place),
            ),
            Section(
                text=f"It's optional, and you can change your answer until {long_date(ends)}. "
                f"You can also add a few words of your own. {PRIVACY}",
                buttons=(
                    Button("Add a comment", ids.OPEN_INVOLVEMENT_COMMENT, place),
                    Button("Stop asking me", ids.INVOLVEMENT_QUESTIONS, "off"),
                ),
            ),
        )
    )


def _answer_buttons(place: str) -> tuple[Button, ...]:
    """The four answers; `place` is "<membership id>:<period>"."""
    return tuple(
        Button(label, ids.INVOLVEMENT_ANSWER, f"{place}:{answer}")
        for answer, label in ANSWER_LABELS.items()
    )


def _own_open_row(session: Session, ctx: Context, actor: Actor, place: str) -> InvolvementAnswer:
    """The actor's own answer row for "<membership id>:<period>", still open; else a Refusal."""
    membership_text, _, period = place.partition(":")
    membership = get_by_id(session, Membership, membership_text)
    if membership is None or _period_start_of(period) is None:
        raise Refusal(GONE)
    person = acting_person(session, ctx, actor)
    if membership.person_id != person.id:
        raise Refusal(FOR_SOMEONE_ELSE)
    why = _still_open(session, ctx, membership, period)
    if why is not None:
        raise Refusal(why)
    start, period = current_period(ctx)
    return involvement_asking.open_row(
        session, membership, period=period, start=start, now=ctx.now()
    )


def _place(row: InvolvementAnswer) -> str:
    return f"{row.membership_id}:{row.period}"


def _project_name(session: Session, row: InvolvementAnswer) -> str:
    project = session.get(Project, row.project_id)
    return project.name if project is not None else "your"


def handle_answer_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """One of the four answers pressed: recorded, or changed if they answered before."""
    place, _, answer = value.rpartition(":")
    if answer not in ANSWERS:
        raise Refusal("Sorry, that button didn't work. Please press one of the four answers.")
    with ctx.sessions.begin() as session:
        row = _own_open_row(session, ctx, actor, place)
        before = row.answer
        row.answer = answer
        row.answered_at = ctx.now()
        row.recorded_by_id = None  # their own answer, even if a lead once recorded one
        # Not the answer itself: the audit trail must never tell how one person feels.
        record(
            session,
            at=ctx.now(),
            actor_id=row.person_id,
            action="involvement.answered" if before is None else "involvement.changed",
            subject_type="involvement_answer",
            subject_id=row.id,
        )
        name = _project_name(session, row)
        ends = period_end(ctx, row.period_start)
        has_comment = bool(row.comment)
    said = f'"{ANSWER_LABELS[answer]}"'
    if before is None:
        text = f'Thank you. I\'ve recorded {said} for the "{name}" team.'
    elif before == answer:
        text = f'Thank you. Your answer for the "{name}" team is still {said}.'
    else:
        text = (
            f'Thank you. I\'ve changed your answer for the "{name}" team to {said} (it was '
            f'"{ANSWER_LABELS.get(before, before)}").'
        )
    text += (
        f" You can change it until {long_date(ends)} by pressing another answer on the "
        f"question. {PRIVACY}"
    )
    label = "Change your comment" if has_comment else "Add a comment"
    return say(text, buttons=(Button(label, ids.OPEN_INVOLVEMENT_COMMENT, place),))


def handle_open_comment(ctx: Context, actor: Actor, value: str) -> Reply:
    """The "Add a comment" button: a form with one optional box for their own words."""
    with ctx.sessions.begin() as session:
        row = _own_open_row(session, ctx, actor, value)
        name = _project_name(session, row)
        return Reply(
            sections=(Section(text=f'Anything you\'d like to add about the "{name}" team?'),),
            form=build_comment_form(_place(row)),
        )


def build_comment_form(place: str) -> Form:
    """One optional free-text box, up to COMMENT_MAX characters."""
    return Form(
        form_id=ids.INVOLVEMENT_COMMENT_FORM,
        title="Add a comment",
        context=place,
        fields=(
            FormField(
                "comment",
                "In your own words (optional)",
                optional=True,
                hint="Read only by the forum organisers, never shown with your name",
                max_length=COMMENT_MAX,
            ),
        ),
        submit_label="Send",
    )


def comment_form_again(session: Session, context: str) -> Form:
    """The comment form drawn again from its context; a Refusal if its team place is gone."""
    membership_text, _, period = context.partition(":")
    if get_by_id(session, Membership, membership_text) is None or not _period_start_of(period):
        raise Refusal(GONE)
    return build_comment_form(context)


def handle_comment_form(ctx: Context, actor: Actor, values: dict[str, str], context: str) -> Reply:
    """Keep (or change, or take off) the comment on their answer."""
    comment = " ".join(values.get("comment", "").split())
    if len(comment) > COMMENT_MAX:
        raise Refusal(
            f"Please keep your comment to {COMMENT_MAX} characters (that was "
            f"{len(comment):,}). Nothing was changed."
        )
    with ctx.sessions.begin() as session:
        row = _own_open_row(session, ctx, actor, context)
        had = row.comment
        row.comment = comment or None
        if (had or None) != row.comment:
            record(
                session,
                at=ctx.now(),
                actor_id=row.person_id,
                action="involvement.commented",
                subject_type="involvement_answer",
                subject_id=row.id,
            )
        answered = row.answer is not None
        name = _project_name(session, row)
        place = _place(row)
    if not comment:
        return say("Your comment has been taken off." if had else "No comment added. That's fine.")
    if answered:
        return say("Thank you. Your comment has been kept with your answer.")
    return say(
        f'Thank you for your comment. And which is closest to how you feel on the "{name}" '
        "team: do your views shape what the team does?",
        buttons=_answer_buttons(place),
    )


def handle_questions_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """The "Stop asking me" button ("off"), or "Ask me again" ("on")."""
    return set_questions(ctx, actor, on=value == "on")


def set_questions(ctx: Context, actor: Actor, *, on: bool) -> Reply:
    """Stop or restart the person's questions about how involved they feel, with an undo."""
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        changed = involvement_asking.set_questions_muted(
            session, person.id, muted_at=None if on else ctx.now()
        )
        if changed:
            record(
                session,
                at=ctx.now(),
                actor_id=person.id,
                action="involvement.asked_again" if on else "involvement.stopped",
                subject_type="person",
                subject_id=person.id,
            )
    if on:
        return say(
            "Thank you. Every few weeks I'll ask how involved you feel on each team you're on: "
            "one short question, and you can always skip it.",
            buttons=(Button("Stop asking me", ids.INVOLVEMENT_QUESTIONS, "off"),),
        )
    return say(
        "Done: I won't ask how involved you feel on your teams any more. If you change your "
        f"mind, type {QUESTIONS_ON_COMMAND} or press the button.",
        buttons=(Button("Ask me again", ids.INVOLVEMENT_QUESTIONS, "on"),),
    )
