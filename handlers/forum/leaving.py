"""Leaving the forum: asking whether you still come to the meetings you said you'd go to."""

from __future__ import annotations

from sqlalchemy.orm import Session

from handlers.core import ids
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more
from handlers.core.lookup import acting_person, get_by_id
from handlers.core.reply import Actor, Button, Reply, Section
from handlers.core.wording import at_place, when
from handlers.forum.meetings import meeting_prefix
from store import forums as forum_store
from store.audit import record_many
from store.models import Forum, ForumMember, Meeting
from store.roles import RsvpAnswer

STILL_COMING = "still"
TAKE_NAME_OFF = "off"
# The question names this many meetings; the rest are counted.
GOING_SHOWN = 5
WELCOME_BACK = "You're welcome back any time with /qi-join forum."


def left_forum_reply(
    session: Session,
    ctx: Context,
    forum: Forum,
    member: ForumMember,
    *,
    rejoin: tuple[Button, ...] = (),
) -> Reply:
    """Goodbye (with `rejoin`), and about the meetings to come they're going to, if any."""
    goodbye = Section(text=f'You\'ve left "{forum.name}". {WELCOME_BACK}', buttons=rejoin)
    going = forum_store.going_to(session, forum.id, member.person_id, ctx.now())
    if not going:
        return Reply(sections=(goodbye,))
    return Reply(sections=(goodbye, _still_coming_question(ctx, member, going)))


def _still_coming_question(ctx: Context, member: ForumMember, going: list[Meeting]) -> Section:
    lines = [
        "You said you're going to this meeting:"
        if len(going) == 1
        else "You said you're going to these meetings:"
    ]
    lines += [
        f"• {when(m.starts_at, ctx.timezone)}{at_place(m.location)}" for m in going[:GOING_SHOWN]
    ]
    if len(going) > GOING_SHOWN:
        lines.append(f"{and_more(len(going) - GOING_SHOWN)}.")
    lines.append("Are you still coming? You're welcome either way.")
    buttons = (
        Button("I'm still coming", ids.LEFT_FORUM_GOING, f"{member.id}:{STILL_COMING}", True),
        Button("Take my name off", ids.LEFT_FORUM_GOING, f"{member.id}:{TAKE_NAME_OFF}"),
    )
    return Section(text="\n".join(lines), buttons=buttons)


def handle_still_coming_button(ctx: Context, actor: Actor, value: str) -> Reply:
    """'I'm still coming' keeps the answers; 'Take my name off' makes them "can't make it"."""
    member_id, _, choice = value.partition(":")
    if choice not in (STILL_COMING, TAKE_NAME_OFF):
        raise Refusal("Sorry, that button didn't work. Type /qi-forum to change your answers.")
    with ctx.sessions.begin() as session:
        person = acting_person(session, ctx, actor)
        member = get_by_id(session, ForumMember, member_id)
        # Buttons carry ids; only the person who left may answer for themselves.
        if member is None or member.person_id != person.id or member.left_at is None:
            raise Refusal(
                "This button was for someone else. Type /qi-forum to see the meetings and "
                "answer for yourself."
            )
        if choice == STILL_COMING:
            return Reply(
                sections=(
                    Section(
                        text="Thank you, see you there! If that changes, type /qi-forum and "
                        "say you can't make it."
                    ),
                )
            )
        now = ctx.now()
        # Only what they had said by the time they left: a later answer was given knowingly.
        changed = forum_store.withdraw_going(
            session, member.forum_id, person.id, answered_by=member.left_at, now=now
        )
        if not changed:
            return Reply(sections=(Section(text="Your name is not down for any meeting to come."),))
        record_many(
            session,
            [
                {
                    "at": now,
                    "actor_id": person.id,
                    "action": "rsvp.answered",
                    "subject_type": "meeting",
                    "subject_id": meeting_id,
                    "answer": RsvpAnswer.NOT_GOING.value,
                }
                for meeting_id in changed
            ],
        )
        meetings = "1 meeting" if len(changed) == 1 else f"{len(changed)} meetings"
        return Reply(
            sections=(Section(text=f"Done: I've taken your name off {meetings}. {WELCOME_BACK}"),),
            # The counts in the forum channel's announcements of those meetings change.
            refresh=tuple(meeting_prefix(meeting_id) for meeting_id in changed),
        )
