"""Linking two records of one person: everything moves to the one kept, nothing is doubled."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from handlers.core.errors import Refusal
from handlers.core.reply import Actor
from handlers.messages import render_delivery
from handlers.people.merging import describe, merge_people
from store import outbox
from store.merging import PAYLOAD_PERSON_KEYS, PERSON_COLUMNS
from store.models import (
    AdminGrant,
    AuditEvent,
    Base,
    ChartNote,
    ChatIdentity,
    Delivery,
    ForumMember,
    InvolvementAnswer,
    MatchOffer,
    Membership,
    OutsideContact,
    Person,
    Project,
    Rsvp,
    SlotRequest,
)
from store.people import find_by_identity, grant_admin
from store.projects import create_project
from store.roles import Involvement, ProjectStatus, Role, RsvpAnswer
from tests.handlers import given
from tests.handlers.sweeps import send_all, sweep

# Ben on Slack with his own address, and on Teams with his NHSmail: no automatic link.
SLACK_BEN = Actor("slack", "T1", "U1", "Ben O", verified_email="ben.okafor@example.org")
TEAMS_BEN = Actor("teams", "tenant-1", "29:1ben", "Ben Okafor", verified_email="ben.okafor@nhs.net")


def pid(sessions, actor):
    with sessions() as session:
        return find_by_identity(session, actor.platform, actor.workspace, actor.user_id).id


def person_columns():
    """Every column in the schema that refers to a person."""
    return {
        f"{table.name}.{fk.parent.name}": fk.parent
        for table in Base.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table.name == "people"
    }


def rows_naming(sessions, person_id):
    """How many rows in each person column, or outbox payload key, still name this person."""
    with sessions() as session:
        counts = {
            name: session.scalar(
                select(func.count()).select_from(column.table).where(column == person_id)
            )
            for name, column in person_columns().items()
        }
        payloads = [d.payload for d in session.scalars(select(Delivery))]
    for key in PAYLOAD_PERSON_KEYS:
        counts[f"deliveries.payload.{key}"] = sum(p.get(key) == person_id for p in payloads)
    return {name: count for name, count in counts.items() if count}


# Every place a person's number is held: columns, and keys of outbox payloads.
EVERY_REFERENCE = PERSON_COLUMNS | {f"deliveries.payload.{key}" for key in PAYLOAD_PERSON_KEYS}


def test_every_column_that_refers_to_a_person_is_handled_by_merging():
    # A new column pointing at people.id must be moved by store.merging, or a merge would
    # delete (CASCADE) or orphan (SET NULL) what it holds.
    assert set(person_columns()) == PERSON_COLUMNS


@pytest.fixture
def two_bens(chat, asha, ctx, sessions, clock):
    """Ben has done a bit of everything twice over: on Teams first, then on Slack."""
    chat.say(asha, '/qi-project new "Falls prevention"')
    forum_id = given.forum(sessions, clock())
    meeting_id = given.meeting(ctx, forum_id, clock() + timedelta(days=7))
    asha_id = pid(sessions, asha)

    chat.say(TEAMS_BEN, "/qi-join falls as carer")
    chat.say(TEAMS_BEN, '/qi-project new "Sepsis screening"')
    chat.say(TEAMS_BEN, '/qi-project add-member "Sepsis" "Sam Jones" as carer --consent')
    asked = chat.say(TEAMS_BEN, "/qi-join forum as carer")
    chat.press(TEAMS_BEN, asked, "Yes, please")
    chat.press(TEAMS_BEN, chat.say(TEAMS_BEN, "/qi-forum"), "I can't make it")
    clock.advance(hours=1)
    chat.say(SLACK_BEN, "/qi-join falls as carer")
    chat.say(SLACK_BEN, "/qi-join forum")  # no role given on Slack
    clock.advance(hours=1)
    chat.press(TEAMS_BEN, chat.say(TEAMS_BEN, "/qi-forum"), "I'm going")  # his latest answer
    chat.press(SLACK_BEN, chat.say(SLACK_BEN, "/qi-forum"), "Maybe")
    clock.advance(hours=1)
    chat.press(TEAMS_BEN, chat.say(TEAMS_BEN, "/qi-forum"), "I'm going")
    keep, merge = pid(sessions, SLACK_BEN), pid(sessions, TEAMS_BEN)
    now = clock()
    with sessions.begin() as session:
        grant_admin(session, merge, by_id=asha_id, now=now - timedelta(days=30))
        grant_admin(session, keep, by_id=merge, now=now)
        falls, sepsis = (
            session.scalar(select(Project.id).where(Project.name == name))
            for name in ("Falls prevention", "Sepsis screening")
        )
        other = create_project(
            session, name="Kinder", lead_id=None, site=None, status=ProjectStatus.ACTIVE, now=now
        ).id
        for person_id, project_id, updated in ((merge, other, 1), (keep, other, 2)):
            session.add(
                MatchOffer(
                    project_id=project_id,
                    person_id=person_id,
                    role=Role.CARER,
                    status="expired" if person_id == keep else "asked",
                    week="2026-W48",
                    created_at=now,
                    updated_at=now - timedelta(hours=updated),
                )
            )
        session.add(
            SlotRequest(
                meeting_id=meeting_id,
                project_id=sepsis,
                topic="Discharge leaflets",
                requested_by_id=merge,
                decided_by_id=merge,
                created_at=now,
            )
        )
        session.add(
            ChartNote(on_date=now.date(), text="Relaunch", created_by_id=merge, created_at=now)
        )
        # Ben on Teams was also reached by e-mail, and recorded a carer's consent to texts.
        sam = session.scalar(select(Person.id).where(Person.display_name == "Sam Jones"))
        for person_id, method, address, by in (
            (merge, "email", "ben@example.org", None),
            (sam, "text", "+447700900123", merge),
        ):
            session.add(
                OutsideContact(
                    person_id=person_id,
                    method=method,
                    address=address,
                    consent_recorded_by_id=by,
                    consent_recorded_at=now,
                    confirmed_at=now,
                    created_at=now,
                )
            )
        session.flush()
        # How involved he feels on Falls, asked on both accounts this period: answered on
        # Teams first, then on Slack (his latest answer); and Sam's answer, recorded by him.
        places = dict(
            session.execute(
                select(Membership.person_id, Membership.id).where(
                    Membership.project_id == falls, Membership.person_id.in_((keep, merge))
                )
            ).all()
        )
        sams = session.scalar(select(Membership.id).where(Membership.person_id == sam))
        for person_id, membership_id, project_id, answer, hours, by in (
            (merge, places[merge], falls, "not_really", 2, None),
            (keep, places[keep], falls, "a_lot", 1, None),
            (sam, sams, sepsis, "somewhat", 1, merge),
        ):
            session.add(
                InvolvementAnswer(
                    membership_id=membership_id,
                    person_id=person_id,
                    project_id=project_id,
                    period="2026-W48",
                    period_start=date(2026, 11, 23),
                    answer=answer,
                    asked_at=now - timedelta(hours=3),
                    answered_at=now - timedelta(hours=hours),
                    recorded_by_id=by,
                )
            )
        session.flush()
        for recipient, kind, occurrence in (
            (merge, "nudge", "2026-W48"),
            (merge, "meeting.announce", f"meeting:{meeting_id}:1d"),
            (keep, "meeting.announce", f"meeting:{meeting_id}:1d"),
        ):
            outbox.plan_message_to(session, recipient, kind, occurrence, {}, now=now)
        # On Teams, Ben asked the forum to find a partner for Sepsis screening: Asha is told.
        outbox.plan_message_to(
            session,
            asha_id,
            "partner_request_admin",
            f"project:{sepsis}:2026-W48",
            {"project": sepsis, "asked_by": merge},
            now=now,
        )
    return {"keep": keep, "merge": merge, "falls": falls, "meeting": meeting_id, "other": other}


def test_merging_moves_every_kind_of_row_and_doubles_nothing(chat, sessions, clock, two_bens):
    keep, merge = two_bens["keep"], two_bens["merge"]
    assert set(rows_naming(sessions, merge)) == EVERY_REFERENCE  # every kind is there to move

    with sessions.begin() as session:
        result = merge_people(session, keep, merge, now=clock())

    assert rows_naming(sessions, merge) == {}
    with sessions() as session:
        assert session.get(Person, merge) is None
        assert sorted(
            session.scalars(select(ChatIdentity.platform).where(ChatIdentity.person_id == keep))
        ) == ["slack", "teams"]
        # One membership of Falls: the earlier one (joined on Teams), now his only record.
        falls = session.scalars(
            select(Membership).where(
                Membership.project_id == two_bens["falls"], Membership.person_id == keep
            )
        ).all()
        assert len(falls) == 1 and falls[0].joined_at == clock() - timedelta(hours=3)
        # The forum: once, with the role and the wish for a project he gave on Teams.
        (signup,) = session.scalars(select(ForumMember).where(ForumMember.person_id == keep))
        assert (signup.role, signup.wants_match, signup.left_at) == (Role.CARER, True, None)
        # The meeting: his most recent answer, given on Teams.
        (answer,) = session.scalars(select(Rsvp).where(Rsvp.person_id == keep))
        assert answer.answer == RsvpAnswer.GOING
        # Organiser: one current grant (the earlier); the later one is kept as history.
        grants = session.scalars(select(AdminGrant).where(AdminGrant.person_id == keep)).all()
        assert len(grants) == 2 and sum(g.revoked_at is None for g in grants) == 1
        # Introductions: one per project, the one that got further most recently.
        (offer,) = session.scalars(select(MatchOffer).where(MatchOffer.person_id == keep))
        assert offer.status == "asked"
        sepsis = session.scalar(select(Project).where(Project.name == "Sepsis screening"))
        assert sepsis.lead_person_id == keep
        slot = session.scalar(select(SlotRequest))
        assert (slot.requested_by_id, slot.decided_by_id) == (keep, keep)
        assert session.scalar(select(ChartNote.created_by_id)) == keep
        # How involved he feels on Falls: once for the period, his latest answer, on the
        # team place kept; Sam's answer is recorded by the record kept.
        involved = session.execute(
            select(InvolvementAnswer.membership_id, InvolvementAnswer.answer).where(
                InvolvementAnswer.person_id == keep
            )
        ).all()
        assert involved == [(falls[0].id, "a_lot")]
        assert (
            session.scalar(
                select(InvolvementAnswer.recorded_by_id).where(InvolvementAnswer.person_id != keep)
            )
            == keep
        )
        bens = [outbox.person_recipient(keep), outbox.person_recipient(merge)]
        deliveries = {
            (d.recipient, d.kind, d.status)
            for d in session.scalars(select(Delivery).where(Delivery.recipient.in_(bens)))
        }
        merged_event = session.scalar(
            select(AuditEvent).where(AuditEvent.action == "person.merged")
        )
    assert deliveries == {
        (f"person:{keep}", "nudge", "pending"),
        (f"person:{keep}", "meeting.announce", "pending"),
    }  # the twin announcement is gone, not left under a number that no longer exists
    assert (merged_event.subject_id, merged_event.detail) == (keep, {"merged": merge})
    # What Ben notices: on Teams, he sees everything he did on either platform.
    mine = chat.say(TEAMS_BEN, "/qi-projects mine").text
    assert "Falls prevention" in mine and "Sepsis screening" in mine
    summary = "\n".join(describe(result))
    assert f"Linked Ben Okafor (#{merge}) into Ben O (#{keep})" in summary
    assert "their Microsoft Teams account" in summary
    assert "Both were on 1 team: the earlier joining is kept." in summary
    assert "1 waiting message dropped: the same message was already going to them." in summary


def test_the_organisers_are_told_who_asked_the_forum_by_the_record_kept(
    chat, sessions, clock, two_bens
):
    with sessions.begin() as session:
        merge_people(session, two_bens["keep"], two_bens["merge"], now=clock())
    with sessions() as session:
        asked = session.scalars(
            select(Delivery).where(Delivery.kind == "partner_request_admin")
        ).one()

    note = render_delivery(chat.bot.ctx, outbox.as_claimed(asked))

    assert note.text.startswith("Ben O asked the forum to help find a service user or carer")


def test_both_records_weekly_reminders_become_one_that_names_every_project(
    chat, asha, ctx, sessions, clock
):
    asha_on_a_second_account = Actor("console", "local", "asha-2", "Asha P")
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(asha_on_a_second_account, '/qi-project new "Sepsis screening"')
    sweep(ctx)  # each record has this week's reminder waiting, about its own project
    keep, merge = pid(sessions, asha), pid(sessions, asha_on_a_second_account)

    with sessions.begin() as session:
        result = merge_people(session, keep, merge, now=clock())
    sent = send_all(ctx)

    nudges = [(recipient, reply.text) for kind, recipient, reply in sent if kind == "nudge"]
    assert len(nudges) == 1
    recipient, text = nudges[0]
    assert recipient == outbox.person_recipient(keep)
    assert '"Falls prevention" and "Sepsis screening" have no service user or carer' in text
    summary = "\n".join(describe(result))
    assert (
        "1 waiting message combined with one already going to them: it now covers what both "
        "were about." in summary
    )
    assert "dropped" not in summary


def test_waiting_messages_that_differ_are_combined_or_dropped_and_said_so(
    chat, asha, sessions, clock
):
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")
    chat.say(TEAMS_BEN, "/qi-join forum")
    keep, merge = pid(sessions, SLACK_BEN), pid(sessions, TEAMS_BEN)
    asha_id = given.person_id(sessions, asha, clock())
    now = clock()
    with sessions.begin() as session:
        kinder, sepsis, falls = (
            create_project(
                session, name=name, lead_id=None, site=None, status=ProjectStatus.ACTIVE, now=now
            ).id
            for name in ("Kinder", "Sepsis screening", "Falls prevention")
        )
        for person_id, projects, asked_by in (
            (keep, [kinder, sepsis], keep),
            (merge, [sepsis, falls], asha_id),  # Asha asked, as the other record was told
        ):
            outbox.plan_message_to(
                session, person_id, "escalation", "2026-W48", {"projects": projects}, now=now
            )
            outbox.plan_message_to(
                session,
                person_id,
                "partner_request_admin",
                f"project:{kinder}:2026-W48",
                {"project": kinder, "asked_by": asked_by},
                now=now,
            )

    with sessions.begin() as session:
        result = merge_people(session, keep, merge, now=clock())

    with sessions() as session:
        left = {
            d.kind: d.payload
            for d in session.scalars(
                select(Delivery).where(Delivery.recipient == outbox.person_recipient(keep))
            )
        }
    assert left == {
        "escalation": {"projects": [kinder, sepsis, falls]},  # in order, none twice
        "partner_request_admin": {"project": kinder, "asked_by": keep},
    }
    summary = "\n".join(describe(result))
    assert "1 waiting message combined with one already going to them" in summary
    assert (
        "1 waiting message dropped: a different message of the same kind, for the same week "
        "or meeting, was already planned for them." in summary
    )


def test_different_roles_on_one_team_are_refused_and_nothing_changes(chat, asha, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(SLACK_BEN, "/qi-join falls as carer")
    chat.say(TEAMS_BEN, "/qi-join falls as service user")
    keep, merge = pid(sessions, SLACK_BEN), pid(sessions, TEAMS_BEN)
    before = given.row_counts(sessions)

    with pytest.raises(Refusal) as refused, sessions.begin() as session:
        merge_people(session, keep, merge, now=clock())

    text = refused.value.reply.text
    assert "Nothing was changed" in text
    assert '"Falls prevention" team: carer, a team member' in text
    assert "service user, a team member" in text
    assert "/qi-leave" in text
    assert given.row_counts(sessions) == before


def test_a_team_member_and_someone_consulted_are_refused(chat, asha, sessions, clock):
    chat.say(asha, '/qi-project new "Falls prevention"')
    chat.say(SLACK_BEN, "/qi-join falls as carer")
    chat.say(TEAMS_BEN, "/qi-join falls as carer")
    keep, merge = pid(sessions, SLACK_BEN), pid(sessions, TEAMS_BEN)
    with sessions.begin() as session:
        session.execute(
            Membership.__table__.update()
            .where(Membership.person_id == merge)
            .values(involvement=Involvement.CONSULTED.value)
        )
    before = given.row_counts(sessions)

    consulted = pytest.raises(Refusal, match="someone the team consults")
    with consulted as refused, sessions.begin() as session:
        merge_people(session, keep, merge, now=clock())

    assert "carer, a team member" in refused.value.reply.text
    assert given.row_counts(sessions) == before


def test_different_roles_at_the_forum_are_refused(chat, sessions, clock):
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum as staff")
    chat.say(TEAMS_BEN, "/qi-join forum as carer")
    keep, merge = pid(sessions, SLACK_BEN), pid(sessions, TEAMS_BEN)

    staff = pytest.raises(Refusal, match='"QI Forum" forum: staff')
    with staff as refused, sessions.begin() as session:
        merge_people(session, keep, merge, now=clock())

    assert f"carer (#{merge})" in refused.value.reply.text


def test_a_person_with_themself_or_an_unknown_number_is_refused(chat, sessions, clock):
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")
    ben = pid(sessions, SLACK_BEN)

    with sessions.begin() as session:
        with pytest.raises(Refusal, match="nothing to link"):
            merge_people(session, ben, ben, now=clock())
        with pytest.raises(Refusal, match="nobody with the number #999999"):
            merge_people(session, ben, 999999, now=clock())
        with pytest.raises(Refusal, match="nobody with the number #999999"):
            merge_people(session, 999999, ben, now=clock())


def test_the_kept_record_takes_the_address_and_the_reminders_choice(chat, sessions, clock):
    given.forum(sessions, clock())
    chat.say(SLACK_BEN, "/qi-join forum")
    chat.say(TEAMS_BEN, "/qi-join forum")
    keep, merge = pid(sessions, SLACK_BEN), pid(sessions, TEAMS_BEN)
    muted = clock() - timedelta(days=3)
    with sessions.begin() as session:
        merged = session.get(Person, merge)
        merged.email, merged.nudges_muted_at = "ben.okafor@nhs.net", muted

    with sessions.begin() as session:
        merge_people(session, keep, merge, now=clock())

    with sessions() as session:
        kept = session.get(Person, keep)
        assert (kept.email, kept.nudges_muted_at) == ("ben.okafor@nhs.net", muted)
        assert session.scalar(select(func.count()).select_from(ForumMember)) == 1


# --- issue 18: people outside chat -------------------------------------------------------------


def test_linking_a_carer_outside_chat_to_their_new_chat_account_keeps_one_way_to_reach_them(
    chat, sessions, clock
):
    forum_id = given.forum(sessions, clock())
    outside = given.outside_member(sessions, forum_id, "Ben Carer", clock(), address="b@x.org")
    chat.say(SLACK_BEN, "/qi-join forum as carer")
    on_chat = pid(sessions, SLACK_BEN)
    other = given.outside_member(sessions, forum_id, "Someone", clock(), address="s@x.org")
    with sessions.begin() as session:
        # The organiser who recorded Someone's consent was (it turns out) Ben's outside record.
        session.query(OutsideContact).filter_by(person_id=other).update(
            {"consent_recorded_by_id": outside}
        )

    with sessions.begin() as session:
        merge_people(session, on_chat, outside, now=clock())

    with sessions() as session:
        contacts = {
            c.person_id: (c.address, c.consent_recorded_by_id)
            for c in session.scalars(select(OutsideContact))
        }
    assert contacts == {on_chat: ("b@x.org", None), other: ("s@x.org", on_chat)}
