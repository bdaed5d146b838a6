"""Forum members outside chat: organisers add them with consent, see how they are reached.

The same steps serve chat (`/qi-forum add-member`, `members`, `remove-member`) and the command
line (bot/cli/outside_members.py); only chat masks the addresses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.core.args import Arguments, split_on_as
from handlers.core.context import Context
from handlers.core.errors import Refusal
from handlers.core.long_lists import and_more, shortlist
from handlers.core.lookup import acting_person, find_forum, require_admin, require_role
from handlers.core.reply import Actor, Reply, Section, say
from handlers.core.wording import as_role, counts_by_role, on_day, plural
from handlers.forum.meetings import meeting_prefix
from store import contacts, erasure
from store import forums as forum_store
from store.audit import record
from store.contacts import EMAIL, TEXT, BadAddress, MemberReach
from store.models import NAME_MAX, Forum, ForumMember, OutsideContact, Person
from store.names import clean_name, name_key
from store.roles import Role

ADD_EXAMPLE = '/qi-forum add-member "Sam Jones" email sam.jones@example.org as carer --consent'
REMOVE_EXAMPLE = '/qi-forum remove-member "Sam Jones"'
MEMBERS_COMMAND = "/qi-forum members"
# The words organisers use for each way of reaching someone.
METHOD_WORDS = {
    "email": EMAIL,
    "e-mail": EMAIL,
    "mail": EMAIL,
    "text": TEXT,
    "texts": TEXT,
    "sms": TEXT,
    "mobile": TEXT,
    "phone": TEXT,
}
METHOD_NAMES = {EMAIL: "e-mail", TEXT: "text"}
# What adding someone did: a new person; someone already reached added to this forum; their
# role changed; nothing at all.
ADDED, JOINED, ROLE_CHANGED, SAME = "added", "joined", "role changed", "nothing changed"
# The members list names this many; the rest are counted.
MEMBERS_SHOWN = 40
# Chat shows a phone number's last digits only.
SHOWN_DIGITS = 4


@dataclass(frozen=True)
class Change:
    """What an organiser's change did, in words, and the announcements whose counts changed."""

    text: str
    refresh: tuple[str, ...] = ()
    # What happened, in a word, for reports of many rows: ADDED, JOINED, ROLE_CHANGED, SAME.
    outcome: str = ""


def read_method(word: str) -> str | None:
    """'email', 'e-mail', 'text', 'sms', ... as contacts.EMAIL or contacts.TEXT; else None."""
    return METHOD_WORDS.get(word.strip().casefold())


def split_at_method(words: list[str]) -> tuple[str, str, str] | None:
    """(name, method, address) from `Sam Jones email sam@x.org` or `Sam text 07700 900123`."""
    # The last "email" or "text" with a name before it: a number may be typed with spaces.
    for index in range(len(words) - 2, 0, -1):
        method = read_method(words[index])
        if method is not None:
            return " ".join(words[:index]), method, " ".join(words[index + 1 :])
    return None


def mask_address(method: str, address: str) -> str:
    """Enough of an address to tell it apart, not to use it: a***@nhs.net, •••• ••0123."""
    if method == EMAIL:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    return "•••• ••" + address[-SHOWN_DIGITS:]


def _shown(method: str, address: str, *, masked: bool) -> str:
    return mask_address(method, address) if masked else address


def _not_set_up(method: str) -> str:
    what = "E-mail isn't" if method == EMAIL else "Texting isn't"
    return (
        f" {what} set up here yet, so nothing reaches them until it is: ask whoever looks "
        "after qi-nudge for your trust."
    )


# --- adding --------------------------------------------------------------------------------


def consent_needed(name: str, method: str, example: str = ADD_EXAMPLE) -> str:
    """Why an organiser must say the person agreed, and how (the refusal without --consent)."""
    how = "by e-mail" if method == EMAIL else "by text message"
    return (
        f"Before I add {name or 'them'}, please check they are happy to hear about the forum's "
        f"meetings {how}, and for their name and address to be kept in qi-nudge (each message "
        "has a link to stop them). When they have said yes, add --consent to the end of the "
        f"same command, like this: {example}"
    )


def add_outside_member(
    session: Session,
    ctx: Context,
    forum: Forum,
    *,
    name: str,
    method: str,
    address: str,
    role: Role | None,
    recorded_by_id: int | None,
    masked: bool,
) -> Change:
    """Add someone not on chat to the forum, reached by e-mail or text; consent was checked.

    Someone already reached at that address is not recorded twice: they are added to this
    forum if they are not in it, and their role changes if a new one was given.
    """
    tidy = _person_name(name)
    try:
        address = contacts.tidy_address(method, address)
    except BadAddress as error:
        raise Refusal(str(error)) from None
    now = ctx.now()
    existing = contacts.contact_at(session, method, address)
    if existing is not None:
        return _already_reached(session, ctx, forum, existing, tidy, role, recorded_by_id)
    if method == EMAIL and contacts.on_chat_at(session, address):
        raise Refusal(
            "Someone who uses chat here has that e-mail address, so they see the forum's news "
            "in chat. Please ask them to type /qi-join forum."
        )
    person = Person(display_name=tidy, created_at=now)
    session.add(person)
    session.flush()
    member = ForumMember(
        forum_id=forum.id, person_id=person.id, role=role, wants_match=False, joined_at=now
    )
    session.add(member)
    contact = contacts.record_contact(
        session,
        person_id=person.id,
        method=method,
        address=address,
        recorded_by_id=recorded_by_id,
        now=now,
    )
    _audit_added(session, ctx, member, recorded_by_id)
    record(
        session,
        at=now,
        actor_id=recorded_by_id,
        action="outside_contact.recorded",
        subject_type="outside_contact",
        subject_id=contact.id,
        method=method,
        consent=True,
    )
    reached = "by e-mail at" if method == EMAIL else "by text at"
    text = (
        f'{tidy} is now a member of "{forum.name}"{_as(role)}. They will hear about its '
        f"meetings {reached} {_shown(method, address, masked=masked)}. I've noted that you "
        "checked they agreed."
    )
    if method not in ctx.outside_methods:
        text += _not_set_up(method)
    erased, _ = erasure.erased_among(session, email_sha256s=[contacts.address_digest(address)])
    if erased:
        text += (
            " Someone at this address once asked for their details to be erased: I've added "
            "them because you've checked they agreed again."
        )
    return Change(text, outcome=ADDED)


def _person_name(name: str) -> str:
    tidy = clean_name(name)
    if not name_key(tidy):
        raise Refusal(f"Please give the person's name, like this: {ADD_EXAMPLE}")
    if len(tidy) > NAME_MAX:
        raise Refusal(f"That name is too long. Please keep it under {NAME_MAX} characters.")
    return tidy


def _as(role: Role | None) -> str:
    return f" {as_role(role)}" if role else ""


def _audit_added(
    session: Session, ctx: Context, member: ForumMember, recorded_by_id: int | None
) -> None:
    session.flush()
    record(
        session,
        at=ctx.now(),
        actor_id=recorded_by_id,
        action="forum_member.added",
        subject_type="forum_member",
        subject_id=member.id,
        forum_id=member.forum_id,
        role=member.role.value if member.role else None,
    )


def _already_reached(
    session: Session,
    ctx: Context,
    forum: Forum,
    contact: OutsideContact,
    typed: str,
    role: Role | None,
    recorded_by_id: int | None,
) -> Change:
    """Added again at an address already recorded: one person, never a second record."""
    person = contact.person
    name = person.display_name
    known_as = "" if name_key(name) == name_key(typed) else f" (recorded as {name})"
    now = ctx.now()
    notes = ""
    if contact.confirmed_at is None:
        # They signed up on the page and had not confirmed: the organiser's check stands in.
        contact.confirmed_at = now
        contact.consent_recorded_by_id = recorded_by_id
        contact.consent_recorded_at = now
    if contact.stopped_at is not None:
        # The organiser has just checked, with them, that they want to hear again.
        stopped = on_day(contact.stopped_at.astimezone(ctx.timezone))
        notes = (
            f" They had stopped these messages on {stopped}; as you've checked they agreed "
            "again, they will get them again."
        )
        contact.stopped_at = None
        contact.consent_recorded_by_id = recorded_by_id
        contact.consent_recorded_at = now
    member = forum_store.current_forum_member(session, forum.id, person.id)
    if member is None:
        member = ForumMember(
            forum_id=forum.id, person_id=person.id, role=role, wants_match=False, joined_at=now
        )
        try:
            with session.begin_nested():  # added twice at once: the unique index decides
                session.add(member)
        except IntegrityError:
            raise Refusal(f'{name} has just been added to "{forum.name}".') from None
        _audit_added(session, ctx, member, recorded_by_id)
        return Change(
            f"Someone is already reached at that address{known_as}, so I haven't recorded them "
            f'twice: I\'ve added {name} to "{forum.name}"{_as(role)}.{notes}',
            outcome=JOINED,
        )
    start = f'{name}{known_as} is already a member of "{forum.name}", reached at that address.'
    if role is None or role == member.role:
        return Change(start + (notes or " Nothing has changed."), outcome=SAME)
    old = member.role
    member.role = role
    record(
        session,
        at=now,
        actor_id=recorded_by_id,
        action="forum_member.role_changed",
        subject_type="forum_member",
        subject_id=member.id,
        new=role.value,
    )
    # Their answers to meetings to come count in the new role, as when anyone changes theirs.
    going = forum_store.follow_forum_role(session, forum.id, person.id, role, now)
    was = f" from {old.label}" if old else ""
    return Change(
        f"{start} I've changed their role{was} to {role.label}.{notes}",
        refresh=tuple(meeting_prefix(meeting_id) for meeting_id in going),
        outcome=ROLE_CHANGED,
    )


# --- seeing who is reachable ---------------------------------------------------------------


def reach_text(member: MemberReach, methods: frozenset[str], *, masked: bool) -> str:
    """How messages reach one member, in words: on chat, by e-mail, by text, or not at all."""
    if member.on_chat:
        return "on chat"
    if member.method is None or member.address is None:
        return "not reachable (no e-mail address or mobile number recorded)"
    if member.stopped:
        return "asked not to be messaged"
    if member.method not in methods:
        return "not reachable (no e-mail or text set up)"
    if not member.confirmed:
        return "waiting for them to confirm their address"
    way = "by e-mail" if member.method == EMAIL else "by text"
    return f"{way} ({_shown(member.method, member.address, masked=masked)})"


def members_reply(session: Session, ctx: Context, forum: Forum, *, masked: bool) -> list[str]:
    """The forum's members, how each is reached, and counts by role and by way of reaching."""
    everyone = contacts.members_reach(session, forum.id)
    if not everyone:
        return [
            f'"{forum.name}" has no members yet. Add someone who isn\'t on chat like this: '
            f"{ADD_EXAMPLE}"
        ]
    reach = {m.member_id: reach_text(m, ctx.outside_methods, masked=masked) for m in everyone}

    def line(member: MemberReach) -> str:
        role = f", {member.role.label}" if member.role else ""
        return f"• {member.name}{role}: {reach[member.member_id]}"

    listed = shortlist(everyone, MEMBERS_SHOWN, line=line)
    lines = [
        f'{plural(len(everyone), "member")} of "{forum.name}": '
        f"{counts_by_role(Counter(m.role for m in everyone))}.",
        *(line(m) for m in listed.shown),
    ]
    if listed.more:
        lines.append(f"{and_more(listed.more, 'member')}.")
    ways = Counter(_way(text) for text in reach.values())
    lines.append(
        "Reached: " + ", ".join(f"{n} {way}" for way, n in sorted(ways.items(), key=_way_order))
    )
    return lines + pages_lines(ctx, forum)


def pages_lines(ctx: Context, forum: Forum) -> list[str]:
    """The forum's calendar feed and (if on) sign-up page, for organisers to share."""
    if ctx.pages is None:
        return []
    lines = [
        "The forum's meetings as a calendar (subscribe in Outlook or Google Calendar, or share "
        f"it): {ctx.pages.forum_calendar(forum.id)}"
    ]
    if forum.public_signup:
        lines.append(f"Anyone can sign up on its page: {ctx.pages.signup(forum.name_key)}")
    return lines


def _way(text: str) -> str:
    for way in ("on chat", "by e-mail", "by text", "asked not to be messaged", "waiting"):
        if text.startswith(way):
            return "waiting to confirm" if way == "waiting" else way
    return "not reachable"


_WAYS = ("on chat", "by e-mail", "by text", "waiting to confirm", "asked not to be messaged")


def _way_order(item: tuple[str, int]) -> int:
    return _WAYS.index(item[0]) if item[0] in _WAYS else len(_WAYS)


# --- removing ------------------------------------------------------------------------------


def remove_outside_member(
    session: Session,
    ctx: Context,
    forum: Forum,
    name: str,
    *,
    removed_by_id: int | None,
    at: tuple[str, str] | None = None,
) -> Change:
    """End an outside member's place in the forum; with no other forum, no more messages.

    `at`: (method, address), to tell apart two members of the same name.
    """
    key = name_key(name)
    everyone = contacts.members_reach(session, forum.id)
    same = [m for m in everyone if name_key(m.name) == key]
    outside = [m for m in same if not m.on_chat]
    if at is not None:
        method, address = at
        try:
            address = contacts.tidy_address(method, address)
        except BadAddress as error:
            raise Refusal(str(error)) from None
        outside = [m for m in outside if (m.method, m.address) == (method, address)]
    if not outside:
        if same and at is None:
            raise Refusal(
                f"{same[0].name} uses chat: they can leave themselves with /qi-leave forum."
            )
        at_address = " at that address" if at is not None else ""
        raise Refusal(
            f'I couldn\'t find "{clean_name(name)[:NAME_MAX]}"{at_address} among the members of '
            f'"{forum.name}". Please give their name in full; {MEMBERS_COMMAND} lists them.'
        )
    if len(outside) > 1:
        raise Refusal(
            f'{len(outside)} members of "{forum.name}" are called {outside[0].name}. Please add '
            f"the address of the one to take off: {REMOVE_EXAMPLE} email their@address"
        )
    found = outside[0]
    member = session.get(ForumMember, found.member_id)
    assert member is not None
    now = ctx.now()
    member.left_at = max(now, member.joined_at)
    record(
        session,
        at=now,
        actor_id=removed_by_id,
        action="forum_member.removed",
        subject_type="forum_member",
        subject_id=member.id,
        forum_id=forum.id,
    )
    # They won't be there as far as the counts go: their "going" to meetings to come is taken off.
    withdrawn = forum_store.withdraw_going(
        session, forum.id, found.person_id, answered_by=now, now=now
    )
    text = f'I\'ve taken {found.name} off "{forum.name}". Their time in it is kept in its history.'
    if withdrawn:
        meetings = plural(len(withdrawn), "meeting")
        text += f" Their name is off the {meetings} they said they'd come to."
    if contacts.has_other_forum(session, found.person_id, forum.id):
        text += " They are still in another forum, so they still hear about its meetings."
    elif contacts.stop_messages(session, found.person_id, now=now):
        text += " They won't get any more messages."
    way = found.method or EMAIL
    text += (
        " If that was a mistake, add them again with /qi-forum add-member, their name, "
        f"{'email' if way == EMAIL else 'text'} and their address, and --consent."
    )
    return Change(text, refresh=tuple(meeting_prefix(meeting_id) for meeting_id in withdrawn))


# --- chat ----------------------------------------------------------------------------------


def add_member_command(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`/qi-forum add-member "Name" email|text ADDRESS [as ROLE] --consent [--forum NAME]`."""
    left, role_words = split_on_as(args.words)
    role = require_role(role_words, example=ADD_EXAMPLE) if role_words is not None else None
    found = split_at_method(left)
    if found is None:
        raise Refusal(
            "Please give their name, then email or text and their address, like this: "
            f"{ADD_EXAMPLE}"
        )
    name, method, address = found
    with ctx.sessions.begin() as session:
        organiser = acting_person(session, ctx, actor)
        require_admin(session, organiser)
        if "consent" not in args.flags:
            raise Refusal(consent_needed(clean_name(name), method))
        forum = find_forum(session, args.options.get("forum", ""))
        change = add_outside_member(
            session,
            ctx,
            forum,
            name=name,
            method=method,
            address=address,
            role=role,
            recorded_by_id=organiser.id,
            masked=True,
        )
    return Reply(sections=(Section(text=change.text),), refresh=change.refresh)


def members_command(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`/qi-forum members [--forum NAME]`: who is in the forum, and how each is reached."""
    with ctx.sessions.begin() as session:
        require_admin(session, acting_person(session, ctx, actor))
        forum = find_forum(session, args.options.get("forum", " ".join(args.words)))
        lines = members_reply(session, ctx, forum, masked=True)
        heading = f"Members of {forum.name}"
    return say("\n".join(lines), heading=heading)


def remove_member_command(ctx: Context, actor: Actor, args: Arguments) -> Reply:
    """`/qi-forum remove-member "Name" [email|text ADDRESS] [--forum NAME]`, for organisers."""
    found = split_at_method(args.words)
    name, at = (found[0], found[1:]) if found else (" ".join(args.words), None)
    if not name_key(name):
        raise Refusal(f"Please say who, like this: {REMOVE_EXAMPLE}")
    with ctx.sessions.begin() as session:
        organiser = acting_person(session, ctx, actor)
        require_admin(session, organiser)
        forum = find_forum(session, args.options.get("forum", ""))
        change = remove_outside_member(session, ctx, forum, name, removed_by_id=organiser.id, at=at)
    return Reply(sections=(Section(text=change.text),), refresh=change.refresh)
