"""Service users and carers on chat are asked, once a period, how involved they feel on each team.

The clock starts on Monday 23 November 2026; with questions every 6 weeks, that period began on
Monday 16 November and ends on Sunday 27 December.
"""

from __future__ import annotations

from sqlalchemy import func, select

from handlers.evidence.involvement_questions import INVOLVEMENT_QUESTION, ask_due
from store.models import InvolvementAnswer, Person
from tests.conftest import person
from tests.handlers.sweeps import send_all

FALLS = "Falls prevention"
SEPSIS = "Sepsis screening"
DAN = person("Dan Price")


def questions(ctx):
    """Send what is due; each involvement question sent: (recipient, reply)."""
    return [(r, reply) for kind, r, reply in send_all(ctx) if kind == INVOLVEMENT_QUESTION]


def rows(ctx):
    """Every answer row: (name, answer, comment, recorded by)."""
    with ctx.sessions() as session:
        found = session.execute(
            select(
                Person.display_name,
                InvolvementAnswer.answer,
                InvolvementAnswer.comment,
                InvolvementAnswer.recorded_by_id,
            )
            .join(Person, Person.id == InvolvementAnswer.person_id)
            .order_by(InvolvementAnswer.id)
        )
        return [tuple(row) for row in found]


def teams(chat, asha, ben, chloe):
    """Falls (Ben a carer, Chloe staff, Sam a carer not on chat) and Sepsis (Ben a carer)."""
    assert chat.say(asha, f'/qi-project new "{FALLS}"').ok
    assert chat.say(asha, f'/qi-project new "{SEPSIS}"').ok
    assert chat.say(ben, f"/qi-join {FALLS} as carer").ok
    assert chat.say(ben, f"/qi-join {SEPSIS} as carer").ok
    assert chat.say(chloe, f"/qi-join {FALLS} as staff").ok
    assert chat.say(asha, f'/qi-project add-member "{FALLS}" "Sam Jones" as carer --consent').ok
    send_all(ctx_of(chat))  # the leads' news that people joined


def ctx_of(chat):
    return chat.bot.ctx


def asked_once(chat, ben, dm):
    """Ben's question about Falls, sent."""
    (_to, reply), *_ = [q for q in questions(ctx_of(chat)) if FALLS in q[1].text]
    return reply


def test_each_carer_on_chat_is_asked_about_each_team_once_a_period(chat, ctx, asha, ben, chloe, dm):
    teams(chat, asha, ben, chloe)

    assert ask_due(ctx) == 2
    sent = questions(ctx)
    assert ask_due(ctx) == 0  # asked already this period: nothing new
    ctx.clock.advance(weeks=4)
    assert ask_due(ctx) == 0 and questions(ctx) == []
    ctx.clock.advance(weeks=2)  # Monday 4 January 2027: a new period
    assert ask_due(ctx) == 2

    # Only Ben: Chloe is staff, Sam is not on chat (his lead asks him), Asha is not on a team.
    assert [to for to, _reply in sent] == [dm(ben), dm(ben)]
    texts = sorted(reply.text for _to, reply in sent)
    assert f'On the "{FALLS}" team, do you feel your views shape what the team does?' in texts[0]
    assert f'On the "{SEPSIS}" team' in texts[1]
    assert [b.label for b in sent[0][1].buttons] == [
        "Yes, a lot",
        "Yes, somewhat",
        "Not really",
        "Not at all",
        "Add a comment",
        "Stop asking me",
    ]
    assert (
        "Answers are only ever shown added up, never by name, and only once at least 3 people "
        "have answered." in texts[0]
    )
    assert "until 27 December 2026" in texts[0]
    assert len(rows(ctx)) == 4  # two this period, two the next, none answered
    assert {answer for _n, answer, _c, _r in rows(ctx)} == {None}


def test_answering_again_changes_the_answer_and_adds_no_row(chat, ctx, asha, ben, chloe, dm):
    teams(chat, asha, ben, chloe)
    ask_due(ctx)
    question = asked_once(chat, ben, dm)

    first = chat.press(ben, question, "Not really")
    again = chat.press(ben, question, "Yes, somewhat")

    assert first.ok and f'I\'ve recorded "Not really" for the "{FALLS}" team' in first.text
    assert (
        again.ok and "changed your answer" in again.text and '(it was "Not really")' in again.text
    )
    assert rows(ctx) == [("Ben Okafor", "somewhat", None, None), ("Ben Okafor", None, None, None)]


def test_a_comment_is_kept_with_the_answer_and_a_long_one_is_refused(
    chat, ctx, asha, ben, chloe, dm
):
    teams(chat, asha, ben, chloe)
    ask_due(ctx)
    question = asked_once(chat, ben, dm)
    thanks = chat.press(ben, question, "Yes, a lot")
    form = chat.press(ben, thanks, "Add a comment")
    (box,) = form.form.fields

    too_long = chat.submit(ben, form, comment="x" * 501)
    kept = chat.submit(ben, form, comment="  They  ask me first now. ")

    assert box.optional and box.max_length == 500
    assert not too_long.ok and "500 characters" in too_long.text
    assert kept.ok and "kept with your answer" in kept.text
    assert rows(ctx)[0] == ("Ben Okafor", "a_lot", "They ask me first now.", None)


def test_a_comment_before_answering_asks_for_the_answer_too(chat, ctx, asha, ben, chloe, dm):
    teams(chat, asha, ben, chloe)
    ask_due(ctx)
    question = asked_once(chat, ben, dm)

    reply = chat.submit(ben, chat.press(ben, question, "Add a comment"), comment="Early days")
    answered = chat.press(ben, reply, "Not at all")

    assert "which is closest to how you feel" in reply.text
    assert answered.ok
    assert rows(ctx)[0] == ("Ben Okafor", "not_at_all", "Early days", None)


def test_an_answer_after_the_period_or_after_leaving_is_refused_kindly(
    chat, ctx, asha, ben, chloe, dm
):
    teams(chat, asha, ben, chloe)
    ask_due(ctx)
    sent = questions(ctx)
    falls = next(reply for _to, reply in sent if FALLS in reply.text)
    sepsis = next(reply for _to, reply in sent if SEPSIS in reply.text)
    assert chat.say(ben, f"/qi-leave {SEPSIS}").ok
    ctx.clock.advance(weeks=6)

    late = chat.press(ben, falls, "Yes, a lot")
    left = chat.press(ben, sepsis, "Yes, a lot")

    assert not late.ok and "for the weeks up to 27 December 2026, which have ended" in late.text
    assert not left.ok and f'You\'re no longer on the "{SEPSIS}" team' in left.text
    assert {answer for _n, answer, _c, _r in rows(ctx)} == {None}


def test_nobody_else_can_answer_someone_s_question(chat, ctx, asha, ben, chloe, dm):
    teams(chat, asha, ben, chloe)
    ask_due(ctx)
    question = asked_once(chat, ben, dm)

    reply = chat.press(chloe, question, "Not at all")

    assert not reply.ok and "for someone else" in reply.text
    assert rows(ctx)[0][1] is None


def test_stop_asking_me_stops_the_questions_until_turned_back_on(chat, ctx, asha, ben, chloe, dm):
    teams(chat, asha, ben, chloe)
    assert chat.say(DAN, f"/qi-join {FALLS} as service user").ok
    ask_due(ctx)
    sent = questions(ctx)
    dans = next(reply for to, reply in sent if to == dm(DAN))
    bens = [reply for to, reply in sent if to == dm(ben)]

    stopped = chat.press(ben, bens[0], "Stop asking me")
    ctx.clock.advance(weeks=6)
    ask_due(ctx)
    next_round = [to for to, _reply in questions(ctx)]
    back_on = chat.say(ben, "/qi-project questions on")
    ask_due(ctx)
    after = [to for to, _reply in questions(ctx)]

    assert dans is not None
    assert stopped.ok and "/qi-project questions on" in stopped.text
    assert [b.label for b in stopped.buttons] == ["Ask me again"]
    assert next_round == [dm(DAN)]  # Ben is not asked; Dan still is
    assert back_on.ok and after == [dm(ben), dm(ben)]


def test_a_question_waiting_to_be_sent_is_dropped_once_they_asked_to_stop(
    chat, ctx, asha, ben, chloe, dm
):
    teams(chat, asha, ben, chloe)
    assert chat.say(ben, "/qi-project questions off").ok
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InvolvementAnswer)) == 0
    assert chat.say(ben, "/qi-project questions on").ok
    ask_due(ctx)
    assert chat.say(ben, "/qi-project questions off").ok  # before the sender got to them

    assert [reply for _to, reply in questions(ctx)] == [None, None]  # withdrawn, not sent


# --- review fixes: who may still answer, and asking once per person and team ----------------


def test_an_answer_after_the_project_ends_or_their_place_changes_is_refused(
    chat, ctx, asha, ben, chloe, dm
):
    teams(chat, asha, ben, chloe)
    ask_due(ctx)
    sent = questions(ctx)
    falls = next(reply for _to, reply in sent if FALLS in reply.text)
    sepsis = next(reply for _to, reply in sent if SEPSIS in reply.text)
    assert chat.say(asha, f'/qi-project status "{SEPSIS}" completed').ok
    assert chat.say(asha, f'/qi-project edit-member "{FALLS}" "Ben Okafor" --consulted').ok

    ended = chat.press(ben, sepsis, "Not at all")
    consulted = chat.press(ben, falls, "Not at all")

    assert not ended.ok and "no longer active" in ended.text
    assert not consulted.ok and "Your place on the" in consulted.text
    assert {answer for _n, answer, _c, _r in rows(ctx)} == {None}  # nothing counted


def test_leaving_and_joining_a_team_again_is_not_asked_twice_in_a_period(
    chat, ctx, asha, ben, chloe, dm
):
    teams(chat, asha, ben, chloe)
    assert ask_due(ctx) == 2  # Ben about each of his two teams

    assert chat.say(ben, f"/qi-leave {FALLS}").ok
    assert chat.say(ben, f"/qi-join {FALLS} as carer").ok

    assert ask_due(ctx) == 0
    assert len(rows(ctx)) == 2
