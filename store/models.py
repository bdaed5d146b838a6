"""The participation store: people, projects, forums, meetings, admins, audit and the outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.roles import Involvement, ProjectStatus, Role, RsvpAnswer
from store.types import UtcDateTime

# Stable constraint names make Alembic migrations reproducible on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME_MAX = 200
# Teams conversation ids (with ";messageid=...") run far longer than Slack's channel ids.
CONVERSATION_MAX = 400

# Must match store.projects.lived_experience_exists() term for term (roles sorted), or
# SQLite will not use the partial index built on it.
LIVED_EXPERIENCE_PREDICATE = (
    "left_at IS NULL AND involvement = 'team_member' AND role IN ('carer', 'service_user')"
)


def _enum(enum_cls: type[Any], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so adding a value later is a simple migration.
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    """Declarative base with our naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Person(Base):
    """Someone involved in QI: staff, a service user, a carer, ...; chat user or not."""

    __tablename__ = "people"
    # Numbers are never reused (SQLite would otherwise hand an erased person's number to the
    # next one, and whatever still named it would name them). PostgreSQL never reuses them.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(NAME_MAX))
    # Only kept for leads imported by e-mail, so a chat platform can resolve them later.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Set when the person asked for no weekly reminders; they can turn them back on.
    nudges_muted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Set when they asked not to be asked how involved they feel ("stop asking me").
    involvement_questions_muted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    identities: Mapped[list[ChatIdentity]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class ChatIdentity(Base):
    """One account of a person on one chat platform (or the local console)."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str] = mapped_column(String(NAME_MAX))
    # The bot's direct-message channel with them, kept because opening one is rate-limited.
    dm_channel: Mapped[str | None] = mapped_column(String(100))
    # SHA-256 of the e-mail address the platform itself verified (never one a person typed):
    # kept only to recognise the same person arriving from another platform.
    email_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # The day they last used qi-nudge here: with identities on two platforms, messages go to
    # the one they use. A date, written at most once a day, to keep requests write-free.
    last_active_on: Mapped[date | None] = mapped_column(Date)

    person: Mapped[Person] = relationship(back_populates="identities")


class ChatAddress(Base):
    """How to message one chat user directly, learned before we know who they are.

    Teams gives the bot a conversation reference when its app is installed or first messaged;
    proactive messages need it later. Pseudonymous: platform ids only, no name.
    """

    __tablename__ = "chat_addresses"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str] = mapped_column(String(NAME_MAX))
    # The 1:1 conversation with the bot, once one exists (Teams' ids run to ~150 characters).
    dm_channel: Mapped[str | None] = mapped_column(String(CONVERSATION_MAX))
    # What the platform needs to reach them: Teams' {"serviceUrl", "userId": "29:..."}.
    address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # SHA-256 of the e-mail address the platform verified, as on ChatIdentity: so that someone
    # who only looked around can be found for export and erasure by the address they give.
    email_sha256: Mapped[str | None] = mapped_column(String(64), index=True)


class ChatChannel(Base):
    """A channel the bot was added to, so organisers can pick one by name, not by id."""

    __tablename__ = "chat_channels"
    __table_args__ = (UniqueConstraint("platform", "workspace", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(100))
    channel_id: Mapped[str] = mapped_column(String(CONVERSATION_MAX))
    name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    # What the platform needs to post there: Teams' {"serviceUrl", "teamId", "teamName"}.
    address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Project(Base):
    """A QI project with a lead and a team."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    # Case- and spacing-folded name: two projects may not differ only in how they are typed.
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    # The hospital or service the project is based at ("Riverside Hospital"), one spelling per
    # site: a ward or team belongs in the project's name.
    site: Mapped[str | None] = mapped_column(String(NAME_MAX))
    # The site folded as names are (store.sites keeps it in step): a site is found by its key.
    site_key: Mapped[str | None] = mapped_column(String(NAME_MAX))
    status: Mapped[ProjectStatus] = mapped_column(
        _enum(ProjectStatus, "project_status"), index=True
    )
    lead_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When the work began, if earlier than when it was recorded here (a register's start date):
    # the run chart's history counts the project from then.
    started_on: Mapped[date | None] = mapped_column(Date)

    lead: Mapped[Person | None] = relationship()

    # /qi-projects reads its page of active projects in name order from this index, rather than
    # sorting every active project for each page.
    # A site's projects (/qi-projects <site>, /qi-stats <site>) the same way, by site key.
    __table_args__ = (
        Index("ix_projects_listed", "status", "name_key", "id"),
        Index("ix_projects_site", "site_key", "status", "name_key", "id"),
    )


# Compared byte by byte on both databases (PostgreSQL's "C" collation, SQLite's BINARY), so that
# a range of words is exactly the words starting with some letters, in every language.
WORD_TYPE = String(NAME_MAX).with_variant(String(NAME_MAX, collation="C"), "postgresql")


class ProjectWord(Base):
    """One folded word of a project's name or site: searching by words is an index lookup.

    Kept up to date by store.project_words whenever a project's name or site changes.
    """

    __tablename__ = "project_words"
    # A project's own words, for checking a found project's other words and for deleting them.
    __table_args__ = (Index("ix_project_words_project_id_word", "project_id", "word"),)

    word: Mapped[str] = mapped_column(WORD_TYPE, primary_key=True)
    in_site: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )


class Membership(Base):
    """A person on a project team; left memberships are kept as history."""

    __tablename__ = "memberships"
    __table_args__ = (
        # One current membership per person per project: joining twice is idempotent.
        Index(
            "uq_memberships_current",
            "project_id",
            "person_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
        # The headline question, "has this project a service user or carer on the team?",
        # asked of every project by lists, stats and the weekly sweep: a small index answers it.
        # "Mine": the projects someone is on now, straight from the index, without the table.
        Index(
            "ix_memberships_current_person",
            "person_id",
            "project_id",
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
        Index(
            "ix_memberships_lived_experience",
            "project_id",
            sqlite_where=text(LIVED_EXPERIENCE_PREDICATE),
            postgresql_where=text(LIVED_EXPERIENCE_PREDICATE),
        ),
        CheckConstraint("left_at IS NULL OR left_at >= joined_at", name="left_after_joined"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    involvement: Mapped[Involvement] = mapped_column(_enum(Involvement, "involvement"))
    # Who recorded consent: the person themselves (they signed up) or the lead who added them.
    consent_recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    consent_recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    project: Mapped[Project] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class Forum(Base):
    """A QI forum where staff and people with lived experience meet as equals."""

    __tablename__ = "forums"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    # Where announcements go, as "<platform>:<channel id>"; empty until a channel is chosen.
    channel: Mapped[str | None] = mapped_column(String(NAME_MAX))
    # When meetings are announced, in minutes before they start; None means the default
    # (a week before, the day before, and as they start).
    announce_offsets: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Whether anyone may sign up to it from its public web page (off until a trust turns it on).
    public_signup: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )


class ForumMember(Base):
    """A person signed up to a forum; left sign-ups are kept as history."""

    __tablename__ = "forum_members"
    __table_args__ = (
        Index(
            "uq_forum_members_current",
            "forum_id",
            "person_id",
            unique=True,
            sqlite_where=text("left_at IS NULL"),
            postgresql_where=text("left_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    forum_id: Mapped[int] = mapped_column(ForeignKey("forums.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # None until the person tells us; nobody is made to label themselves to come along.
    role: Mapped[Role | None] = mapped_column(_enum(Role, "role"))
    wants_match: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    forum: Mapped[Forum] = relationship()
    person: Mapped[Person] = relationship()


class Meeting(Base):
    """One forum meeting."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    forum_id: Mapped[int] = mapped_column(ForeignKey("forums.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    location: Mapped[str | None] = mapped_column(String(NAME_MAX))
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Raised each time it moves, is cancelled or is back on: calendars (RFC 5545 SEQUENCE) take
    # the entry with the highest number as the true one.
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))

    forum: Mapped[Forum] = relationship()


class Rsvp(Base):
    """A person's answer to a meeting invitation; one per person per meeting."""

    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    answer: Mapped[RsvpAnswer] = mapped_column(_enum(RsvpAnswer, "rsvp_answer"))
    # The role they come in: their forum role, followed until the meeting starts
    # (store.forums.follow_forum_role), then kept so attendance by role survives later changes.
    role: Mapped[Role | None] = mapped_column(_enum(Role, "role"))
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OutsideContact(Base):
    """How to reach someone who is not on chat: an e-mail address or a mobile number.

    Recorded with their consent (by an organiser, who says so, or by themselves on the public
    sign-up page, confirmed from the address). One way per person.
    """

    __tablename__ = "outside_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    method: Mapped[str] = mapped_column(String(10))  # "email" or "text"
    # An e-mail address as given (trimmed), or a mobile number in E.164 form (+447700900123).
    address: Mapped[str] = mapped_column(String(320), index=True)
    # Who recorded their consent: an organiser, or None when they signed up themselves.
    consent_recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL")
    )
    consent_recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # When the address was confirmed as theirs: at once when an organiser recorded consent, else
    # when they followed the link sent to it. Nothing but that link goes to it before.
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When they asked for no more messages ("stop these messages"): nothing is sent after.
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class AdminGrant(Base):
    """A forum organiser's admin role; revoked grants are kept as history."""

    __tablename__ = "admin_grants"
    __table_args__ = (
        Index(
            "uq_admin_grants_current",
            "person_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    """Who changed what, and when. Details hold ids and codes, never names."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(50))
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProjectNudge(Base):
    """Where a project stands with the weekly reminder: snoozed, nudged in a row, escalated."""

    __tablename__ = "project_nudges"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    snoozed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    snooze_reason: Mapped[str | None] = mapped_column(String(30))
    # Weekly sweeps in a row that found the project still without a service user or carer.
    weeks_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    last_week: Mapped[str | None] = mapped_column(String(30))
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class JobRun(Base):
    """One occurrence of a scheduled job (the sweep of one week): started, and finished."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(50))
    occurrence: Mapped[str] = mapped_column(String(50))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SchedulerLease(Base):
    """Which replica leads the scheduler, until when: renewed every tick by the leader.

    On PostgreSQL the leader also holds an advisory lock; the lease says whether that lock's
    session is still alive (`backend_pid` is the session's), so a session left behind by a dead
    host is ended once its lease has run out. On SQLite only the sole process writes it.
    """

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)  # "scheduler"
    holder: Mapped[str | None] = mapped_column(String(200))  # the replica: "<host>:<pid>"
    # The replica process's random id: containers often share a hostname and run as pid 1.
    token: Mapped[str | None] = mapped_column(String(32))
    backend_pid: Mapped[int | None] = mapped_column(Integer)
    acquired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    renewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Delivery(Base):
    """A message the bot sends on its own initiative: the outbox row that makes it happen once.

    The key (kind, occurrence, recipient) is unique, so a second sweep, a restart or a second
    replica finds the row instead of sending again. The text is rendered when it is sent, from
    what is true then, so a nudge that is no longer needed is withdrawn instead.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("kind", "occurrence", "recipient"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    occurrence: Mapped[str] = mapped_column(String(60))
    # "person:<id>" for a direct message, "channel:<platform>:<channel id>" for a channel.
    recipient: Mapped[str] = mapped_column(String(NAME_MAX))
    # What the message is about (project ids, a meeting id): ids only, never names.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Where it went, so it can be edited in place (RSVP counts) or found again after a crash.
    platform: Mapped[str | None] = mapped_column(String(20))
    channel_id: Mapped[str | None] = mapped_column(String(CONVERSATION_MAX))
    message_ts: Mapped[str | None] = mapped_column(String(100))
    # Set just before a post is attempted and cleared when the platform proves it refused: on a
    # platform that cannot be asked what it received (Teams), a row claimed again with this set
    # may have been posted already.
    post_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When a platform first refused it for its rate limit: a day of that, and it is given up.
    rate_limited_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SlotRequest(Base):
    """A project team asking for time at a forum meeting to talk something through."""

    __tablename__ = "slot_requests"
    __table_args__ = (UniqueConstraint("meeting_id", "project_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str] = mapped_column(String(300))
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    # "requested", then "accepted" or "declined" by one of the forum's organisers.
    status: Mapped[str] = mapped_column(String(20), default="requested")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    meeting: Mapped[Meeting] = relationship()
    project: Mapped[Project] = relationship()


class MatchOffer(Base):
    """A matchmaker's introduction: a forum member who wants a project, offered to one project.

    The lead is offered "a carer from the forum" without a name; only if the lead says yes is
    the person asked, and only their own "yes" puts them on the team. One row per pair, so the
    same person is never suggested to the same project twice.
    """

    __tablename__ = "match_offers"
    __table_args__ = (UniqueConstraint("project_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # The role they would join as: what they told the forum (service user or carer).
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    # "offered" to the lead, then "asked" (the person) or "lead_declined"; then "joined" or
    # "person_declined"; "expired" when nobody answered in time.
    status: Mapped[str] = mapped_column(String(20), default="offered")
    week: Mapped[str] = mapped_column(String(30))  # the sweep that made the offer
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    project: Mapped[Project] = relationship()
    person: Mapped[Person] = relationship()


class ParticipationSnapshot(Base):
    """One week's figures for one scope: the run chart's data, kept as it was that week.

    Scope "overall", "site:<site>" (projects), or "forum:<id>" (attendance at its meetings).
    """

    __tablename__ = "participation_snapshots"
    __table_args__ = (UniqueConstraint("week", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(30))  # ISO week in the trust's zone: "2026-W48"
    week_start: Mapped[date] = mapped_column(Date)  # its Monday, for the chart's axis
    scope: Mapped[str] = mapped_column(String(NAME_MAX + 10))
    active_projects: Mapped[int] = mapped_column(Integer, default=0)
    involved_projects: Mapped[int] = mapped_column(Integer, default=0)
    # Forum scopes: people who said they were going to that week's meetings, by role.
    attendance: Mapped[dict[str, int] | None] = mapped_column(JSON)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # True when worked out later from membership and status history, not taken that week.
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)


class InvolvementAnswer(Base):
    """How involved a service user or carer feels on one team, asked once a period.

    "Do you feel your views shape what the team does?" One row per team place per period
    ("asked" until answered). Reported only in aggregate, never by person, and never for fewer
    than store.involvement.MIN_ANSWERS answers.
    """

    __tablename__ = "involvement_answers"
    # Once a period per team place, and per person and team: leaving and joining again in the
    # same period does not ask a second time.
    __table_args__ = (
        UniqueConstraint("membership_id", "period"),
        UniqueConstraint("person_id", "project_id", "period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), index=True
    )
    # The team place's person and project, kept here for export, erasure and team summaries.
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # The period: the ISO week it began ("2026-W49"), every INVOLVEMENT_EVERY_WEEKS weeks.
    period: Mapped[str] = mapped_column(String(30), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    # None until answered: "a_lot", "somewhat", "not_really", "not_at_all" (store.involvement).
    answer: Mapped[str | None] = mapped_column(String(20))
    # Their own words, optional: shown to organisers only, with the care given to names.
    comment: Mapped[str | None] = mapped_column(String(500))
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The lead who recorded it for someone not on chat, with their agreement; None: themselves.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))


class ChartNote(Base):
    """A change worth marking on the run chart ("forum relaunched"), added by an organiser."""

    __tablename__ = "chart_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    on_date: Mapped[date] = mapped_column(Date, index=True)
    text: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ErasedAddress(Base):
    """A keyed digest of an address of someone erased: all that erasure keeps.

    HMAC-SHA256, under the key in ErasureKey, of the SHA-256 of an e-mail address (or of a name,
    for a lead a register names without one): a register import skips them, instead of quietly
    bringing them back.
    """

    __tablename__ = "erased_addresses"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)


class ErasureKey(Base):
    """The random key of ErasedAddress's digests, made at the first erasure: one row."""

    __tablename__ = "erasure_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))


class SeenRequest(Base):
    """A chat request already acted on, kept while a copy of it could still be accepted.

    The key is a digest (of a Slack request's timestamp and signature, a Slack event's id, or a
    Teams activity's conversation and id), never the ids themselves. Kept in the database so that
    every replica refuses a replay, not only the one that saw the original.
    """

    __tablename__ = "seen_requests"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
