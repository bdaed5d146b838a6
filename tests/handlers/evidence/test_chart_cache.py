"""A chart is drawn once per change of its data, by one request at a time, in bounded memory."""

import threading
from datetime import date, timedelta

import pytest

import handlers.evidence.chart_drawing
from handlers.evidence.chart_cache import DrawnCharts
from handlers.evidence.charts import attendance_chart, run_chart
from handlers.evidence.run_chart import analyse

START = date(2026, 3, 2)
VALUES = [0.1, 0.2, 0.15, 0.3, 0.25, 0.2]
TITLE = "Share of active projects with a service user or carer on the team"


def chart(values=VALUES, title=TITLE, notes=(), provisional=None):
    points = [(START + timedelta(weeks=week), value) for week, value in enumerate(values)]
    today = {"provisional": provisional} if provisional else {}
    return run_chart(points, analyse(values), title=title, y_label="Share", notes=notes, **today)


@pytest.fixture
def drawings(monkeypatch):
    """Every real drawing, counted (render_png is where matplotlib draws and encodes)."""
    drawn: list[float] = []
    real = handlers.evidence.chart_drawing.render_png

    def counted(figure, *, scale=1.0):
        drawn.append(scale)
        return real(figure, scale=scale)

    monkeypatch.setattr(handlers.evidence.chart_drawing, "render_png", counted)
    return drawn


def test_two_requests_for_the_same_chart_draw_it_once(drawings):
    first, second = chart().png, chart().png

    assert first == second
    assert drawings == [1.0]


def test_a_change_in_the_data_or_the_words_draws_again(drawings):
    for image in (
        chart(),
        chart(values=[*VALUES[:-1], 0.9]),  # a new week's figure
        chart(title=TITLE + " (Riverside)"),
        chart(notes=[(START + timedelta(weeks=2), "Forum relaunched")]),
        chart(),  # as the first: kept
    ):
        assert image.png

    assert len(drawings) == 4


def test_todays_figure_changing_during_the_week_draws_the_chart_again(drawings):
    thursday = START + timedelta(weeks=len(VALUES) - 1, days=3)
    images = [
        chart(provisional=(thursday, 0.25)),
        chart(provisional=(thursday, 0.25)),  # nothing changed: kept
        chart(provisional=(thursday, 0.5)),  # someone joined a team today
        chart(provisional=(thursday + timedelta(days=1), 0.5)),  # the next day
    ]

    assert len({image.drawn_from for image in images}) == 3
    assert all(image.png for image in images)
    assert len(drawings) == 3


def test_a_smaller_copy_is_kept_apart_from_the_full_size_one(drawings):
    chart().png_within(1024)
    chart().png_within(1024)

    assert drawings == [1.0, 1024 / 1200]


def test_attendance_charts_are_kept_by_their_own_data(drawings):
    meetings = [(START, 3, 12), (START + timedelta(days=28), 5, 11)]
    for some in (meetings, meetings, meetings[:1]):
        assert attendance_chart(some, title="Forum").png

    assert len(drawings) == 2


def test_requests_at_once_for_the_same_chart_wait_for_the_one_drawing(monkeypatch):
    release = threading.Event()
    drawn: list[int] = []
    real = handlers.evidence.chart_drawing.render_png

    def slow(figure, *, scale=1.0):
        drawn.append(1)
        release.wait(10)  # everyone else asks while this one is drawing
        return real(figure, scale=scale)

    monkeypatch.setattr(handlers.evidence.chart_drawing, "render_png", slow)
    pictures: list[bytes] = []
    threads = [threading.Thread(target=lambda: pictures.append(chart().png)) for _ in range(8)]
    for thread in threads:
        thread.start()
    while not drawn:
        threading.Event().wait(0.01)
    threading.Event().wait(0.3)  # the others arrive: they wait, or (wrongly) draw too
    release.set()
    for thread in threads:
        thread.join(10)

    assert len(drawn) == 1
    assert len(pictures) == 8 and len(set(pictures)) == 1


def test_a_failed_drawing_is_told_to_those_waiting_and_tried_again_next_time():
    charts = DrawnCharts()
    attempts: list[int] = []

    def broken() -> bytes:
        attempts.append(1)
        raise RuntimeError("no fonts")

    with pytest.raises(RuntimeError):
        charts.get("k", broken)
    assert charts.get("k", lambda: b"png") == b"png"
    assert len(attempts) == 1 and len(charts) == 1


def test_only_the_most_recently_used_charts_are_kept():
    charts = DrawnCharts(kept=3)
    drawn: list[str] = []

    def draw(key: str):
        return lambda: drawn.append(key) or key.encode()

    for key in ("a", "b", "c"):
        charts.get(key, draw(key))
    charts.get("a", draw("a"))  # used again: now the most recent
    charts.get("d", draw("d"))  # "b", the least recently used, makes room
    charts.get("a", draw("a"))
    charts.get("b", draw("b"))

    assert drawn == ["a", "b", "c", "d", "b"]
    assert len(charts) == 3
