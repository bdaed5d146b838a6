"""The example trust has past periods of involvement answers, so the chart shows at once."""

from sqlalchemy import func, select

from handlers.demo import seed_example_trust
from store.involvement import period_start
from store.models import InvolvementAnswer


def test_the_example_trust_shows_how_involved_people_feel_over_past_periods(chat, ctx, asha):
    seed_example_trust(ctx)

    reply = chat.say(asha, "/qi-stats involvement")  # the demo's organiser

    assert reply.ok and reply.image is not None
    assert reply.image.png.startswith(b"\x89PNG")
    assert "periods shown" in reply.text and "What people said" in reply.text
    # Nobody's name, though a lead recorded some of these answers.
    assert "Ben" not in reply.text and "Sam Jones" not in reply.text
    # The people who answered sit on teams that already counted: the headline is as it was.
    headline = chat.say(asha, "/qi-stats").text
    assert "1 of 10 active projects has a service user or carer on the team" in headline


def test_the_example_trust_leaves_this_periods_question_for_the_newcomer(ctx):
    seed_example_trust(ctx)

    this_period = period_start(ctx.now().date())
    with ctx.sessions() as session:
        periods = session.scalar(select(func.count(func.distinct(InvolvementAnswer.period_start))))
        now = session.scalar(
            select(func.count()).where(InvolvementAnswer.period_start >= this_period)
        )
    assert periods >= 3 and now == 0
