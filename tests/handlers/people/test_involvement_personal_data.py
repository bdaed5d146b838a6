"""Export and erasure of how involved someone said they feel, and of comments that name them."""

from datetime import date

from sqlalchemy import select

from handlers.people.personal_data import erase_person, export_person
from store.involvement import A_LOT, NOT_REALLY
from store.models import InvolvementAnswer, Person
from tests.handlers import given
from tests.handlers.evidence.test_involvement_report import answers

ROUND = date(2026, 10, 5)


def person_named(sessions, name):
    with sessions() as session:
        return session.scalar(select(Person.id).where(Person.display_name == name))


def test_export_gives_their_answers_and_only_the_words_of_others_comments_naming_them(ctx):
    (falls,) = given.many_projects(ctx.sessions, ["Falls prevention"], ctx.now(), lead_id=None)
    answers(
        ctx,
        falls,
        ROUND,
        [(A_LOT, "I feel heard"), (NOT_REALLY, "Ben Okafor talks over us")],
        names=["Ben Okafor", "Dee Morgan"],
    )
    ben = person_named(ctx.sessions, "Ben Okafor")

    with ctx.sessions() as session:
        data = export_person(session, ben)

    [own] = data["how_involved_they_feel"]
    assert (own["project"], own["answer"], own["comment"]) == (
        "Falls prevention",
        "a lot",
        "I feel heard",
    )
    # Dee's comment is about Ben: its words, with no team, round or writer beside them.
    assert data["involvement_comments_naming_them"] == ["Ben Okafor talks over us"]


def test_erasure_deletes_their_answers_and_keeps_others_they_recorded_without_their_number(ctx):
    lead = given.many_people(ctx.sessions, ["Asha Patel"], ctx.now())[0]
    (falls,) = given.many_projects(ctx.sessions, ["Falls prevention"], ctx.now(), lead_id=lead)
    answers(ctx, falls, ROUND, [(A_LOT, None), (NOT_REALLY, None)], names=["Sam", "Pat"])
    with ctx.sessions.begin() as session:
        for row in session.scalars(select(InvolvementAnswer)):
            row.recorded_by_id = lead  # Asha recorded both, with their agreement
    sam = person_named(ctx.sessions, "Sam")

    with ctx.sessions.begin() as session:
        erase_person(session, sam, now=ctx.now())
        erase_person(session, lead, now=ctx.now())

    with ctx.sessions() as session:
        left = session.execute(
            select(InvolvementAnswer.person_id, InvolvementAnswer.recorded_by_id)
        ).all()
    assert [tuple(row) for row in left] == [(person_named(ctx.sessions, "Pat"), None)]
