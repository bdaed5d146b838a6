"""Sending the outbox: claim due deliveries, render them, pace them, and record what happened."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy.orm import Session

from handlers.context import Context
from handlers.messages import render_delivery
from handlers.reply import Reply
from store import outbox

log = logging.getLogger(__name__)


class SendError(Exception):
    """A send that did not go through; `retryable` if trying again later may work."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class Sender(Protocol):
    """One chat platform, as the deliverer needs it."""

    platform: str

    def destination(self, session: Session, recipient: str) -> str | None:
        """The channel to post in for a recipient key, or None if they are not on this platform."""

    def find_sent(self, channel: str, key: str) -> str | None:
        """The id of a message already posted with this delivery key, if any (crash recovery)."""

    def post(self, channel: str, reply: Reply, key: str) -> str | None:
        """Post the message, tagged with the delivery key; its message id."""

    def update(self, channel: str, message_id: str, reply: Reply) -> None:
        """Edit a posted message in place."""


@dataclass(frozen=True)
class DeliveryPolicy:
    """Retries and pacing. Slack allows about one message a second per channel."""

    max_attempts: int = 5
    first_backoff: timedelta = timedelta(seconds=30)  # doubled after each failed attempt
    channel_interval: float = 1.0  # seconds between two messages to one channel
    workspace_interval: float = 0.05  # seconds between any two messages (20 a second)
    batch: int = 50


class Pacer:
    """Spaces sends out per channel and overall, sleeping only when a send would be too soon."""

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
        self._last_any = float("-inf")
        self._last_by_channel: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_for(self, channel: str) -> None:
        """Sleep until a message may go to `channel`, then count it as sent now."""
        # One caller at a time: the delivery loop and in-place edits share this pacer.
        with self._lock:
            self._wait_for(channel)

    def _wait_for(self, channel: str) -> None:
        ready = max(
            self._last_any + self._policy.workspace_interval,
            self._last_by_channel.get(channel, float("-inf")) + self._policy.channel_interval,
        )
        delay = ready - self._clock()
        if delay > 0:
            self._sleep(delay)
        now = self._clock()
        self._last_any = now
        self._last_by_channel[channel] = now


class Deliverer:
    """Sends due outbox rows through one platform; safe to run in several processes at once."""

    def __init__(
        self,
        ctx: Context,
        sender: Sender,
        policy: DeliveryPolicy | None = None,
        *,
        pacer: Pacer | None = None,
    ) -> None:
        self.ctx = ctx
        self.sender = sender
        self.policy = policy or DeliveryPolicy()
        self.pacer = pacer or Pacer(self.policy)
        self._lock = threading.Lock()  # one batch at a time in this process
        self._refreshing: set[str] = set()
        self._dirty: set[str] = set()
        self._refreshing_lock = threading.Lock()

    def run_once(self) -> Counter[str]:
        """Claim and send one batch of due deliveries; what happened to each, counted."""
        outcomes: Counter[str] = Counter()
        with self._lock:
            with self.ctx.sessions.begin() as session:
                claimed = outbox.claim_due(session, now=self.ctx.now(), limit=self.policy.batch)
            for delivery in claimed:
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

    def drain(self, *, max_batches: int = 1000) -> Counter[str]:
        """Send everything that is due now (retries due later stay pending)."""
        total: Counter[str] = Counter()
        for _ in range(max_batches):
            outcomes = self.run_once()
            if not outcomes:
                break
            total.update(outcomes)
        return total

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
            posted = [
                (row.channel_id, row.message_ts, outbox.as_claimed(row))
                for row in outbox.sent_messages(
                    session, occurrence_prefix=occurrence_prefix, platform=self.sender.platform
                )
            ]
        edited = 0
        for channel, ts, delivery in posted:
            reply = render_delivery(self.ctx, delivery)
            if reply is None or channel is None or ts is None:
                continue
            try:
                self.pacer.wait_for(channel)
                self.sender.update(channel, ts, reply)
                edited += 1
            except SendError as error:
                log.warning("could not update message %s: %s", delivery.id, error.reason)
        return edited

    def _deliver(self, delivery: outbox.Claimed) -> str:
        reply = render_delivery(self.ctx, delivery)
        if reply is None:
            with self.ctx.sessions.begin() as session:
                outbox.mark_withdrawn(session, delivery.id, reason="no longer needed")
            return "withdrawn"
        key = delivery_key(delivery.id)
        try:
            with self.ctx.sessions.begin() as session:
                channel = self.sender.destination(session, delivery.recipient)
                if channel is None:
                    outbox.mark_failed(
                        session,
                        delivery.id,
                        error=f"the recipient is not on {self.sender.platform}: nowhere to send",
                    )
            if channel is None:
                return "failed"
            # A retry, or a claim taken over from a sender that died, may have been posted
            # already: look for the message's own key on the platform before posting again.
            found = (
                self.sender.find_sent(channel, key)
                if delivery.uncertain or delivery.attempts > 1
                else None
            )
            if found is None:
                self.pacer.wait_for(channel)
                # Rate-limit waits can outlast the lease of a whole batch's claim: post only
                # if no other sender has taken this row over meanwhile (it sends it instead).
                with self.ctx.sessions.begin() as session:
                    ours = outbox.renew_claim(
                        session, delivery.id, attempts=delivery.attempts, now=self.ctx.now()
                    )
                if not ours:
                    log.info("delivery %s was taken over by another sender", delivery.id)
                    return "taken_over"
                found = self.sender.post(channel, reply, key)
        except SendError as error:
            return self._retry_or_fail(delivery, error.reason, retryable=error.retryable)
        with self.ctx.sessions.begin() as session:
            outbox.mark_sent(
                session,
                delivery.id,
                now=self.ctx.now(),
                platform=self.sender.platform,
                channel_id=channel,
                message_ts=found,
            )
        return "sent"

    def _retry_or_fail(self, delivery: outbox.Claimed, reason: str, *, retryable: bool) -> str:
        with self.ctx.sessions.begin() as session:
            if retryable and delivery.attempts < self.policy.max_attempts:
                wait = self.policy.first_backoff * (2 ** (delivery.attempts - 1))
                outbox.mark_retry(session, delivery.id, at=self.ctx.now() + wait, error=reason)
                log.warning(
                    "delivery %s (%s) will be retried: %s", delivery.id, delivery.kind, reason
                )
                return "retry"
            outbox.mark_failed(
                session, delivery.id, error=f"{reason} (after {delivery.attempts} attempts)"
            )
        log.error("delivery %s (%s) failed: %s", delivery.id, delivery.kind, reason)
        return "failed"


def delivery_key(delivery_id: int) -> str:
    """The key a message carries so that it can be recognised on the platform later."""
    return f"qi-nudge-delivery-{delivery_id}"


class DeliveryLoop:
    """A background thread that sends due deliveries, woken early when new ones are planned."""

    def __init__(self, deliverer: Deliverer, *, interval: float = 10.0) -> None:
        self.deliverer = deliverer
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="qi-delivery", daemon=True)

    def start(self) -> DeliveryLoop:
        """Start sending in the background."""
        self._thread.start()
        return self

    def wake(self) -> None:
        """Look for due deliveries now (something was just planned)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand and stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliverer.drain(max_batches=20)
            except Exception:
                log.exception("delivery loop: sending failed; trying again shortly")
            self._wake.wait(self._interval)
            self._wake.clear()
