"""The outbox's claim and count, where a process is set up on only some platforms."""

from datetime import timedelta

from sqlalchemy import select, update

from store import outbox, people
from store.models import ChatIdentity, Delivery, OutsideContact, Person

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
            .values(next_attempt_at=retry_at, attempts=1)
        )
        later = someone(session, clock, "Lead 4", "console")
        outbox.plan(session, [outbox.Planned("news", "later", later, {}, retry_at)], now=clock())
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
    assert found[outbox.SCHEDULED] == outbox.Waiting(1, retry_at, retry_at)  # never tried yet
    assert found[outbox.DUE].count == 1
    assert outbox.ELSEWHERE not in found


def test_a_commit_that_planned_wakes_the_sender_and_nothing_else_does(sessions, clock):
    woken: list[int] = []
    undo = outbox.when_planned(sessions, lambda: woken.append(1))
    try:
        with sessions.begin() as session:
            plan(session, clock, "channel:slack:C1")
        assert woken == [1]

        with sessions.begin() as session:  # a read, or a write that plans nothing
            outbox.counts_by_status(session)
        with sessions.begin() as session:  # planned already: nothing new
            assert (
                outbox.plan(
                    session, [outbox.Planned("news", "w1", "channel:slack:C1")], now=clock()
                )
                == 0
            )
        assert woken == [1]

        session = sessions()
        with session.begin():
            plan(session, clock, "channel:slack:C2")
            session.rollback()
        with sessions.begin() as session:  # the rolled-back plan wakes nobody later
            outbox.counts_by_status(session)
        assert woken == [1]
    finally:
        undo()
    with sessions.begin() as session:
        plan(session, clock, "channel:slack:C3")
    assert woken == [1]


def test_next_due_is_the_first_retry_or_the_first_claim_whose_lease_runs_out(sessions, clock):
    with sessions.begin() as session:
        assert outbox.next_due(session, now=clock()) is None
        plan(session, clock, "channel:slack:C1", "channel:slack:C2", "channel:teams:T1")
        session.execute(
            update(Delivery)
            .where(Delivery.recipient != "channel:teams:T1")
            .values(next_attempt_at=clock() + timedelta(seconds=42))
        )
        # Due now, but for a platform not set up here: a Slack-only process waits for it not.
        assert outbox.next_due(session, now=clock()) == clock()
        assert outbox.next_due(session, now=clock(), elsewhere=SLACK_ONLY) == clock() + timedelta(
            seconds=42
        )
        later = clock() + timedelta(seconds=42)
        claimed = outbox.claim_due(session, now=later, limit=1, elsewhere=SLACK_ONLY)
        assert [c.recipient for c in claimed] == ["channel:slack:C1"]
        lease = timedelta(seconds=30)
        # C2 is still due at 42 s; C1's claim runs out at 42 + 30 s (if its sender died).
        due = outbox.next_due(session, now=clock(), elsewhere=SLACK_ONLY, lease=lease)
        assert due == later
        c2 = session.scalar(select(Delivery.id).where(Delivery.recipient == "channel:slack:C2"))
        due = outbox.next_due(session, now=clock(), elsewhere=SLACK_ONLY, lease=lease, skip=[c2])
        assert due == later + lease


def test_put_back_many_returns_only_the_claims_still_ours_in_one_statement(sessions, clock):
    with sessions.begin() as session:
        plan(session, clock, "channel:slack:C1", "channel:slack:C2", "channel:slack:C3")
        claimed = outbox.claim_due(session, now=clock())
        # The third was taken over by another sender (its claim made a further attempt).
        session.execute(update(Delivery).where(Delivery.id == claimed[2].id).values(attempts=2))
        at = clock() + timedelta(seconds=30)

        returned = outbox.put_back_many(
            session, [(c.id, c.attempts) for c in claimed], at=at, error="rate limit"
        )

        assert returned == 2
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [(r.status, r.attempts) for r in rows] == [
            (outbox.PENDING, 0),
            (outbox.PENDING, 0),
            (outbox.SENDING, 2),
        ]
        assert rows[0].next_attempt_at == at and rows[0].error == "rate limit"


# --- issue 18: people outside chat -------------------------------------------------------------


def reached_outside(session, clock, name, method, *, stopped=False):
    """A person with no chat account, reached by e-mail or text; their recipient key."""
    someone = Person(display_name=name, created_at=clock())
    session.add(someone)
    session.flush()
    session.add(
        OutsideContact(
            person_id=someone.id,
            method=method,
            address=f"{name}@example.org" if method == "email" else "+447700900123",
            consent_recorded_at=clock(),
            confirmed_at=clock(),
            stopped_at=clock() if stopped else None,
            created_at=clock(),
        )
    )
    session.flush()
    return outbox.person_recipient(someone.id)


def test_a_process_without_email_or_texts_leaves_their_messages_queued_for_one_with_them(
    sessions, clock
):
    no_outside = outbox.Elsewhere(platforms=("teams", "email", "text"), unless_on=("slack",))
    email_here = outbox.Elsewhere(platforms=("teams", "text"), unless_on=("slack", "email"))
    with sessions.begin() as session:
        on_slack = someone(session, clock, "Asha", "slack")
        by_email = reached_outside(session, clock, "dee", "email")
        by_text = reached_outside(session, clock, "eve", "text")
        plan(session, clock, on_slack, by_email, by_text)

    with sessions.begin() as session:
        claimed = outbox.claim_due(session, now=clock(), elsewhere=no_outside)
        found = outbox.waiting(session, now=clock(), elsewhere=no_outside)
        assert [c.recipient for c in claimed] == [on_slack]
        assert found[outbox.ELSEWHERE].count == 2
        outbox.give_back(session, claimed[0].id, attempts=claimed[0].attempts)

    with sessions.begin() as session:
        claimed = outbox.claim_due(session, now=clock(), elsewhere=email_here)

    assert sorted(c.recipient for c in claimed) == sorted([on_slack, by_email])


def test_a_message_to_someone_who_asked_to_stop_is_not_held_for_another_process(sessions, clock):
    # Nothing anywhere can send it: the process claims it, and its renderer withdraws it.
    no_outside = outbox.Elsewhere(platforms=("email", "text"))
    with sessions.begin() as session:
        stopped = reached_outside(session, clock, "dee", "email", stopped=True)
        plan(session, clock, stopped)

    with sessions.begin() as session:
        claimed = outbox.claim_due(session, now=clock(), elsewhere=no_outside)

    assert [c.recipient for c in claimed] == [stopped]
