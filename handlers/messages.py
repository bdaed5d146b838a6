"""What each kind of outbox delivery says, rendered when it is sent from what is true then."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from handlers.core.context import Context
from handlers.core.reply import Reply
from handlers.evidence import involvement_questions
from handlers.forum import announcements, channel_problems, invitations, public_signup, slots
from handlers.nudges import buttons, matchmaking, weekly
from handlers.projects import join
from store import contacts, outbox

Renderer = Callable[[Session, Context, outbox.Claimed], Reply | None]

RENDERERS: dict[str, Renderer] = {
    weekly.NUDGE: weekly.render_nudge,
    weekly.ESCALATION: weekly.render_escalation,
    buttons.PARTNER_REQUEST: buttons.render_partner_request,
    buttons.PARTNER_REQUEST_ADMIN: buttons.render_partner_request_admin,
    announcements.ANNOUNCE: announcements.render_announcement,
    announcements.GOING_REMINDER: announcements.render_going_reminder,
    announcements.MEETING_CHANGED: announcements.render_meeting_changed,
    invitations.INVITE: invitations.render_invitation,
    public_signup.CONFIRM_CONTACT: public_signup.render_confirm_contact,
    slots.SLOT_REQUEST: slots.render_slot_request,
    slots.SLOT_DECISION: slots.render_slot_decision,
    join.MEMBER_JOINED: join.render_member_joined,
    matchmaking.MATCH_ASK: matchmaking.render_match_ask,
    matchmaking.MATCH_RESULT: matchmaking.render_match_result,
    channel_problems.CHANNEL_PROBLEM: channel_problems.render_channel_problem,
    involvement_questions.INVOLVEMENT_QUESTION: involvement_questions.render_involvement_question,
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
        person_id = outbox.recipient_person_id(delivery.recipient)
        if person_id is not None and contacts.asked_to_stop(session, person_id):
            return None  # they pressed "stop these messages": nothing more goes to them
        return renderer(session, ctx, delivery)
