"""/qi-forum: which part of the forum each way of typing it reaches."""

from __future__ import annotations

from handlers.core.args import Arguments, parse_arguments
from handlers.core.context import Context
from handlers.core.reply import Actor, Reply
from handlers.forum import organising, outside_members
from handlers.forum.meetings import add_meeting_command, show_forums
from handlers.forum.slots import handle_slot_command, list_slots_command

# What organisers type after /qi-forum to change a meeting: "move-meeting" or "move meeting".
MEETING_CHANGES = {
    "move": organising.move_meeting_command,
    "cancel": organising.cancel_meeting_command,
    "uncancel": organising.uncancel_meeting_command,
    "un-cancel": organising.uncancel_meeting_command,
}
# What organisers type to look after members outside chat: "add-member" or "add member".
MEMBER_CHANGES = {
    "add": outside_members.add_member_command,
    "remove": outside_members.remove_member_command,
}


def handle_forum_command(ctx: Context, actor: Actor, text: str) -> Reply:
    """Show the next meeting of each forum the person is in (or of every forum)."""
    args = parse_arguments(text, options=frozenset({"forum"}))
    first = [w.casefold() for w in args.words[:2]]
    if first[:1] == ["members"]:
        return outside_members.members_command(ctx, actor, _after(args, 1))
    if len(first) == 2 and first[0] in MEMBER_CHANGES and first[1] == "member":
        return MEMBER_CHANGES[first[0]](ctx, actor, _after(args, 2))
    verb = first[0].removesuffix("-member").removesuffix("member") if first else ""
    if first and first[0] != verb and verb in MEMBER_CHANGES:
        return MEMBER_CHANGES[verb](ctx, actor, _after(args, 1))
    if first[:1] in (["add-meeting"], ["addmeeting"]):
        return add_meeting_command(ctx, actor, args.words[1:])
    if first == ["add", "meeting"]:
        return add_meeting_command(ctx, actor, args.words[2:])
    if first[:1] == ["slot"]:
        return handle_slot_command(ctx, actor, text.strip()[len("slot") :])
    if first[:1] == ["slots"]:
        return list_slots_command(ctx, actor)
    if first[:1] == ["meetings"]:
        return organising.list_meetings_command(ctx, actor)
    if len(first) == 2 and first[0] in MEETING_CHANGES and first[1] == "meeting":
        return MEETING_CHANGES[first[0]](ctx, actor, args.words[2:])
    if first and first[0].removesuffix("-meeting") in MEETING_CHANGES:
        return MEETING_CHANGES[first[0].removesuffix("-meeting")](ctx, actor, args.words[1:])
    return show_forums(ctx, actor, args.words)


def _after(args: Arguments, count: int) -> Arguments:
    """The arguments without the first `count` words (the subcommand's own)."""
    return Arguments(words=args.words[count:], flags=args.flags, options=args.options)
