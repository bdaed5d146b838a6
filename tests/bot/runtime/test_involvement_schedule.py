"""The involvement question is asked from the scheduler's tick, at the weekly reminder's time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.runtime.scheduler import Jobs
from bot.runtime.settings import SettingsError, load_settings
from bot.runtime.startup import build_context
from handlers.evidence.involvement_questions import INVOLVEMENT_QUESTION
from handlers.nudges.weekly import NudgePolicy
from store.engine import make_engine
from store.models import Delivery, InvolvementAnswer


def questions_planned(ctx) -> int:
    with ctx.sessions() as session:
        return session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.kind == INVOLVEMENT_QUESTION)
        )


def test_asked_once_from_the_week_s_reminder_time_and_newcomers_the_next_week(
    chat, ctx, asha, ben, chloe
):
    assert chat.say(asha, '/qi-project new "Falls prevention"').ok
    assert chat.say(ben, "/qi-join Falls prevention as carer").ok
    jobs = Jobs(ctx, NudgePolicy())  # Mondays at 09:30
    ctx.clock.current = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    early = jobs.run_due_questions()
    ctx.clock.current = datetime(2026, 11, 23, 9, 31, tzinfo=UTC)
    jobs.run_due()
    on_time = questions_planned(ctx)
    jobs.run_due()
    assert chat.say(chloe, "/qi-join Falls prevention as service user").ok
    same_week = questions_planned(ctx)
    ctx.clock.advance(days=7)
    jobs.run_due()

    assert early == 0
    assert on_time == 1 and same_week == 1  # the next tick asks nobody twice
    assert questions_planned(ctx) == 2  # Chloe, the week after she joined
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InvolvementAnswer)) == 2


def test_how_often_is_a_setting_that_reaches_the_handlers(tmp_path):
    assert load_settings({}, env_file=None).involvement_every_weeks == 6
    settings = load_settings({"INVOLVEMENT_EVERY_WEEKS": "4"}, env_file=None)
    with pytest.raises(SettingsError, match="INVOLVEMENT_EVERY_WEEKS: '0'"):
        load_settings({"INVOLVEMENT_EVERY_WEEKS": "0"}, env_file=None)
    engine = make_engine(f"sqlite:///{tmp_path / 'qi.db'}")

    assert build_context(settings, engine).involvement_every_weeks == 4
    engine.dispose()
