"""The outbox's claim and count, where a process is set up on only some platforms."""

from datetime import timedelta

from sqlalchemy import update

from store import outbox, people
from store.models import ChatIdentity, Delivery

CONSOLE_ONLY = outbox.Elsewhere(platforms=("slack", "teams"))
SLACK_ONLY = outbox.Elsewhere(platforms=("teams",), unless_on=("slack",))


def someone(session, clock, name, *platforms):
    """A person with an account on each platform; their recipient key."""
    person = people.ensure_person_for_identity(
        session,
        platform=platforms[0],
        workspace="W",
        user_id=f"{name}-{platforms[0]}",
        display_name=name,
        now=clock(),
    )
    for platform in platforms[1:]:
        on(session, outbox.person_recipient(person.id), platform)
    return outbox.person_recipient(person.id)


def on(session, recipient, platform):
    """The person also has an account on `platform`."""
    person_id = outbox.recipient_person_id(recipient)
    session.add(
        ChatIdentity(person_id=person_id, platform=platform, workspace="W", user_id=f"{person_id}")
    )
    session.flush()


def plan(session, clock, *recipients):
    planned = [outbox.Planned("news", "w1", recipient) for recipient in recipients]
    assert outbox.plan(session, planned, now=clock()) == len(planned)


def test_a_console_run_claims_only_the_consoles_own_people_and_channels(sessions, clock):
    with sessions.begin() as session:
        console_only = someone(session, clock, "Carla", "console")
        also_on_slack = someone(session, clock, "Asha", "console", "slack")
        plan(session, clock, console_only, also_on_slack, "channel:console:try-out")
        plan(session, clock, "channel:slack:C1")

    with sessions.begin() as session:
        claimed = outbox.claim_due(session, now=clock(), elsewhere=CONSOLE_ONLY)

    assert sorted(c.recipient for c in claimed) == sorted([console_only, "channel:console:try-out"])


def test_a_slack_run_claims_people_on_slack_and_teams_and_leaves_those_only_on_teams(
    sessions, clock
):
    with sessions.begin() as session:
        both = someone(session, clock, "Asha", "slack", "teams")
        teams_only = someone(session, clock, "Tom", "teams")
        plan(session, clock, both, teams_only, "channel:teams:19:x@thread.tacv2")

    with sessions.begin() as session:
        claimed = outbox.claim_due(session, now=clock(), elsewhere=SLACK_ONLY)

    assert [c.recipient for c in claimed] == [both]


def test_a_post_in_doubt_on_a_platform_not_set_up_here_is_left_for_it(sessions, clock):
    with sessions.begin() as session:
        carla = someone(session, clock, "Carla", "console")
        plan(session, clock, carla)
        session.execute(
            update(Delivery).values(post_started_at=clock(), platform="slack", channel_id="D1")
        )

    with sessions.begin() as session:
        assert outbox.claim_due(session, now=clock(), elsewhere=CONSOLE_ONLY) == []
        found = outbox.waiting(session, now=clock(), elsewhere=CONSOLE_ONLY)

    assert found[outbox.ELSEWHERE].count == 1


def test_waiting_says_what_holds_each_delivery_and_when_it_may_go(sessions, clock):
    with sessions.begin() as session:
        recipients = [someone(session, clock, f"Lead {n}", "console") for n in range(4)]
        plan(session, clock, *recipients)
        outbox.claim_due(session, now=clock(), limit=2)  # a process that then died
        retry_at = clock() + timedelta(minutes=10)
        session.execute(
            update(Delivery)
            .where(Delivery.recipient == recipients[2])
            .values(next_attempt_at=retry_at)
        )
    clock.advance(minutes=1)

    with sessions() as session:
        found = outbox.waiting(
            session,
            now=clock(),
            lease=timedelta(minutes=5),
        )

    claimed_at = clock() - timedelta(minutes=1)
    assert found[outbox.CLAIMED] == outbox.Waiting(
        2, claimed_at + timedelta(minutes=5), claimed_at + timedelta(minutes=5)
    )
    assert found[outbox.RETRY] == outbox.Waiting(1, retry_at, retry_at)
    assert found[outbox.DUE].count == 1
    assert outbox.ELSEWHERE not in found
