"""Sending the outbox: claim due deliveries, render them, pace them, and record what happened."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.runtime.pacing import TokenBucket
from bot.runtime.routing import Destination, SenderRouter
from bot.runtime.sending import Sender, SendError
from handlers.core.context import Context
from handlers.core.reply import Reply
from handlers.core.wording import plural
from handlers.forum import channel_problems
from handlers.messages import LIVE_KINDS, render_delivery
from store import outbox

log = logging.getLogger(__name__)


# Being rate-limited is not the message's fault: it does not use up an attempt, but a delivery
# still rate-limited this long after it was planned is failed rather than kept forever.
RATE_LIMIT_GIVE_UP = timedelta(hours=24)
EDIT_TRIES = 3  # an in-place edit (RSVP counts) waits out this many 429s, then is left as is
WAIT_IN_PLACE = 5.0  # seconds: a shorter Retry-After is waited out by the rest of the batch
# A claim must outlast the longest single send, or another sender takes the row over and posts
# it too: on Teams, signing in, opening the chat and posting are up to three 30-second calls.
SAFE_CLAIM_LEASE = timedelta(minutes=2)


# How far before a post's start its message is looked for: the platform's clock and ours differ.
LOOK_BACK_MARGIN = timedelta(minutes=5)
# A delivery given back for a platform not set up here (its recipient is on it, and cannot be
# reached here) is not claimed again by this process for this long: a way to reach them here
# may appear meanwhile (they install the app on Teams), so it is looked at again after.
LEAVE_FOR = timedelta(minutes=15)


def _look_back_from(delivery: outbox.Claimed, now: datetime) -> datetime:
    """How far back a message in doubt can be: just before its post (or its plan) began."""
    started = delivery.post_started_at or delivery.planned_at or now
    return started - LOOK_BACK_MARGIN


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retries, pacing and claims. Slack allows about one message a second per channel."""

    max_attempts: int = 5
    first_backoff: timedelta = timedelta(seconds=30)  # doubled after each failed attempt
    channel_interval: float = 1.0  # seconds between two messages to one channel
    # Across the workspace: Slack's "several hundred a minute", counted as a token bucket.
    # Paced as Slack counts (600 a minute), never earning the 429 whose Retry-After (a whole
    # second at least) would cost more than the pacing; a burst below Slack's (10) leaves room
    # for the replies people get meanwhile. 0 turns the limit off.
    workspace_interval: float = 0.1  # seconds per message on average (600 a minute)
    workspace_burst: int = 5  # messages that may go at once after a quiet spell
    batch: int = 50
    # A claim older than this is taken again: its sender is presumed dead.
    claim_lease: timedelta = outbox.CLAIM_LEASE


class Pacer:
    """Spaces sends out per channel and overall, sleeping only when a send would be too soon.

    `hold` stops every send for a while (Slack answered 429 with Retry-After): the rest of the
    batch and the in-place edits wait too, rather than each of them earning a 429 of its own.
    """

    def __init__(
        self,
        policy: DeliveryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._sleep = sleep
        self._workspace = TokenBucket(policy.workspace_interval, policy.workspace_burst)
        self._last_by_channel: dict[str, float] = {}
        self._lock = threading.Lock()
        # Its own lock: a hold must be seen (and set) while another thread sleeps in wait_for.
        self._held_until = float("-inf")
        self._hold_lock = threading.Lock()

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` from now (a longer hold already in force stays)."""
        with self._hold_lock:
            self._held_until = max(self._held_until, self._clock() + seconds)

    def held_for(self) -> float:
        """Seconds until the current hold ends; 0.0 if sends may go."""
        with self._hold_lock:
            return max(0.0, self._held_until - self._clock())

    def wait_out_hold(self, *, longest: float) -> float:
        """Sleep through a hold of at most `longest` seconds; what is left of a longer one."""
        while (left := self.held_for()) > 0:
            if left > longest:
                return left
            self._sleep(left)
        return 0.0

    def wait_for(self, channel: str) -> None:
        """Sleep until a message may go to `channel`, then count it as sent now."""
        # One caller at a time: the delivery loop and in-place edits share this pacer.
        with self._lock:
            self._wait_for(channel)

    def _wait_for(self, channel: str) -> None:
        # Look again after each sleep: a 429 seen meanwhile by another thread holds this one too.
        while True:
            with self._hold_lock:
                held_until = self._held_until
            now = self._clock()
            ready = max(
                held_until,
                self._workspace.ready_at(now),
                self._last_by_channel.get(channel, float("-inf")) + self._policy.channel_interval,
            )
            delay = ready - now
            if delay <= 0:
                break
            self._sleep(delay)
        now = self._clock()
        self._workspace.take(now)
        self._last_by_channel[channel] = now


class Deliverer:
    """Sends due outbox rows through the platforms; safe to run in several processes at once.

    Given one `Sender`, or a `SenderRouter` over several. One pacer serves every platform: a
    rate limit on one holds the others too (simple, and they are seldom both busy).
    """

    def __init__(
        self,
        ctx: Context,
        sender: Sender | SenderRouter,
        policy: DeliveryPolicy | None = None,
        *,
        pacer: Pacer | None = None,
        elsewhere: outbox.Elsewhere | None = None,
    ) -> None:
        self.ctx = ctx
        self.sender = sender  # as given (with one platform, tests reach its sender here)
        self.router = sender if isinstance(sender, SenderRouter) else SenderRouter([sender])
        self.policy = policy or DeliveryPolicy()
        self.pacer = pacer or Pacer(self.policy)
        # Deliveries for platforms not set up in this process: left queued for one that is.
        self.elsewhere = elsewhere
        self._lock = threading.Lock()  # one batch at a time in this process
        self._refreshing: set[str] = set()
        self._dirty: set[str] = set()
        self._refreshing_lock = threading.Lock()
        self._left: dict[int, datetime] = {}  # given back for elsewhere: id -> not before
        # When the next delivery falls due, as far as this process knows (None: nothing is
        # waiting): read with each claim that found less than a batch, and brought forward by
        # every retry this process schedules. The delivery loop sleeps until then.
        self._next_due: datetime | None = None

    def left_for_elsewhere(self) -> list[int]:
        """The deliveries this process gave back, unsent, for a platform not set up here."""
        now = self.ctx.now()
        self._left = {n: until for n, until in self._left.items() if until > now}
        return sorted(self._left)

    def run_once(self) -> Counter[str]:
        """Claim and send one batch of due deliveries; what happened to each, counted.

        Nothing is claimed while a platform's rate limit holds every send for longer than is
        waited out in place: a claim would only be given back unused (`next_look_in` says
        when the hold ends).
        """
        outcomes: Counter[str] = Counter()
        with self._lock:
            if self.pacer.wait_out_hold(longest=WAIT_IN_PLACE):
                return outcomes
            with self.ctx.sessions.begin() as session:
                now = self.ctx.now()
                claimed = outbox.claim_due(
                    session,
                    now=now,
                    limit=self.policy.batch,
                    lease=self.policy.claim_lease,
                    elsewhere=self.elsewhere,
                    skip=self.left_for_elsewhere(),
                )
                # A full batch may leave more due now; else ask, in the same transaction, when
                # the next one is (a retry put back, a claim whose sender died).
                self._next_due = (
                    now
                    if len(claimed) >= self.policy.batch
                    else outbox.next_due(
                        session,
                        now=now,
                        lease=self.policy.claim_lease,
                        elsewhere=self.elsewhere,
                        skip=self.left_for_elsewhere(),
                    )
                )
            for n, delivery in enumerate(claimed):
                # A platform asked us to wait: before any call (opening the DM too). A long
                # wait gives the rest of the batch back unused, in one statement, rather than
                # sleep on its claims (no claim outlives its lease, nor is a stop kept waiting).
                held = self.pacer.wait_out_hold(longest=WAIT_IN_PLACE)
                if held:
                    outcomes["retry"] += self._put_back_rest(claimed[n:], held)
                    break
                try:
                    outcomes[self._deliver(delivery)] += 1
                except Exception:
                    # Never lose the row: put it back, and never let one bad row stop the rest.
                    log.exception(
                        "delivery %s (%s) failed unexpectedly", delivery.id, delivery.kind
                    )
                    self._retry_or_fail(delivery, "unexpected error (see the log)", retryable=True)
                    outcomes["retry"] += 1
        return outcomes

    def drain(
        self, *, max_batches: int = 1000, keep_going: Callable[[], bool] = lambda: True
    ) -> Counter[str]:
        """Send everything that is due now (retries due later stay pending).

        `keep_going` is asked before each batch, so that stopping (or losing the lead) never
        claims a fresh batch that would then sit claimed until its lease ran out. A batch
        that found less than a full batch due claimed all there was: no further claim is made
        (what is planned meanwhile wakes the delivery loop again).
        """
        total: Counter[str] = Counter()
        for _ in range(max_batches):
            if not keep_going():
                break
            outcomes = self.run_once()
            if not outcomes:
                break
            total.update(outcomes)
            if not self._due_now():
                break
        return total

    def next_look_in(self, *, longest: float) -> float:
        """Seconds until something may be sent: the end of a hold, or the next due time.

        At most `longest` (deliveries planned by another process wake nobody here), except
        during a hold: nothing may go before it ends, so looking sooner finds nothing to do.
        """
        held = self.pacer.held_for()
        if held > 0:
            return held
        if self._next_due is None:
            return longest
        due_in = (self._next_due - self.ctx.now()).total_seconds()
        return min(longest, max(0.0, due_in))

    def _due_now(self) -> bool:
        return self._next_due is not None and self._next_due <= self.ctx.now()

    def _due_at(self, at: datetime) -> None:
        """Note a retry scheduled by this process: the loop looks again by then."""
        if self._next_due is None or at < self._next_due:
            self._next_due = at

    def _put_back_rest(self, claimed: list[outbox.Claimed], held: float) -> int:
        """Give back the claims not yet tried, due when the hold ends; how many were ours."""
        at = self.ctx.now() + timedelta(seconds=held)
        with self.ctx.sessions.begin() as session:
            returned = outbox.put_back_many(
                session,
                [(delivery.id, delivery.attempts) for delivery in claimed],
                at=at,
                error="waiting out a platform's rate limit",
            )
        self._due_at(at)
        return returned

    def refresh(self, occurrence_prefix: str) -> int:
        """Edit the posted messages under this prefix to show what is true now; how many edits.

        Bursts coalesce: while one refresh of a prefix runs, further calls only ask it to go
        round once more, so 50 quick RSVPs cost a few edits, not 50.
        """
        with self._refreshing_lock:
            if occurrence_prefix in self._refreshing:
                self._dirty.add(occurrence_prefix)
                return 0
            self._refreshing.add(occurrence_prefix)
        edited = 0
        try:
            while True:
                edited += self._refresh_once(occurrence_prefix)
                with self._refreshing_lock:
                    # Decide and step down under one lock, or a change marked in between is lost.
                    if occurrence_prefix not in self._dirty:
                        self._refreshing.discard(occurrence_prefix)
                        return edited
                    self._dirty.discard(occurrence_prefix)
        except BaseException:
            with self._refreshing_lock:
                self._refreshing.discard(occurrence_prefix)
                self._dirty.discard(occurrence_prefix)
            raise

    def _refresh_once(self, occurrence_prefix: str) -> int:
        with self.ctx.sessions() as session:
            # Each message is edited on the platform it went out on, by that platform's sender.
            posted = [
                (sender, row.channel_id, row.message_ts, outbox.as_claimed(row))
                for platform in self.router.platforms
                if (sender := self.router.sender_for(platform)) is not None
                for row in outbox.sent_messages(
                    session, occurrence_prefix=occurrence_prefix, platform=platform
                )
            ]
        edited = 0
        for sender, channel, ts, delivery in posted:
            reply = render_delivery(self.ctx, delivery)
            if reply is None or channel is None or ts is None:
                continue
            edited += self._update(sender, channel, ts, reply, delivery.id)
        return edited

    def _update(self, sender: Sender, channel: str, ts: str, reply: Reply, delivery_id: int) -> int:
        """Edit one posted message, waiting out a few rate limits; 1 if it was edited."""
        for _ in range(EDIT_TRIES):
            try:
                self.pacer.wait_for(channel)
                sender.update(channel, ts, reply)
                return 1
            except SendError as error:
                if error.retry_after is None:
                    log.warning("could not update message %s: %s", delivery_id, error.reason)
                    return 0
                self.pacer.hold(error.retry_after)
        log.warning("could not update message %s: still rate-limited", delivery_id)
        return 0

    def _deliver(self, delivery: outbox.Claimed) -> str:
        reply = render_delivery(self.ctx, delivery)
        if reply is None:
            with self.ctx.sessions.begin() as session:
                ours = outbox.mark_withdrawn(
                    session, delivery.id, reason="no longer needed", claim=delivery.attempts
                )
            return "withdrawn" if ours else self._taken_over(delivery)
        key = delivery_key(delivery.id)
        try:
            where = self._post_in_doubt(delivery) or self.router.route(
                self.ctx.sessions, delivery.recipient
            )
            if where is None:
                with self.ctx.sessions.begin() as session:
                    if self._for_elsewhere(session, delivery):
                        return self._leave(session, delivery)
                    return self._give_up(session, delivery, self.router.nowhere(delivery.recipient))
            sender = self.router.sender_for(where.platform)
            posted_maybe = delivery.post_started_at is not None
            if sender is None or (posted_maybe and not sender.can_look_back):
                return self._unconfirmed(delivery, where)
            # A retry, or a claim taken over from a sender that died, may have been posted
            # already: look for the message's own key on the platform before posting again.
            # (Where no post was started, or it was refused, there is nothing to find.)
            may_be_there = delivery.uncertain or delivery.attempts > 1 or posted_maybe
            since = _look_back_from(delivery, self.ctx.now())
            found = (
                sender.find_sent(where.channel, key, since=since)
                if may_be_there and sender.can_look_back
                else None
            )
            if found is None:
                self.pacer.wait_for(where.channel)
                # Rate-limit waits can outlast the lease of a whole batch's claim: post only
                # if no other sender has taken this row over meanwhile (it sends it instead).
                with self.ctx.sessions.begin() as session:
                    ours = outbox.renew_claim(
                        session,
                        delivery.id,
                        attempts=delivery.attempts,
                        now=self.ctx.now(),
                        platform=where.platform,
                        channel_id=where.channel,
                    )
                if not ours:
                    return self._taken_over(delivery)
                try:
                    found = sender.post(where.channel, reply, key)
                except SendError as error:
                    # Only an error of the post itself tells whether a post is still in doubt.
                    return self._send_failed(delivery, error, post_refused=not error.maybe_sent)
        except SendError as error:
            return self._send_failed(delivery, error, post_refused=False)
        ours = self._mark_sent(delivery, where, found)
        # Taken over meanwhile: the other sender finds this message by its key and records it
        # (or, on a platform it cannot look in, records it as sent, unconfirmed).
        if not ours:
            return self._taken_over(delivery)
        if delivery.kind in LIVE_KINDS and found is not None:
            self._catch_up(sender, where.channel, found, reply, delivery)
        return "sent"

    def _catch_up(
        self, sender: Sender, channel: str, ts: str, posted: Reply, delivery: outbox.Claimed
    ) -> None:
        """Edit a message just posted if what it shows changed while it was being sent.

        An RSVP made between drawing an announcement and recording it as sent asks for an edit
        of sent messages only, so it found none: without this the count would stay wrong until
        the next RSVP.
        """
        now = render_delivery(self.ctx, delivery)
        if now is not None and now != posted:
            self._update(sender, channel, ts, now, delivery.id)

    def _mark_sent(
        self,
        delivery: outbox.Claimed,
        where: Destination,
        message_ts: str | None,
        *,
        note: str | None = None,
    ) -> bool:
        """Record our claim's delivery as sent there; False if another sender took it over."""
        with self.ctx.sessions.begin() as session:
            return outbox.mark_sent(
                session,
                delivery.id,
                now=self.ctx.now(),
                platform=where.platform,
                channel_id=where.channel,
                message_ts=message_ts,
                claim=delivery.attempts,
                note=note,
            )

    @staticmethod
    def _post_in_doubt(delivery: outbox.Claimed) -> Destination | None:
        """Where an earlier attempt started posting, if it may have arrived there.

        That is where to look (or decline to post again), wherever the person is now.
        """
        if delivery.post_started_at is None or not delivery.platform or not delivery.channel_id:
            return None
        return Destination(delivery.platform, delivery.channel_id)

    def _unconfirmed(self, delivery: outbox.Claimed, where: Destination) -> str:
        """Record as sent a post that may have arrived where nobody can look: never post twice.

        A missed reminder is asked again next week; a duplicate cannot be taken back.
        """
        note = (
            f"unconfirmed: {where.platform.capitalize()} cannot be asked whether it arrived, "
            "so it was not sent again"
        )
        # The message id is unknown: in-place edits (RSVP counts) skip it.
        ours = self._mark_sent(delivery, where, None, note=note)
        if not ours:
            return self._taken_over(delivery)
        log.warning("delivery %s (%s) %s", delivery.id, delivery.kind, note)
        return "unconfirmed"

    def _send_failed(
        self, delivery: outbox.Claimed, error: SendError, *, post_refused: bool
    ) -> str:
        """Put the row back or give up, as the platform's error says; its outcome."""
        if error.retry_after is not None:
            return self._rate_limited(
                delivery, error.reason, error.retry_after, post_refused=post_refused
            )
        target = outbox.recipient_channel(delivery.recipient)
        if error.channel_problem is not None and target is not None:
            return self._wait_for_channel(
                delivery, error, f"{target[0]}:{target[1]}", post_refused=post_refused
            )
        return self._retry_or_fail(
            delivery, error.reason, retryable=error.retryable, post_refused=post_refused
        )

    def _rate_limited(
        self, delivery: outbox.Claimed, reason: str, retry_after: float, *, post_refused: bool
    ) -> str:
        """The platform refused for its rate limit: hold every send, and try this one after.

        Nothing was sent, so this is no attempt against `max_attempts` (5xx and timeouts are);
        only a delivery still refused a day after it was first refused is given up on.
        """
        self.pacer.hold(retry_after)
        with self.ctx.sessions.begin() as session:
            now = self.ctx.now()
            since = outbox.rate_limited_since(session, delivery.id, now=now)
            if since is not None and now - since >= RATE_LIMIT_GIVE_UP:
                hours = RATE_LIMIT_GIVE_UP.total_seconds() / 3600
                return self._give_up(
                    session,
                    delivery,
                    f"{reason}: still rate-limited {hours:g} hours after it was first refused",
                )
        log.warning(
            "delivery %s (%s) rate-limited: trying again in %g s",
            delivery.id,
            delivery.kind,
            retry_after,
        )
        return self._put_back(
            delivery,
            retry_after,
            f"{reason}; trying again in {retry_after:g} s",
            post_refused=post_refused,
        )

    def _wait_for_channel(
        self, delivery: outbox.Claimed, error: SendError, channel: str, *, post_refused: bool
    ) -> str:
        """The bot may not post in the channel: tell the organisers once, and keep the message.

        Nothing was sent and only a person can change that (invite the bot, add the app back),
        so this uses no attempt: the message is tried again every little while until it goes,
        is no longer needed (its renderer says so, as when its meeting is over), or has waited
        far too long.
        """
        assert error.channel_problem is not None
        with self.ctx.sessions.begin() as session:
            now = self.ctx.now()
            planned = outbox.planned_at(session, delivery.id) or now
            if now - planned >= channel_problems.GIVE_UP_AFTER:
                days = channel_problems.GIVE_UP_AFTER.days
                return self._give_up(
                    session,
                    delivery,
                    f"{error.reason}: the bot still could not post in {channel} {days} days "
                    "after this was planned",
                )
            told = channel_problems.tell_organisers(
                session, channel, error.channel_problem, now=now
            )
        if told.new:
            self._due_at(now)  # the organisers' messages go with this drain
            log.warning(
                "cannot post in %s (%s): told %d organisers; delivery %s waits",
                channel,
                error.reason,
                told.new,
                delivery.id,
            )
        elif not told.organisers:
            log.warning(
                "cannot post in %s (%s), and there is no organiser to tell (qi-nudge admin "
                "grant); delivery %s waits",
                channel,
                error.reason,
                delivery.id,
            )
        who = (
            "the organisers were told what to do"
            if told.organisers
            else "nobody is an organiser to tell: qi-nudge admin grant PERSON"
        )
        minutes = int(channel_problems.RETRY_EVERY.total_seconds() // 60)
        return self._put_back(
            delivery,
            channel_problems.RETRY_EVERY.total_seconds(),
            f"{error.reason}: waiting until the bot can post in that channel ({who}); trying "
            f"again every {minutes} minutes",
            post_refused=post_refused,
        )

    def _put_back(
        self, delivery: outbox.Claimed, seconds: float, reason: str, *, post_refused: bool = False
    ) -> str:
        """Return the claim unused, due again in `seconds`; its attempt does not count."""
        at = self.ctx.now() + timedelta(seconds=seconds)
        with self.ctx.sessions.begin() as session:
            ours = outbox.put_back(
                session,
                delivery.id,
                attempts=delivery.attempts,
                at=at,
                error=reason,
                post_refused=post_refused,
            )
        self._due_at(at)
        if not ours:
            return self._taken_over(delivery)
        return "retry"

    def _retry_or_fail(
        self, delivery: outbox.Claimed, reason: str, *, retryable: bool, post_refused: bool = False
    ) -> str:
        with self.ctx.sessions.begin() as session:
            if retryable and delivery.attempts < self.policy.max_attempts:
                wait = self.policy.first_backoff * (2 ** (delivery.attempts - 1))
                self._due_at(self.ctx.now() + wait)
                ours = outbox.mark_retry(
                    session,
                    delivery.id,
                    at=self.ctx.now() + wait,
                    error=reason,
                    claim=delivery.attempts,
                    post_refused=post_refused,
                )
                if not ours:
                    return self._taken_over(delivery)
                log.warning(
                    "delivery %s (%s) will be retried: %s", delivery.id, delivery.kind, reason
                )
                return "retry"
            return self._give_up(
                session, delivery, f"{reason} (after {plural(delivery.attempts, 'attempt')})"
            )

    def _for_elsewhere(self, session: Session, delivery: outbox.Claimed) -> bool:
        """Whether a process set up on a platform not set up here may reach the recipient."""
        return self.elsewhere is not None and outbox.for_a_platform_not_here(
            session, delivery.id, self.elsewhere
        )

    def _leave(self, session: Session, delivery: outbox.Claimed) -> str:
        """Give the claim back untouched, for a process set up where the recipient is."""
        if not outbox.give_back(session, delivery.id, attempts=delivery.attempts):
            return self._taken_over(delivery)
        self._left[delivery.id] = self.ctx.now() + LEAVE_FOR
        return "left"

    def _give_up(self, session: Session, delivery: outbox.Claimed, error: str) -> str:
        """Mark our claim failed with its reason (admins see it); its outcome."""
        if not outbox.mark_failed(session, delivery.id, error=error, claim=delivery.attempts):
            return self._taken_over(delivery)
        log.error("delivery %s (%s) failed: %s", delivery.id, delivery.kind, error)
        return "failed"

    @staticmethod
    def _taken_over(delivery: outbox.Claimed) -> str:
        """Another sender took the row over (our claim ran out): its result stands, not ours."""
        log.info("delivery %s was taken over by another sender", delivery.id)
        return "taken_over"


def delivery_key(delivery_id: int) -> str:
    """The key a message carries so that it can be recognised on the platform later."""
    return f"qi-nudge-delivery-{delivery_id}"


# How often the delivery loop looks for due deliveries when nothing wakes it sooner: what
# another process plans (a replica that does not lead, a command line) wakes nobody here.
LOOP_SECONDS = 5.0
# A wake waits this long before looking, so that a burst of requests that each planned a
# message is one claim, and the requests' answers go out before the sending starts.
COALESCE_SECONDS = 0.05
# When a look found rows due but could claim none (another replica holds them): look again
# after this long, not at once.
BUSY_RETRY_SECONDS = 1.0


class DeliveryLoop:
    """A background thread that sends due deliveries, woken when new ones are planned.

    Woken by a commit that planned a delivery (`outbox.when_planned` on the deliverer's
    session factory, from `start`) and by the scheduler; else it sleeps until the next
    delivery falls due or a hold ends (`Deliverer.next_look_in`), or `interval` at most.

    `may_send` is asked before each pass: with several replicas only the one that leads the
    scheduler sends, because pacing (the `Pacer`) is kept per process and two senders would
    go twice as fast as Slack allows a workspace. The others still plan deliveries; the leader
    finds them on its next pass, at most `interval` seconds later (a shorter interval sends
    sooner, for one cheap query per pass on the leader only).
    """

    def __init__(
        self,
        deliverer: Deliverer,
        *,
        interval: float = LOOP_SECONDS,
        coalesce: float = COALESCE_SECONDS,
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        self.deliverer = deliverer
        self._interval = interval
        self._coalesce = coalesce
        self._may_send = may_send
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qi-delivery", daemon=True)
        self._unlisten: Callable[[], None] = lambda: None

    def start(self) -> DeliveryLoop:
        """Start sending in the background, woken by every commit that plans a delivery."""
        self._unlisten = outbox.when_planned(self.deliverer.ctx.sessions, self.wake)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look for due deliveries now (something was just planned)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand and stop."""
        self._unlisten()
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _keep_going(self) -> bool:
        return not self._stop.is_set() and self._may_send()

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self._interval
            if self._keep_going():
                try:
                    delay = self._pass()
                except Exception:
                    log.exception("delivery loop: sending failed; trying again shortly")
            if self._wait(delay):
                # Woken: let the rest of a burst of wakes arrive, then look once for them all.
                self._stop.wait(self._coalesce)
                self._wake.clear()

    def _pass(self) -> float:
        """Send what is due; seconds until the next look."""
        sent = self.deliverer.drain(max_batches=20, keep_going=self._keep_going)
        delay = self.deliverer.next_look_in(longest=self._interval)
        if not sent and delay <= 0:
            return BUSY_RETRY_SECONDS
        return delay

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds`, or until woken (then True)."""
        return self._wake.wait(seconds) if seconds > 0 else self._wake.is_set()
