"""The console's sender: who it reaches, and messages kept in the console's inbox."""

from bot.console.inbox import Inbox
from bot.console.sender import ConsoleSender
from handlers.core.reply import say
from store import outbox
from store.models import ChatIdentity, Person


def _person(ctx, name, *identities):
    with ctx.sessions.begin() as session:
        person = Person(display_name=name, created_at=ctx.now())
        for platform, user_id in identities:
            person.identities.append(
                ChatIdentity(platform=platform, workspace="local", user_id=user_id)
            )
        session.add(person)
        session.flush()
        return outbox.person_recipient(person.id)


def test_only_the_consoles_own_people_and_channels_are_reached(ctx):
    sender = ConsoleSender(inbox=Inbox())
    tom = _person(ctx, "Tom Hughes", ("console", "tom hughes"))
    both = _person(ctx, "Sam Jones", ("console", "sam jones"), ("slack", "U1"))

    assert sender.destination(ctx.sessions, tom) == "dm:tom hughes"
    assert sender.destination(ctx.sessions, both) is None  # theirs waits for Slack
    assert sender.destination(ctx.sessions, "channel:console:forum") == "forum"
    assert sender.destination(ctx.sessions, "channel:slack:C1") is None


def test_a_message_is_kept_for_its_reader_and_edited_in_place(ctx):
    inbox = Inbox()
    sender = ConsoleSender(inbox=inbox)
    channel = sender.destination(ctx.sessions, _person(ctx, "Tom", ("console", "tom")))

    message_id = sender.post(channel, say("2 going"), key="k1")
    sender.update(channel, message_id, say("3 going"))

    (message,) = inbox.unseen("tom")
    assert (message.name, message.reply.text) == ("Tom", "3 going")
    assert inbox.unseen("tom") == []
    assert [m.reply.text for m in inbox.for_person("tom")] == ["3 going"]
    assert inbox.for_person("someone else") == []


def test_an_id_from_an_earlier_console_edits_nothing_now(ctx):
    earlier, now = Inbox(), Inbox()
    old_id = ConsoleSender(inbox=earlier).post("dm:tom", say("old"), key="k1")
    ConsoleSender(inbox=now).post("dm:ben", say("Ben's own"), key="k2")

    ConsoleSender(inbox=now).update("dm:tom", old_id, say("changed"))

    assert [m.reply.text for m in now.messages] == ["Ben's own"]
