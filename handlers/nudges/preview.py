"""What this week's reminder would do, for `qi-nudge remind --dry-run`: changes nothing itself."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.reply import Reply
from handlers.nudges.weekly import (
    ESCALATION,
    NUDGE,
    NudgePolicy,
    SweepPlan,
    plan_sweep,
    render_escalation,
    render_nudge,
    tidy_before_sweep,
)
from store import matches as match_store
from store import nudges as nudge_store
from store import outbox
from store.nudges import Unreachable
from store.people import list_admins


@dataclass
class SweepPreview:
    """The week's plan, with who cannot be reached, what is never asked, and the messages."""

    plan: SweepPlan
    unreachable: list[Unreachable]
    not_asked: dict[str, int]
    # (who it is for, the message) for each planned message, when asked to show them.
    messages: list[tuple[str, Reply]] = field(default_factory=list)

    @property
    def reminded_leads(self) -> set[int]:
        """The leads who would get this week's reminder."""
        return {d.lead_id for d in self.plan.decisions if d.action == "nudge" and d.lead_id}

    @property
    def skipped(self) -> Counter[str]:
        """How many projects are skipped, by SKIPPED_FOR key."""
        return Counter(d.skipped_for for d in self.plan.decisions if d.action == "skip")


def preview_sweep(
    session: Session, ctx: Context, *, week: str, policy: NudgePolicy, show: bool = False
) -> SweepPreview:
    """The sweep's plan as it would run now, in a few queries however many projects.

    With `show`, the messages are rendered as the sender would render them, from the rows the
    sweep would write: they are written in `session`, and the caller must roll it back.
    """
    tidy_before_sweep(session, ctx, week=week)
    plan = plan_sweep(session, ctx, week=week, policy=policy)
    preview = SweepPreview(
        plan=plan,
        unreachable=nudge_store.unreachable_recipients(session),
        not_asked=nudge_store.projects_not_asked(session),
    )
    if show:
        preview.messages = _render_messages(session, ctx, plan)
    return preview


def _render_messages(session: Session, ctx: Context, plan: SweepPlan) -> list[tuple[str, Reply]]:
    """Each planned message as it would be sent, written first as the sweep writes it."""
    now = ctx.now()
    match_store.add_offers(session, plan.offers, week=plan.week, now=now)
    outbox.plan(session, plan.deliveries, now=now)
    nudge_store.save_states(session, plan.states, now=now)
    names = {d.lead_id: d.lead_name for d in plan.decisions if d.lead_id is not None}
    if any(p.kind == ESCALATION for p in plan.deliveries):
        names.update((admin.id, admin.display_name) for admin in list_admins(session))
    messages = []
    for planned in plan.deliveries:
        claimed = outbox.Claimed(
            id=0,
            kind=planned.kind,
            occurrence=planned.occurrence,
            recipient=planned.recipient,
            payload=planned.payload,
            attempts=0,
            uncertain=False,
        )
        render = render_nudge if planned.kind == NUDGE else render_escalation
        reply = render(session, ctx, claimed)
        if reply is not None:
            person_id = outbox.recipient_person_id(planned.recipient)
            who = names.get(person_id) or planned.recipient
            messages.append((f"to {who} (direct message)", reply))
    return messages
