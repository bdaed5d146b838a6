"""Every column that can hold personal data, and what `person export` and `person erase` do.

A test walks the models and fails on any column not listed here, so a new column cannot hold
someone's name, address or id without a decision about their export and erasure.
"""

from __future__ import annotations

# Tables whose every row is one person's (or one chat account's): export lists the rows, and
# erasure deletes them. How a row is tied to the person:
WHOLE_ROWS: dict[str, str] = {
    "people": "their record",
    "chat_identities": "person_id",
    "chat_addresses": "their identities' platform ids, or the digest of their verified e-mail",
    "memberships": "person_id",
    "forum_members": "person_id",
    "rsvps": "person_id",
    "admin_grants": "person_id",
    "match_offers": "person_id",
    "outside_contacts": "person_id (their e-mail address or mobile number, and their consent)",
    "involvement_answers": "person_id (how involved they felt on a team, and their comment)",
}

# Columns of tables shared with other people's rows, and what erasure does to them.
PERSONAL: dict[str, str] = {
    "projects.lead_person_id": "emptied: the project goes on without a lead",
    "memberships.consent_recorded_by_id": "emptied: the consent stays, who recorded it goes",
    "admin_grants.granted_by_id": "emptied",
    "audit_events.actor_person_id": "emptied: the event stays, who did it goes",
    "audit_events.subject_id": "emptied where the subject is them or a row of theirs",
    "audit_events.detail": "their number is taken out (lead_id, merged)",
    "slot_requests.requested_by_id": "emptied",
    "slot_requests.decided_by_id": "emptied",
    "slot_requests.topic": "a topic they asked for is replaced; their name is taken out of others",
    "chart_notes.created_by_id": "emptied: the note stays, its author goes",
    "outside_contacts.consent_recorded_by_id": "emptied: the consent stays, who recorded it goes",
    "involvement_answers.recorded_by_id": "emptied: the answer stays, who recorded it goes",
    "chart_notes.text": "their name and e-mail address are taken out",
    "deliveries.recipient": "their rows ('person:<id>') are deleted",
    "deliveries.channel_id": "deleted with their rows (their direct-message conversation)",
    "deliveries.message_ts": "deleted with their rows",
    "deliveries.error": "deleted with their rows",
    "deliveries.payload": "their number is taken out of others' messages (asked_by)",
    "erased_addresses.digest": "kept on purpose: a keyed digest, so imports skip them",
}

# Columns that hold nothing about a person (ids of our own rows, times, counts, settings, the
# names of projects, forums, sites and channels).
NOT_PERSONAL: frozenset[str] = frozenset(
    {
        *(
            f"chat_channels.{c}"
            for c in ("id", "platform", "workspace", "channel_id", "name", "address")
        ),
        "chat_channels.added_at",
        "chat_channels.removed_at",
        *(
            f"projects.{c}"
            for c in ("id", "name", "name_key", "site", "status", "created_at", "updated_at")
        ),
        "projects.started_on",
        "projects.site_key",
        *(f"project_words.{c}" for c in ("word", "in_site", "project_id")),
        *(
            f"forums.{c}"
            for c in ("id", "name", "name_key", "channel", "announce_offsets", "created_at")
        ),
        "forums.public_signup",
        "meetings.sequence",
        *(
            f"meetings.{c}"
            for c in ("id", "forum_id", "starts_at", "location", "cancelled_at", "created_at")
        ),
        *(f"audit_events.{c}" for c in ("id", "at", "action", "subject_type")),
        *(
            f"project_nudges.{c}"
            for c in (
                "project_id",
                "snoozed_until",
                "snooze_reason",
                "weeks_in_a_row",
                "last_week",
                "escalated_at",
            )
        ),
        *(f"job_runs.{c}" for c in ("id", "job", "occurrence", "started_at", "finished_at")),
        # A digest of a request's own ids (Slack's timestamp and signature or event id, Teams'
        # conversation and activity ids), kept at most a day so that a replay is not acted on.
        *(f"seen_requests.{c}" for c in ("key", "expires_at")),
        # The scheduler's lease names a replica (host, process, random token), never a person.
        *(
            f"scheduler_leases.{c}"
            for c in (
                "name",
                "holder",
                "token",
                "backend_pid",
                "acquired_at",
                "renewed_at",
                "expires_at",
            )
        ),
        *(
            f"deliveries.{c}"
            for c in (
                "id",
                "kind",
                "occurrence",
                "status",
                "attempts",
                "next_attempt_at",
                "claimed_at",
                "sent_at",
                "platform",
                "post_started_at",
                "rate_limited_since",
                "created_at",
            )
        ),
        *(
            f"slot_requests.{c}"
            for c in ("id", "meeting_id", "project_id", "status", "decided_at", "created_at")
        ),
        *(
            f"participation_snapshots.{c}"
            for c in (
                "id",
                "week",
                "week_start",
                "scope",
                "active_projects",
                "involved_projects",
                "attendance",
                "taken_at",
                "backfilled",
            )
        ),
        *(f"chart_notes.{c}" for c in ("id", "on_date", "created_at")),
        "erased_addresses.id",
        "erasure_key.id",
        "erasure_key.key",
    }
)

# Keys of audit details that hold a person's number.
AUDIT_PERSON_KEYS = ("lead_id", "merged")
