"""/qi-stats draws today's figure, the headline's, apart from the weekly figures it follows."""

from datetime import UTC, date, datetime

import pytest

import handlers.evidence.chart_drawing
from handlers.evidence.run_chart import analyse
from handlers.evidence.stats import backfill, take_snapshot

FALLS, SEPSIS = "Falls prevention", "Sepsis screening"


@pytest.fixture
def figures_drawn(monkeypatch):
    """Every chart figure drawn, as matplotlib drew it (render_png itself still runs)."""
    drawn = []
    real = handlers.evidence.chart_drawing.render_png

    def keeping(figure, *, scale=1.0):
        drawn.append(figure)
        return real(figure, scale=scale)

    monkeypatch.setattr(handlers.evidence.chart_drawing, "render_png", keeping)
    return drawn


def line(figure, gid):
    (found,) = [drawn for drawn in figure.axes[0].lines if drawn.get_gid() == gid]
    return found


@pytest.fixture
def autumn(chat, clock, asha, ben):
    """Two projects from September; Ben joins Falls as a carer in mid October."""
    clock.current = datetime(2026, 9, 1, 12, tzinfo=UTC)
    assert chat.say(asha, f'/qi-project new "{FALLS}"').ok
    assert chat.say(asha, f'/qi-project new "{SEPSIS}"').ok
    clock.current = datetime(2026, 10, 14, 12, tzinfo=UTC)
    assert chat.say(ben, f"/qi-join {FALLS} as carer").ok


def test_todays_figure_is_drawn_after_the_last_week_and_counts_in_no_rule(
    chat, ctx, clock, autumn, asha, figures_drawn
):
    clock.current = datetime(2026, 11, 23, 10, tzinfo=UTC)  # Monday
    backfill(ctx)  # weeks up to last week's, Monday 16 November: 1 of 2 since October
    clock.current = datetime(2026, 11, 26, 12, tzinfo=UTC)  # Thursday
    assert chat.say(asha, f"/qi-join {SEPSIS} as carer").ok  # 2 of 2 now

    reply = chat.say(asha, "/qi-stats")
    assert reply.image is not None and reply.image.png
    figure = figures_drawn[-1]

    weekly = list(line(figure, "data").get_ydata())
    assert list(line(figure, "data").get_xdata())[-1] == date(2026, 11, 16)
    today = line(figure, "provisional")
    assert list(today.get_xdata()) == [date(2026, 11, 26)]
    assert list(today.get_ydata()) == [1.0]  # the headline's 2 of 2
    assert "2 of 2 active projects" in reply.text
    # The weeks alone make the median and the signals: today's figure may change by Monday.
    assert set(line(figure, "median").get_ydata()) == {analyse(weekly, unit="week").median}
    for marked in figure.axes[0].lines:
        if marked.get_gid().startswith("signal-"):
            assert date(2026, 11, 26) not in list(marked.get_xdata())

    # On Monday this week's figure is taken: it is the last point, with nothing drawn apart.
    clock.current = datetime(2026, 11, 30, 10, tzinfo=UTC)
    take_snapshot(ctx)
    assert chat.say(asha, "/qi-stats").image.png
    monday = figures_drawn[-1]
    assert list(line(monday, "data").get_xdata())[-1] == date(2026, 11, 30)
    assert "provisional" not in [drawn.get_gid() for drawn in monday.axes[0].lines]
