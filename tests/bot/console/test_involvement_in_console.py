"""A newcomer in `make run` is asked how involved they feel, and answers, in the console."""

from sqlalchemy import select

from handlers.demo import seed_example_trust
from store.models import InvolvementAnswer, Person
from tests.bot.console.test_terminal_messages import after, run_console


def test_the_demo_carer_is_asked_at_remind_and_answers_with_a_comment(ctx):
    # Ben Okafor, a carer on chat, is on the "Reducing falls on Ward 7" team in the demo.
    seed_example_trust(ctx)

    transcript = run_console(
        ctx,
        [":remind", ":as Ben Okafor", "2", "1", "Everyone listens now", ":remind"],
        name="Asha Patel",
    )

    reminded = after(transcript, ":as Ben Okafor")
    assert "A quick question about your team" in reminded
    assert (
        'On the "Reducing falls on Ward 7" team, do you feel your views shape what the team '
        "does?" in reminded
    )
    assert "[1] Yes, a lot" in reminded and "[4] Not at all" in reminded
    assert "[6] Stop asking me" in reminded
    assert "only once at least 3 people have answered" in reminded
    assert 'I\'ve recorded "Yes, somewhat"' in after(transcript, "2")
    assert "kept with your answer" in transcript
    assert transcript.count("A quick question about your team") == 1  # never twice a period
    with ctx.sessions() as session:
        # Ben's answer this period (the demo's earlier periods hold answers, for the report).
        (row,) = session.execute(
            select(InvolvementAnswer.answer, InvolvementAnswer.comment)
            .join(Person, Person.id == InvolvementAnswer.person_id)
            .where(Person.display_name == "Ben Okafor")
            .order_by(InvolvementAnswer.period_start.desc())
            .limit(1)
        )
    assert tuple(row) == ("somewhat", "Everyone listens now")
