"""A lead records how a team member not on chat feels, with their agreement, for the period."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import aliased

from store.models import InvolvementAnswer, Person
from tests.handlers import given

FALLS = "Falls prevention"
RECORD = f'/qi-project involvement "{FALLS}" "Sam Jones"'


def answers(ctx):
    """Every answer row: (name, answer, comment, who recorded it)."""
    with ctx.sessions() as session:
        recorder = aliased(Person)
        found = session.execute(
            select(
                Person.display_name,
                InvolvementAnswer.answer,
                InvolvementAnswer.comment,
                recorder.display_name,
            )
            .join(Person, Person.id == InvolvementAnswer.person_id)
            .outerjoin(recorder, recorder.id == InvolvementAnswer.recorded_by_id)
            .order_by(InvolvementAnswer.id)
        )
        return [tuple(row) for row in found]


def falls_with_sam(chat, asha):
    assert chat.say(asha, f'/qi-project new "{FALLS}"').ok
    assert chat.say(asha, f'/qi-project add-member "{FALLS}" "Sam Jones" as carer --consent').ok


def test_a_lead_records_an_answer_only_with_the_person_s_agreement(chat, ctx, asha):
    falls_with_sam(chat, asha)
    before = given.row_counts(ctx.sessions)

    refused = chat.say(asha, f"{RECORD} a-lot")
    unchanged = given.row_counts(ctx.sessions)
    recorded = chat.say(asha, f'{RECORD} a-lot --agreed "They listen to me now"')
    changed = chat.say(asha, f"{RECORD} not really --agreed")

    assert not refused.ok and "add --agreed" in refused.text
    assert "do you feel your views shape what the team does?" in refused.text
    assert unchanged == before
    assert recorded.ok and '"Yes, a lot" for Sam Jones' in recorded.text
    assert changed.ok and '(it was "Yes, a lot")' in changed.text
    assert answers(ctx) == [("Sam Jones", "not_really", "They listen to me now", "Asha Patel")]


def test_only_for_a_service_user_or_carer_on_the_team_who_is_not_on_chat(
    chat, ctx, asha, ben, chloe
):
    falls_with_sam(chat, asha)
    assert chat.say(ben, f"/qi-join {FALLS} as carer").ok
    assert chat.say(chloe, f"/qi-join {FALLS} as staff").ok

    on_chat = chat.say(asha, f'/qi-project involvement "{FALLS}" "Ben Okafor" a-lot --agreed')
    staff = chat.say(asha, f'/qi-project involvement "{FALLS}" "Chloe Evans" a-lot --agreed')
    not_lead = chat.say(chloe, f"{RECORD} a-lot --agreed")
    no_answer = chat.say(asha, f"{RECORD} brilliant --agreed")

    assert not on_chat.ok and "uses chat, so I ask them myself" in on_chat.text
    assert not staff.ok and "as staff" in staff.text
    assert not not_lead.ok and "Only the lead" in not_lead.text
    assert not no_answer.ok and "a-lot, somewhat, not-really or not-at-all" in no_answer.text
    assert answers(ctx) == []


def test_help_and_usage_name_the_command(chat, asha):
    assert "/qi-project involvement" in chat.say(asha, "/qi-help project").text
    assert "/qi-project questions off" in chat.say(asha, "/qi-help project").text
