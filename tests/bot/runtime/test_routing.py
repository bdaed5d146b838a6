"""Delivering through Slack and a platform that cannot be asked what it received (as Teams).

Slack is the real SlackSender against tests.fakes.FakeSlack. The other platform is a double,
`NoLookBackPlatform`: it keeps a transcript of what reached it and, like Teams, offers no way
to look for a message afterwards. Each test reads as what a lead or an admin would notice:
where the message went, how many times, and what `qi-nudge deliveries` says.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.cli.main import build_parser
from bot.console.render_text import render_reply
from bot.runtime.delivery import Deliverer, DeliveryPolicy, Pacer, delivery_key
from bot.runtime.routing import Destination, SenderRouter
from bot.runtime.sending import SendError
from bot.slack.sender import SlackSender
from handlers.core.context import Context
from handlers.core.reply import Reply
from handlers.forum.announcements import ANNOUNCE, meeting_occurrence
from handlers.forum.meetings import add_meeting, meeting_prefix
from store import outbox, people
from store.forums import create_forum
from store.models import ChatIdentity, Delivery, Meeting, Rsvp
from store.roles import Role, RsvpAnswer
from tests.bot.runtime.test_delivery import (
    POLICY,
    STALE,
    FakeMonotonic,
    active_project,
    offline_lead,
    plan_nudge,
    row,
    slack_client,
    slack_lead,
    time_passes,
)
from tests.fakes import FakeSlack
from tests.fakes.slack_api import TEAM_ID

TEAMS = "teams"
TENANT = "tenant-1"
FORUM_ON_TEAMS = "19:forum@thread.tacv2"
UNCONFIRMED = "unconfirmed: Teams cannot be asked whether it arrived, so it was not sent again"
# What the platform double does with a post: "ok", "timeout" (it arrives, the answer does not),
# or an HTTP status it answers instead (nothing arrives).
Answer = str | int


@dataclass(frozen=True)
class Arrived:
    """A message that reached the platform."""

    channel: str
    key: str
    text: str
    id: str


class NoLookBackPlatform:
    """A platform double that, like Teams, cannot be asked afterwards what it received."""

    platform = TEAMS
    can_look_back = False

    def __init__(self) -> None:
        self.arrived: list[Arrived] = []
        self.posts_tried = 0
        self.looked = 0  # find_sent calls: there must be none
        self.edits: list[tuple[str, str, str]] = []
        self._answers: deque[Answer] = deque()
        self.while_posting: Callable[[], None] | None = None  # once, after a post arrives

    def answer_next_post(self, *answers: Answer) -> None:
        """How the next posts go, in order; then "ok"."""
        self._answers.extend(answers)

    def destination(self, sessions: sessionmaker[Session], recipient: str) -> str | None:
        person_id = outbox.recipient_person_id(recipient)
        if person_id is None:
            target = outbox.recipient_channel(recipient)
            return target[1] if target is not None and target[0] == TEAMS else None
        with sessions() as session:
            identity = people.identity_on(session, person_id, TEAMS)
            # No conversation with them yet: nothing to post in.
            return identity.dm_channel if identity is not None else None

    def find_sent(self, channel: str, key: str, *, since=None) -> str | None:
        self.looked += 1
        return None

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        self.posts_tried += 1
        answer = self._answers.popleft() if self._answers else "ok"
        if isinstance(answer, int):
            retry_after = 7.0 if answer == 429 else None
            raise SendError(f"Teams said {answer}", retryable=True, retry_after=retry_after)
        message = Arrived(channel, key, render_reply(reply)[0], f"activity-{self.posts_tried}")
        self.arrived.append(message)
        if self.while_posting is not None:
            hook, self.while_posting = self.while_posting, None
            hook()
        if answer == "timeout":
            raise SendError("no answer from Teams (ReadTimeout)", retryable=True, maybe_sent=True)
        return message.id

    def update(self, channel: str, message_id: str, reply: Reply) -> None:
        self.edits.append((channel, message_id, render_reply(reply)[0]))

    def received(self, channel: str) -> list[Arrived]:
        return [m for m in self.arrived if m.channel == channel]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        # Channels these tests post in, with the bot in them (as an organiser would set up).
        running.add_channel("C0FORUM", "c0forum", bot_member=True)
        yield running


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def teams() -> NoLookBackPlatform:
    return NoLookBackPlatform()


def deliverer(
    ctx: Context,
    fake: FakeSlack,
    teams: NoLookBackPlatform,
    monotonic: FakeMonotonic,
    policy: DeliveryPolicy = POLICY,
) -> Deliverer:
    """A deliverer over Slack then Teams, as a bot set up on both would build it."""
    router = SenderRouter([SlackSender(slack_client(fake)), teams])
    return Deliverer(
        ctx, router, policy, pacer=Pacer(policy, clock=monotonic, sleep=monotonic.sleep)
    )


def on_teams(
    sessions: sessionmaker[Session],
    person_id: int,
    *,
    conversation: str | None,
    active_on: date | None,
) -> None:
    """Give a person a Teams identity (with the bot's 1:1 conversation, if there is one yet)."""
    with sessions.begin() as session:
        session.add(
            ChatIdentity(
                person_id=person_id,
                platform=TEAMS,
                workspace=TENANT,
                user_id=f"29:{person_id}",
                dm_channel=conversation,
                last_active_on=active_on,
            )
        )


def last_active(sessions: sessionmaker[Session], person_id: int, platform: str, day: date) -> None:
    """The person used qi-nudge on `platform` on `day`."""
    with sessions.begin() as session:
        session.execute(
            update(ChatIdentity)
            .where(ChatIdentity.person_id == person_id, ChatIdentity.platform == platform)
            .values(last_active_on=day)
        )


def deliveries_as_admins_see_them(ctx: Context, capsys) -> str:
    """What `qi-nudge deliveries` prints."""
    args = build_parser().parse_args(["deliveries"])
    capsys.readouterr()
    assert args.handler(ctx, args) == 0
    return capsys.readouterr().out


def meeting_announced_in(
    sessions: sessionmaker[Session], ctx: Context, channel: str
) -> tuple[int, dict[str, int]]:
    """A forum meeting next week, announced in `channel`; (meeting id, {channel: delivery id})."""
    with sessions.begin() as session:
        forum = create_forum(session, name="QI Forum", channel=channel, now=ctx.now())
        meeting = add_meeting(session, ctx, forum, ctx.now() + timedelta(days=7), "Room 4", None)
        meeting_id = meeting.id
    return meeting_id, forum_moves_to(sessions, ctx, meeting_id, channel)


def forum_moves_to(
    sessions: sessionmaker[Session], ctx: Context, meeting_id: int, channel: str
) -> dict[str, int]:
    """The meeting's forum now announces in `channel`, and the meeting is announced there."""
    with sessions.begin() as session:
        meeting = session.get(Meeting, meeting_id)
        meeting.forum.channel = channel
        occurrence = meeting_occurrence(meeting, str(7 * 24 * 60))
        planned = outbox.Planned(
            ANNOUNCE,
            occurrence,
            outbox.channel_recipient(channel),
            {"meeting": meeting.id, "offset": 7 * 24 * 60},
        )
        assert outbox.plan(session, [planned], now=ctx.now()) == 1
        found = session.scalar(
            select(Delivery.id).where(
                Delivery.occurrence == occurrence, Delivery.recipient == planned.recipient
            )
        )
        return {channel: found}


def say_going(sessions: sessionmaker[Session], meeting_id: int, person_id: int, now) -> None:
    with sessions.begin() as session:
        session.add(
            Rsvp(
                meeting_id=meeting_id,
                person_id=person_id,
                answer=RsvpAnswer.GOING,
                role=Role.CARER,
                answered_at=now,
            )
        )


@pytest.fixture
def asha(sessions, clock) -> int:
    """A QI lead on Slack (U1, DM "DU1") and on Teams (1:1 conversation "a:asha")."""
    person_id = slack_lead(sessions, clock(), "Asha Patel", "U1")
    on_teams(sessions, person_id, conversation="a:asha", active_on=None)
    return person_id


@pytest.fixture
def falls(sessions, clock, asha) -> int:
    return active_project(sessions, clock(), "Falls prevention", asha)


@pytest.fixture
def kim(sessions, clock) -> int:
    """A QI lead on Teams only (1:1 conversation "a:kim")."""
    person_id = offline_lead(sessions, clock(), "Kim Lee")
    on_teams(sessions, person_id, conversation="a:kim", active_on=date(2026, 11, 20))
    return person_id


@pytest.fixture
def sepsis(sessions, clock, kim) -> int:
    return active_project(sessions, clock(), "Sepsis screening", kim)


def joins_slack(sessions: sessionmaker[Session], person_id: int, user_id: str, day: date) -> None:
    """The person starts using qi-nudge on Slack as well, on `day`."""
    with sessions.begin() as session:
        session.add(
            ChatIdentity(
                person_id=person_id,
                platform="slack",
                workspace=TEAM_ID,
                user_id=user_id,
                last_active_on=day,
            )
        )


# -- choosing the platform -----------------------------------------------------------------------


def test_a_person_on_both_platforms_gets_their_dm_where_they_were_last_active(
    ctx, sessions, clock, fake, teams, monotonic, asha, falls
):
    last_active(sessions, asha, "slack", date(2026, 11, 16))
    last_active(sessions, asha, TEAMS, date(2026, 11, 20))
    first = plan_nudge(sessions, clock(), asha, [falls], week="2026-W48")

    assert deliverer(ctx, fake, teams, monotonic).drain() == Counter(sent=1)

    [message] = teams.received("a:asha")
    assert message.key == delivery_key(first) and "Falls prevention" in message.text
    assert fake.calls_to("chat.postMessage") == [] and fake.calls_to("conversations.open") == []
    sent = row(sessions, first)
    assert (sent.platform, sent.channel_id, sent.message_ts) == (TEAMS, "a:asha", message.id)

    # A week later she has been using Slack since: next week's nudge goes there.
    clock.advance(days=7)
    last_active(sessions, asha, "slack", date(2026, 11, 27))
    second = plan_nudge(sessions, clock(), asha, [falls], week="2026-W49")

    assert deliverer(ctx, fake, teams, monotonic).drain() == Counter(sent=1)

    [on_slack] = fake.messages("DU1")
    assert "Falls prevention" in on_slack["text"]
    assert len(teams.arrived) == 1
    assert (row(sessions, second).platform, row(sessions, second).channel_id) == ("slack", "DU1")


def test_on_a_tie_or_never_active_the_first_configured_platform_is_used(
    ctx, sessions, clock, fake, teams, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])

    assert deliverer(ctx, fake, teams, monotonic).drain() == Counter(sent=1)

    assert len(fake.messages("DU1")) == 1 and teams.arrived == []
    assert row(sessions, delivery_id).platform == "slack"


def test_the_next_platform_is_used_when_the_preferred_one_has_no_way_to_reach_them(
    ctx, sessions, clock, fake, teams, monotonic
):
    # Ben used Teams last, but the bot has no 1:1 conversation with him there yet.
    ben = slack_lead(sessions, clock(), "Ben Okafor", "U2")
    on_teams(sessions, ben, conversation=None, active_on=date(2026, 11, 22))
    last_active(sessions, ben, "slack", date(2026, 11, 2))
    delivery_id = plan_nudge(
        sessions, clock(), ben, [active_project(sessions, clock(), "Sepsis screening", ben)]
    )

    assert deliverer(ctx, fake, teams, monotonic).drain() == Counter(sent=1)

    assert len(fake.messages("DU2")) == 1 and teams.arrived == []
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.platform, sent.channel_id) == (outbox.SENT, "slack", "DU2")


def test_someone_on_neither_platform_is_failed_with_a_reason_naming_both(
    ctx, sessions, clock, fake, teams, monotonic
):
    dev = offline_lead(sessions, clock(), "Dev Sharma")
    delivery_id = plan_nudge(
        sessions, clock(), dev, [active_project(sessions, clock(), "Sepsis screening", dev)]
    )

    assert deliverer(ctx, fake, teams, monotonic).drain() == Counter(failed=1)

    failed = row(sessions, delivery_id)
    assert failed.status == outbox.FAILED
    assert "not on slack or teams: nowhere to send" in failed.error
    assert fake.calls == [] and teams.posts_tried == 0


def test_channel_posts_go_to_the_platform_their_channel_is_on(
    ctx, sessions, clock, fake, teams, monotonic
):
    meeting, ids = meeting_announced_in(sessions, ctx, "slack:C0FORUM")
    sender = deliverer(ctx, fake, teams, monotonic)
    assert sender.drain() == Counter(sent=1)
    ids |= forum_moves_to(sessions, ctx, meeting, f"teams:{FORUM_ON_TEAMS}")

    assert sender.drain() == Counter(sent=1)

    [on_slack] = fake.messages("C0FORUM")
    [on_teams_] = teams.arrived
    assert "QI Forum" in on_slack["text"] and "QI Forum" in on_teams_.text
    assert on_teams_.channel == FORUM_ON_TEAMS
    slack_row, teams_row = (
        row(sessions, ids["slack:C0FORUM"]),
        row(sessions, ids[f"teams:{FORUM_ON_TEAMS}"]),
    )
    assert (slack_row.platform, slack_row.channel_id) == ("slack", "C0FORUM")
    assert (teams_row.platform, teams_row.channel_id, teams_row.message_ts) == (
        TEAMS,
        FORUM_ON_TEAMS,
        on_teams_.id,
    )


def test_a_channel_on_a_platform_the_bot_is_not_set_up_on_fails_saying_so(
    ctx, sessions, clock, fake, monotonic
):
    _meeting, ids = meeting_announced_in(sessions, ctx, f"teams:{FORUM_ON_TEAMS}")
    slack_only = Deliverer(
        ctx,
        SlackSender(slack_client(fake)),
        POLICY,
        pacer=Pacer(POLICY, clock=monotonic, sleep=monotonic.sleep),
    )

    assert slack_only.drain() == Counter(failed=1)

    failed = row(sessions, ids[f"teams:{FORUM_ON_TEAMS}"])
    assert "on teams, where the bot is not set up" in failed.error
    assert fake.calls == []


def test_an_rsvp_refresh_edits_each_announcement_on_its_own_platform(
    ctx, sessions, clock, fake, teams, monotonic, asha
):
    # Announced on Slack, then the forum moved to Teams and it was announced there too: a
    # message already posted in the old channel is still kept true.
    meeting, _ids = meeting_announced_in(sessions, ctx, "slack:C0FORUM")
    sender = deliverer(ctx, fake, teams, monotonic)
    sender.drain()
    forum_moves_to(sessions, ctx, meeting, f"teams:{FORUM_ON_TEAMS}")
    sender.drain()
    [on_slack] = fake.messages("C0FORUM")
    [on_teams_] = teams.arrived
    assert "Nobody has said yet" in on_teams_.text
    say_going(sessions, meeting, asha, clock())

    assert sender.refresh(meeting_prefix(meeting)) == 2

    [slack_edit] = fake.calls_to("chat.update")
    assert (slack_edit.args["channel"], slack_edit.args["ts"]) == ("C0FORUM", on_slack["ts"])
    assert "Going so far: 1" in slack_edit.args["text"]
    [(channel, activity, text)] = teams.edits
    assert (channel, activity) == (FORUM_ON_TEAMS, on_teams_.id)
    assert "Going so far: 1 (1 carer)" in text


# -- never twice where nobody can look -----------------------------------------------------------


def test_a_nudge_whose_post_timed_out_on_teams_is_recorded_unconfirmed_and_never_sent_again(
    ctx, sessions, clock, fake, teams, monotonic, kim, sepsis, capsys
):
    delivery_id = plan_nudge(sessions, clock(), kim, [sepsis])
    teams.answer_next_post("timeout")  # it arrives; the answer never does

    assert deliverer(ctx, fake, teams, monotonic).drain() == Counter(retry=1)
    waiting = row(sessions, delivery_id)
    assert waiting.status == outbox.PENDING and waiting.post_started_at == clock()
    assert "no answer from Teams" in waiting.error

    # Meanwhile Kim started using Slack: the message may already be on Teams, so it must not
    # go to Slack either.
    joins_slack(sessions, kim, "U9", date(2026, 11, 23))
    time_passes(clock, monotonic, seconds=POLICY.first_backoff.total_seconds())
    restarted = deliverer(ctx, fake, teams, monotonic)

    assert restarted.drain() == Counter(unconfirmed=1)

    assert teams.posts_tried == 1 and len(teams.received("a:kim")) == 1
    assert teams.looked == 0
    assert fake.calls == []
    done = row(sessions, delivery_id)
    assert (done.status, done.platform, done.channel_id, done.message_ts) == (
        outbox.SENT,
        TEAMS,
        "a:kim",
        None,
    )
    assert done.error == UNCONFIRMED
    clock.advance(days=1)
    assert restarted.drain() == Counter()
    assert teams.posts_tried == 1
    listed = deliveries_as_admins_see_them(ctx, capsys)
    assert f"to Kim Lee: sent after 2 attempts ({UNCONFIRMED})" in listed


def test_a_claim_taken_over_mid_post_on_teams_is_not_posted_again_nor_edited(
    ctx, sessions, clock, fake, teams, monotonic
):
    """The sender stalls after its post reached Teams, past its lease; another takes over."""
    meeting, ids = meeting_announced_in(sessions, ctx, f"teams:{FORUM_ON_TEAMS}")
    slow = deliverer(ctx, fake, teams, monotonic)
    other = deliverer(ctx, fake, teams, monotonic)
    taken_over: list[Counter[str]] = []

    def stall_past_the_lease() -> None:
        clock.advance(seconds=outbox.CLAIM_LEASE.total_seconds() + 1)
        taken_over.append(other.drain())

    teams.while_posting = stall_past_the_lease

    assert slow.drain() == Counter(taken_over=1)

    assert taken_over == [Counter(unconfirmed=1)]
    assert teams.posts_tried == 1 and len(teams.received(FORUM_ON_TEAMS)) == 1
    done = row(sessions, ids[f"teams:{FORUM_ON_TEAMS}"])
    assert (done.status, done.message_ts, done.error) == (outbox.SENT, None, UNCONFIRMED)
    # With no message id, an RSVP cannot edit it in place: it is left as posted.
    assert other.refresh(meeting_prefix(meeting)) == 0 and teams.edits == []


def test_a_claim_left_by_a_sender_that_died_before_posting_is_posted_once(
    ctx, sessions, clock, fake, teams, monotonic, kim, sepsis
):
    delivery_id = plan_nudge(sessions, clock(), kim, [sepsis])
    with sessions.begin() as session:  # claimed, but no post was ever started
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(status=outbox.SENDING, claimed_at=clock() - STALE, attempts=1)
        )

    assert deliverer(ctx, fake, teams, monotonic).drain() == Counter(sent=1)

    assert len(teams.received("a:kim")) == 1 and teams.looked == 0
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.attempts, sent.error) == (outbox.SENT, 2, None)


@pytest.mark.parametrize("status", [429, 503])
def test_a_post_teams_refused_with_a_status_is_posted_later_exactly_once(
    ctx, sessions, clock, fake, teams, monotonic, kim, sepsis, status
):
    delivery_id = plan_nudge(sessions, clock(), kim, [sepsis])
    teams.answer_next_post(status)
    sender = deliverer(ctx, fake, teams, monotonic)

    assert sender.drain() == Counter(retry=1)
    waiting = row(sessions, delivery_id)
    assert waiting.post_started_at is None  # it answered: nothing arrived, nothing in doubt
    assert f"Teams said {status}" in waiting.error
    assert teams.arrived == []

    wait = 7.0 if status == 429 else POLICY.first_backoff.total_seconds()
    time_passes(clock, monotonic, seconds=wait)
    assert sender.drain() == Counter(sent=1)

    [message] = teams.received("a:kim")
    assert teams.posts_tried == 2 and teams.looked == 0
    sent = row(sessions, delivery_id)
    assert (sent.status, sent.message_ts, sent.error) == (outbox.SENT, message.id, None)
    assert sent.attempts == (1 if status == 429 else 2)  # a 429 uses up no attempt


def test_a_429_from_teams_holds_slack_too(
    ctx, sessions, clock, fake, teams, monotonic, kim, sepsis
):
    """One pacer for both platforms: simple, and the batch waits rather than racing on."""
    on_slack_only = slack_lead(sessions, clock(), "Ben Okafor", "U2")
    plan_nudge(sessions, clock(), kim, [sepsis])
    plan_nudge(
        sessions, clock(), on_slack_only, [active_project(sessions, clock(), "P", on_slack_only)]
    )
    teams.answer_next_post(429)
    sender = deliverer(ctx, fake, teams, monotonic)

    assert sender.drain() == Counter(retry=2)  # Ben's waits too, though he is on Slack

    assert sender.pacer.held_for() == 7 and fake.calls == []
    time_passes(clock, monotonic, seconds=7)
    assert sender.drain() == Counter(sent=2)
    assert len(fake.messages("DU2")) == 1 and len(teams.received("a:kim")) == 1


# -- Slack still looks back ----------------------------------------------------------------------


def test_a_slack_post_in_doubt_is_looked_for_on_slack_even_after_they_moved_to_teams(
    ctx, sessions, clock, fake, teams, monotonic, asha, falls
):
    delivery_id = plan_nudge(sessions, clock(), asha, [falls])
    fake.delay("chat.postMessage", 1.3)  # Slack posts it after the client gave up waiting
    router = SenderRouter([SlackSender(slack_client(fake, timeout=1)), teams])
    pacer = Pacer(POLICY, clock=monotonic, sleep=monotonic.sleep)
    sender = Deliverer(ctx, router, POLICY, pacer=pacer)

    assert sender.drain() == Counter(retry=1)
    assert fake.wait_for(lambda: len(fake.messages("DU1")) == 1, timeout=3)
    last_active(sessions, asha, TEAMS, date(2026, 11, 23))
    time_passes(clock, monotonic, seconds=POLICY.first_backoff.total_seconds())

    assert sender.drain() == Counter(sent=1)

    [message] = fake.messages("DU1")
    assert len(fake.calls_to("chat.postMessage")) == 1 and teams.posts_tried == 0
    assert len(fake.calls_to("conversations.history")) == 1
    sent = row(sessions, delivery_id)
    assert (sent.platform, sent.message_ts, sent.error) == ("slack", message["ts"], None)


# -- the router alone ----------------------------------------------------------------------------


def test_the_router_refuses_two_senders_for_one_platform(teams):
    with pytest.raises(ValueError, match="two senders for teams"):
        SenderRouter([teams, NoLookBackPlatform()])


def test_the_router_sends_a_channel_to_its_own_platform_and_nowhere_else(sessions, teams, fake):
    router = SenderRouter([SlackSender(slack_client(fake)), teams])

    assert router.platforms == ("slack", TEAMS)
    assert router.route(sessions, "channel:slack:C0FORUM") == Destination("slack", "C0FORUM")
    assert router.route(sessions, f"channel:teams:{FORUM_ON_TEAMS}") == Destination(
        TEAMS, FORUM_ON_TEAMS
    )
    assert router.route(sessions, "channel:zoom:123") is None
    assert router.sender_for("zoom") is None
    assert fake.calls == []
