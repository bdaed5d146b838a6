"""Chat addresses and channels: kept once per user or channel, exported and erased with people."""

from datetime import timedelta

from sqlalchemy import func, select

from handlers.personal_data import erase_person, export_person
from store import addresses
from store.models import ChatAddress, ChatIdentity, Person

SERVICE = "https://smba.example/teams/"


def _remember(session, user_id, now, **extra):
    addresses.remember_address(
        session,
        platform="teams",
        workspace="tenant-1",
        user_id=user_id,
        address={"serviceUrl": SERVICE, "userId": f"29:{user_id}"},
        now=now,
        **extra,
    )


def test_an_address_is_kept_once_and_refreshed_without_losing_its_conversation(sessions, clock):
    with sessions.begin() as session:
        _remember(session, "aad-1", clock(), dm_channel="a:1-conversation")
    with sessions.begin() as session:
        # A later message from them carries the address again, but not the 1:1 conversation.
        _remember(session, "aad-1", clock() + timedelta(days=1))
    with sessions() as session:
        row = addresses.address_of(session, "teams", "tenant-1", "aad-1")
        count = session.scalar(select(func.count()).select_from(ChatAddress))

    assert count == 1
    assert row is not None and row.dm_channel == "a:1-conversation"
    assert row.address == {"serviceUrl": SERVICE, "userId": "29:aad-1"}
    assert row.updated_at == clock() + timedelta(days=1)


def test_channels_are_listed_until_the_bot_leaves_their_team(sessions, clock):
    with sessions.begin() as session:
        for channel, name, team in [("19:a", "QI Forum", "t1"), ("19:b", "General", "t2")]:
            addresses.remember_channel(
                session,
                platform="teams",
                workspace="tenant-1",
                channel_id=channel,
                name=name,
                address={"serviceUrl": SERVICE, "teamId": team},
                now=clock(),
            )
    with sessions.begin() as session:
        gone = addresses.forget_channels(
            session, platform="teams", workspace="tenant-1", team_id="t2", now=clock()
        )
    with sessions() as session:
        listed = [c.name for c in addresses.list_channels(session, "teams")]
        removed = addresses.channel_of(session, "teams", "19:b")

    assert gone == 1
    assert listed == ["QI Forum"]
    assert removed is not None and removed.removed_at is not None


def test_a_persons_teams_address_is_exported_and_erased_with_them(sessions, clock):
    with sessions.begin() as session:
        person = Person(display_name="Ben Okafor", created_at=clock())
        person.identities.append(
            ChatIdentity(platform="teams", workspace="tenant-1", user_id="aad-1")
        )
        session.add(person)
        _remember(session, "aad-1", clock(), dm_channel="a:1-conversation")
        _remember(session, "aad-2", clock())  # somebody else, unknown to us by name
    with sessions.begin() as session:
        person_id = session.scalar(select(Person.id))
        exported = export_person(session, person_id)
        erase_person(session, person_id, now=clock())
    with sessions() as session:
        left = list(session.scalars(select(ChatAddress.user_id)))

    assert exported["chat_addresses"] == [
        {
            "platform": "teams",
            "workspace": "tenant-1",
            "user_id": "aad-1",
            "conversation": "a:1-conversation",
            "address": {"serviceUrl": SERVICE, "userId": "29:aad-1"},
        }
    ]
    assert left == ["aad-2"]
