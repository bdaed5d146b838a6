"""What each kind of outbox delivery says, rendered when it is sent from what is true then."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.reply import Reply
from handlers.forum import announcements, channel_problems
from handlers.forum import slots as forum_slots
from handlers.nudges import buttons as nudge_actions
from handlers.nudges import matchmaking
from handlers.nudges import weekly as nudges
from handlers.projects import join
from store import outbox

Renderer = Callable[[Session, Context, outbox.Claimed], Reply | None]

RENDERERS: dict[str, Renderer] = {
    nudges.NUDGE: nudges.render_nudge,
    nudges.ESCALATION: nudges.render_escalation,
    nudge_actions.PARTNER_REQUEST: nudge_actions.render_partner_request,
    nudge_actions.PARTNER_REQUEST_ADMIN: nudge_actions.render_partner_request_admin,
    announcements.ANNOUNCE: announcements.render_announcement,
    announcements.GOING_REMINDER: announcements.render_going_reminder,
    announcements.MEETING_CHANGED: announcements.render_meeting_changed,
    forum_slots.SLOT_REQUEST: forum_slots.render_slot_request,
    forum_slots.SLOT_DECISION: forum_slots.render_slot_decision,
    join.MEMBER_JOINED: join.render_member_joined,
    matchmaking.MATCH_ASK: matchmaking.render_match_ask,
    matchmaking.MATCH_RESULT: matchmaking.render_match_result,
    channel_problems.CHANNEL_PROBLEM: channel_problems.render_channel_problem,
}


# Kinds whose posted message is edited when what it shows changes (an announcement's RSVP
# counts): after posting one, the sender checks it still shows what is true.
LIVE_KINDS = frozenset({announcements.ANNOUNCE})


def render_delivery(ctx: Context, delivery: outbox.Claimed) -> Reply | None:
    """The message for a delivery, or None if it is no longer needed (or of an unknown kind)."""
    renderer = RENDERERS.get(delivery.kind)
    if renderer is None:
        return None
    with ctx.sessions() as session:
        return renderer(session, ctx, delivery)
