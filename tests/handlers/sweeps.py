"""Driving the weekly sweep in tests: run it, send what it planned, read what people got."""

from sqlalchemy import select

from handlers.core.weeks import week_of
from handlers.messages import render_delivery
from handlers.nudges.weekly import NudgePolicy, run_sweep
from handlers.projects.join import MEMBER_JOINED
from store import outbox
from store.models import Delivery, ProjectNudge
from tests.handlers import given

POLICY = NudgePolicy()  # three reminders in a row, then the organisers
FALLS = "Falls prevention"


def start(chat, lead, *names):
    for name in names:
        assert chat.say(lead, f'/qi-project new "{name}"').ok


def sweep(ctx, policy=POLICY):
    return run_sweep(ctx, week=week_of(ctx.now(), ctx), policy=policy)


def weekly(ctx, weeks, policy=POLICY):
    """Sweep once a week for this many weeks; the last week's plan."""
    for week in range(weeks):
        if week:
            next_week(ctx)
        plan = sweep(ctx, policy)
    return plan


def next_week(ctx, days=7):
    ctx.clock.advance(days=days)


def organiser(ctx, *actors):
    for actor in actors:
        given.organiser(ctx.sessions, actor, ctx.now())


def project_id(ctx, name=FALLS):
    return given.project_id(ctx.sessions, name)


def planned(ctx):
    """Every delivery planned so far, oldest first: (kind, occurrence, recipient, payload).

    Leaving out a lead's news that someone joined their team (tested in test_join).
    """
    with ctx.sessions() as session:
        rows = session.scalars(
            select(Delivery).where(Delivery.kind != MEMBER_JOINED).order_by(Delivery.id)
        )
        return [(d.kind, d.occurrence, d.recipient, d.payload) for d in rows]


def state(ctx, name=FALLS):
    """(weeks in a row, last week, escalated at) of the project, or None if never swept."""
    with ctx.sessions() as session:
        found = session.get(ProjectNudge, project_id(ctx, name))
        return found and (found.weeks_in_a_row, found.last_week, found.escalated_at)


def send_all(ctx):
    """Send what is due as the sender would: [(kind, recipient, reply or None if withdrawn)]."""
    with ctx.sessions.begin() as session:
        claimed = outbox.claim_due(session, now=ctx.now())
    sent = [(c.kind, c.recipient, render_delivery(ctx, c)) for c in claimed]
    with ctx.sessions.begin() as session:
        for (_kind, _recipient, reply), c in zip(sent, claimed, strict=True):
            if reply is None:  # as the deliverer does with a message no longer needed
                outbox.mark_withdrawn(session, c.id, reason="no longer needed")
                continue
            outbox.mark_sent(
                session, c.id, now=ctx.now(), platform="console", channel_id="dm", message_ts=None
            )
    return sent


def inbox(ctx, recipient, kind="nudge"):
    """The one message of this kind that goes to the recipient now."""
    found = [reply for k, r, reply in send_all(ctx) if k == kind and r == recipient]
    assert len(found) == 1, found
    return found[0]


def nudge_now(ctx, recipient):
    """Run this week's sweep and send the lead's nudge."""
    sweep(ctx)
    return inbox(ctx, recipient)
