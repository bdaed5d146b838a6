"""Chat addresses and channels: kept once per user or channel, exported and erased with people."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handlers.core.errors import Refusal
from handlers.people.personal_data import (
    address_erasure_warning,
    erase_address,
    erase_person,
    export_address,
    export_person,
    find_person,
    find_person_or_address,
)
from store import addresses
from store.models import AuditEvent, ChatAddress, ChatIdentity, Person

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


def test_someone_who_only_installed_the_bot_on_teams_can_be_exported_and_erased(sessions, clock):
    with sessions.begin() as session:
        _remember(session, "aad-3", clock(), dm_channel="a:3-conversation")
        _remember(session, "aad-2", clock())  # somebody else
    spec = "teams:tenant-1:aad-3"
    with sessions.begin() as session:
        found = find_person_or_address(session, spec)
        exported = export_address(found)
        warning = address_erasure_warning(found)
        erased = erase_address(session, found, now=clock())
    with sessions() as session:
        left = list(session.scalars(select(ChatAddress.user_id)))
        audited = list(session.scalars(select(AuditEvent.action)))
        with pytest.raises(Refusal, match="Nobody has the chat identity teams:tenant-1:aad-3"):
            find_person_or_address(session, spec)

    assert exported == {
        "person": None,
        "note": (
            "Nobody is recorded for this chat account. qi-nudge holds only how to reach it on "
            "Microsoft Teams, kept because the app was installed or messaged there: the ids "
            "below, and no name."
        ),
        "chat_addresses": [
            {
                "platform": "teams",
                "workspace": "tenant-1",
                "user_id": "aad-3",
                "conversation": "a:3-conversation",
                "address": {"serviceUrl": SERVICE, "userId": "29:aad-3"},
            }
        ],
    }
    assert warning == (
        "Nobody is recorded for teams:tenant-1:aad-3, but qi-nudge holds how to reach them on "
        "Microsoft Teams (their Microsoft Teams ids and their chat with the bot, no name): they "
        "installed or messaged the bot and did nothing more. This deletes it. Run again with "
        "--yes to go ahead."
    )
    assert erased == (
        "Erased how to reach teams:tenant-1:aad-3 on Microsoft Teams (their Microsoft Teams ids "
        "and their chat with the bot). Nothing else was held about them."
    )
    assert left == ["aad-2"]
    assert audited == ["chat_address.erased"]


def test_an_address_alone_is_not_a_person_to_make_an_admin_or_to_link(sessions, clock):
    with sessions.begin() as session:
        _remember(session, "aad-3", clock())
    with sessions() as session, pytest.raises(Refusal, match="Nobody has the chat identity"):
        find_person(session, "teams:tenant-1:aad-3")


def test_a_persons_own_address_still_finds_the_person(sessions, clock):
    with sessions.begin() as session:
        person = Person(display_name="Ben Okafor", created_at=clock())
        person.identities.append(
            ChatIdentity(platform="teams", workspace="tenant-1", user_id="aad-1")
        )
        session.add(person)
        _remember(session, "aad-1", clock())
    with sessions() as session:
        found = find_person_or_address(session, "teams:tenant-1:aad-1")

    assert isinstance(found, Person) and found.display_name == "Ben Okafor"
