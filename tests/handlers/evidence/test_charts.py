"""Run charts and attendance charts: the data behind each picture, its words, and the PNG."""

import itertools
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import matplotlib.colors
import matplotlib.dates
import pytest

from handlers.evidence.chart_drawing import build_attendance_figure, build_run_chart_figure
from handlers.evidence.charts import attendance_chart, run_chart
from handlers.evidence.run_chart import RunChartAnalysis, Signal, analyse

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OKABE_ITO = {
    "#000000",
    "#e69f00",
    "#56b4e9",
    "#009e73",
    "#f0e442",
    "#0072b2",
    "#d55e00",
    "#cc79a7",
}
START = date(2026, 3, 2)  # a Monday
# 20 weeks: low for 10, then high for 10 with a rise in the middle and one spike.
VALUES = [0.1, 0.2, 0.1, 0.15, 0.2, 0.1, 0.2, 0.15, 0.1, 0.2]
VALUES += [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.7, 0.95, 0.7, 0.8]
POINTS = [(START + timedelta(weeks=week), value) for week, value in enumerate(VALUES)]
SHIFT = Signal("shift", tuple(range(10, 20)), "10 points above the median")
TREND = Signal("trend", (10, 11, 12, 13, 14, 15), "6 points rising")
SPIKE = Signal("astronomical", (17,), "a point far from the rest")
TOO_FEW_RUNS = Signal("runs", (), "too few runs")
TITLE = "Active projects with a service user or carer on the team"
Y_LABEL = "Share of active projects"


def analysis(*signals, median=0.35, runs=8, runs_limits=(6, 15)):
    return RunChartAnalysis(
        median=median,
        useful_observations=20,
        runs=runs,
        runs_limits=runs_limits,
        signals=tuple(signals),
    )


def figure_of(points=POINTS, result=None, **kwargs):
    kwargs = {"title": TITLE, "y_label": Y_LABEL, **kwargs}
    return build_run_chart_figure(points, result or analysis(), **kwargs)


def line(figure, gid):
    (found,) = [line for line in figure.axes[0].lines if line.get_gid() == gid]
    return found


def gids(figure):
    return [line.get_gid() for line in figure.axes[0].lines]


def legend_texts(figure):
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def texts(figure, gid):
    return [" ".join(t.get_text().split()) for t in figure.axes[0].texts if t.get_gid() == gid]


def test_the_line_goes_through_every_week_as_given():
    data = line(figure_of(), "data")

    assert list(data.get_xdata()) == [when for when, _ in POINTS]
    assert list(data.get_ydata()) == VALUES
    assert data.get_marker() == "o"
    assert data.get_linestyle() == "-"


def test_the_median_is_a_horizontal_line_named_with_its_value_in_the_legend():
    figure = figure_of(result=analysis(median=0.45))
    median = line(figure, "median")

    assert set(median.get_ydata()) == {0.45}
    assert list(median.get_xdata()) == [0, 1]  # the full width of the axes
    assert "Baseline 45%" in legend_texts(figure)


def test_highlighted_points_are_exactly_those_in_each_signal():
    figure = figure_of(result=analysis(SHIFT, TREND, SPIKE))

    for signal in (SHIFT, TREND, SPIKE):
        marked = line(figure, f"signal-{signal.rule}")
        assert list(marked.get_xdata()) == [POINTS[i][0] for i in signal.indices]
        assert list(marked.get_ydata()) == [POINTS[i][1] for i in signal.indices]
        assert marked.get_linestyle() == "None"  # points only: the data line joins them


def test_each_signal_differs_in_shape_and_colour_so_colour_is_never_needed():
    figure = figure_of(result=analysis(SHIFT, TREND, SPIKE))
    lines = [line(figure, gid) for gid in ("data", "signal-shift", "signal-trend")]
    lines.append(line(figure, "signal-astronomical"))

    assert len({marked.get_marker() for marked in lines}) == 4
    assert len({marked.get_color() for marked in lines}) == 4


def test_the_legend_names_each_rule_found_and_no_other():
    figure = figure_of(result=analysis(SHIFT, SPIKE))

    assert legend_texts(figure) == [
        Y_LABEL,
        "Baseline 35%",
        "Shift: 6 or more points on one side of the baseline",
        "Astronomical point",
    ]
    assert "signal-trend" not in gids(figure)


def test_two_signals_of_one_rule_share_one_legend_entry_and_mark_all_their_points():
    early = Signal("shift", (0, 1, 2, 3, 4, 5), "6 below")
    figure = figure_of(result=analysis(early, SHIFT))

    marked = line(figure, "signal-shift")
    assert list(marked.get_ydata()) == [VALUES[i] for i in (*early.indices, *SHIFT.indices)]
    assert legend_texts(figure).count("Shift: 6 or more points on one side of the baseline") == 1


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        (3, "Too few runs: 3 runs where 6 to 15 were expected"),
        (17, "Too many runs: 17 runs where 6 to 15 were expected"),
    ],
)
def test_a_runs_signal_has_no_points_so_the_legend_says_it(runs, expected):
    figure = figure_of(result=analysis(TOO_FEW_RUNS, runs=runs))

    assert legend_texts(figure)[-1] == expected
    assert "signal-runs" not in gids(figure)


def test_changes_are_dashed_vertical_lines_at_their_dates_with_their_words():
    notes = [(date(2026, 4, 6), "forum relaunched"), (date(2026, 6, 1), "leads asked early")]
    figure = figure_of(notes=notes)

    drawn = [marked for marked in figure.axes[0].lines if marked.get_gid() == "note"]
    assert [set(marked.get_xdata()) for marked in drawn] == [{when} for when, _ in notes]
    assert {marked.get_linestyle() for marked in drawn} == {"--"}
    words = [t for t in figure.axes[0].texts if t.get_gid() == "note"]
    assert [t.get_position()[0] for t in words] == [when for when, _ in notes]
    assert texts(figure, "note") == ["forum relaunched", "leads asked early"]
    assert "Change made" in legend_texts(figure)


def test_notes_outside_the_charts_dates_are_left_out_not_moved_to_the_edge():
    notes = [
        (date(2025, 12, 1), "before"),
        (date(2026, 4, 6), "inside"),
        (date(2027, 1, 4), "after"),
    ]
    figure = figure_of(notes=notes)

    assert texts(figure, "note") == ["inside"]
    assert "before" not in run_chart(POINTS, analysis(), title=TITLE, y_label=Y_LABEL).alt_text


def test_title_axis_labels_and_month_names_on_the_date_axis():
    figure = figure_of()
    axes = figure.axes[0]

    assert axes.get_title(loc="left") == TITLE
    assert axes.get_xlabel() == "Week"
    assert axes.get_ylabel() == Y_LABEL
    assert [t.get_text() for t in axes.get_xticklabels()][:3] == [
        "Mar 2026",
        "Apr 2026",
        "May 2026",
    ]


def test_a_few_weeks_are_labelled_with_their_days():
    figure = figure_of(points=POINTS[:4])

    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert labels == ["2 Mar 2026", "9 Mar 2026", "16 Mar 2026", "23 Mar 2026"]


def test_shares_are_drawn_on_an_axis_from_0_to_100_percent():
    axes = figure_of().axes[0]

    assert list(axes.get_yticks()) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert axes.yaxis.get_major_formatter()(0.5, 0) == "50%"


def test_a_measure_that_is_not_a_share_starts_at_zero_and_fits_its_values():
    points = [(when, value * 10) for when, value in POINTS]
    result = analysis(median=3.5)
    figure = figure_of(points=points, result=result, as_percent=False)

    assert figure.axes[0].get_yticks()[0] == 0 and figure.axes[0].get_ylim()[1] >= 9.5
    assert "Baseline 3.5" in legend_texts(figure)


def test_every_colour_is_from_the_colour_blind_safe_palette():
    figure = figure_of(
        result=analysis(SHIFT, TREND, SPIKE),
        notes=[(date(2026, 4, 6), "x")],
        provisional=(date(2026, 7, 16), 0.5),
    )
    colours = {
        matplotlib.colors.to_hex(marked.get_color())
        for marked in figure.axes[0].lines
        # Notes and today's unfinished figure are grey, the colour of the axes' words.
        if marked.get_gid() not in ("note", "provisional", "provisional-link")
    }
    assert colours <= OKABE_ITO


def test_the_chart_is_a_png_with_a_title_and_a_file_name():
    image = run_chart(POINTS, analysis(SHIFT), title=TITLE, y_label=Y_LABEL)

    assert image.png.startswith(PNG_SIGNATURE)
    assert image.title == TITLE
    assert image.filename.endswith(".png")


def test_alt_text_gives_the_dates_the_movement_the_median_and_every_signal():
    notes = [(date(2026, 4, 6), "forum relaunched")]
    image = run_chart(
        POINTS,
        analysis(SHIFT, TREND, SPIKE, TOO_FEW_RUNS, runs=3),
        title=TITLE,
        y_label=Y_LABEL,
        notes=notes,
    )

    # The title is shown beside it: the alt text does not say it again (issue 19).
    assert image.alt_text == (
        "Run chart from 2 March 2026 to 13 July 2026 (20 weeks). "
        "It rose from 10% to 80% (lowest 10%, highest 95%); the baseline is 35%, the middle "
        "value of the first 20 weekly figures, March to July 2026. "
        "A lasting change (a shift): 10 weeks in a row above the baseline, from 11 May 2026 "
        "to 13 July 2026. "
        "A steady change (a trend): 6 weeks in a row going up, from 50% on 11 May 2026 to 80% "
        "on 15 June 2026. "
        "An unusual week, worth checking: 95% on 29 June 2026 is far from all the other weeks. "
        "Long stretches on one side of the baseline (too few runs): 3 runs where 6 to 15 would "
        "be usual. "
        "Changes marked: forum relaunched (6 April 2026)."
    )


def test_alt_text_says_when_there_are_no_signals():
    text = run_chart(POINTS[:10], analysis(median=0.15), title=TITLE, y_label=Y_LABEL).alt_text

    assert "the baseline is 15%" in text
    assert "No sign yet of change beyond the usual ups and downs." in text


def test_a_shift_below_the_median_and_a_falling_trend_are_described_that_way():
    points = [(when, 1 - value) for when, value in POINTS]
    text = run_chart(points, analysis(SHIFT, TREND, median=0.65), title=TITLE, y_label=Y_LABEL)

    assert "It fell from 90% to 20%" in text.alt_text
    assert "10 weeks in a row below the baseline" in text.alt_text
    assert "6 weeks in a row going down, from 50% on 11 May 2026" in text.alt_text


def test_no_data_yet_is_drawn_and_said():
    empty = RunChartAnalysis(
        median=None, useful_observations=0, runs=0, runs_limits=None, signals=()
    )
    figure = figure_of(points=[], result=empty, notes=[(date(2026, 4, 6), "forum relaunched")])
    image = run_chart([], empty, title=TITLE, y_label=Y_LABEL)

    assert texts(figure, "no-data") == ["No data yet"]
    assert gids(figure) == []
    assert figure.axes[0].get_xlabel() == "Week"
    assert image.png.startswith(PNG_SIGNATURE)
    assert image.alt_text == (
        "Run chart. No data yet: nothing has been recorded, so nothing is plotted."
    )


def test_one_week_is_one_point_with_its_date():
    one = analysis(median=0.1)
    figure = figure_of(points=POINTS[:1], result=one, notes=[(START, "forum began")])
    image = run_chart(POINTS[:1], one, title=TITLE, y_label=Y_LABEL)

    assert list(line(figure, "data").get_ydata()) == [0.1]
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["2 Mar 2026"]
    assert texts(figure, "note") == ["forum began"]
    assert image.alt_text == "Run chart, one week so far, 2 March 2026: 10%."


def test_points_out_of_date_order_are_refused_because_signals_count_them_in_order():
    with pytest.raises(ValueError, match="date order"):
        figure_of(points=[POINTS[1], POINTS[0]])


def test_a_signal_naming_a_point_that_is_not_there_is_refused():
    with pytest.raises(ValueError, match="shift"):
        figure_of(points=POINTS[:5], result=analysis(SHIFT))


def test_the_real_analysis_drives_the_chart():
    run_chart_module = pytest.importorskip("handlers.evidence.run_chart")
    result = run_chart_module.analyse(VALUES)
    figure = figure_of(result=result)
    image = run_chart(POINTS, result, title=TITLE, y_label=Y_LABEL)

    for signal in result.signals:
        if signal.rule != "runs":
            marked = line(figure, f"signal-{signal.rule}")
            assert {POINTS[i][0] for i in signal.indices} <= set(marked.get_xdata())
    if result.median is not None:
        assert set(line(figure, "median").get_ydata()) == {result.median}
        assert f"the baseline is {result.median * 100:.0f}%" in image.alt_text


MEETINGS = [
    (date(2026, 3, 5) + timedelta(weeks=4 * number), 3 + number // 2, 12 - number // 3)
    for number in range(12)
]


def test_attendance_is_two_lines_a_reader_can_tell_apart_without_colour():
    figure = build_attendance_figure(MEETINGS, title="QI forum attendance")
    axes = figure.axes[0]
    lived, staff = line(figure, "lived-experience"), line(figure, "staff")

    assert list(lived.get_xdata()) == [when for when, _, _ in MEETINGS]
    assert list(lived.get_ydata()) == [count for _, count, _ in MEETINGS]
    assert list(staff.get_xdata()) == [when for when, _, _ in MEETINGS]
    assert list(staff.get_ydata()) == [count for _, _, count in MEETINGS]
    assert lived.get_marker() != staff.get_marker()
    assert lived.get_linestyle() != staff.get_linestyle()
    assert {matplotlib.colors.to_hex(x.get_color()) for x in (lived, staff)} <= OKABE_ITO
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("Meeting date", "People")
    assert axes.get_title(loc="left") == "QI forum attendance"
    assert legend_texts(figure) == ["Service users and carers", "Staff"]
    assert axes.get_yticks()[0] == 0


def test_attendance_in_any_order_is_drawn_in_date_order():
    figure = build_attendance_figure(MEETINGS[::-1], title="QI forum attendance")

    assert list(line(figure, "staff").get_xdata()) == [when for when, _, _ in MEETINGS]


def test_attendance_chart_is_a_png_with_alt_text_summarising_both_groups():
    image = attendance_chart(MEETINGS, title="QI forum attendance")

    assert image.png.startswith(PNG_SIGNATURE)
    assert image.alt_text == (
        "Attendance chart: QI forum attendance. 12 meetings from 5 March 2026 to 7 January "
        "2027; service users and carers: 3 at the first, 8 at the last (highest 8); staff: 12 at "
        "the first, 9 at the last (highest 12)."
    )


def test_attendance_with_one_meeting_or_none():
    one = attendance_chart(MEETINGS[:1], title="QI forum attendance")
    none = attendance_chart([], title="QI forum attendance")

    assert one.alt_text == (
        "Attendance chart: QI forum attendance. 1 meeting, on 5 March 2026: "
        "3 service users and carers, 12 staff."
    )
    assert none.png.startswith(PNG_SIGNATURE)
    assert "No data yet" in none.alt_text
    assert texts(build_attendance_figure([], title="x"), "no-data") == ["No data yet"]


def test_charts_drawn_at_once_on_several_threads_match_one_drawn_alone():
    expected = run_chart(POINTS, analysis(SHIFT, TREND), title=TITLE, y_label=Y_LABEL).png
    results: list[bytes] = []

    def draw() -> None:
        results.append(run_chart(POINTS, analysis(SHIFT, TREND), title=TITLE, y_label=Y_LABEL).png)

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


def test_drawing_never_loads_pyplot_and_its_shared_global_state():
    script = (
        "import sys, datetime\n"
        "from handlers.evidence import charts\n"
        "charts.attendance_chart([(datetime.date(2026, 3, 5), 3, 12)], title='t').png\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.stdout.strip() == "False"


def test_matplotlib_loads_only_when_a_chart_is_drawn():
    """Every qi-nudge command and the server start without it; /qi-stats answers before it."""
    script = (
        "import sys, datetime\n"
        "import handlers.dispatch\n"
        "from handlers.evidence import charts\n"
        "image = charts.attendance_chart([(datetime.date(2026, 3, 5), 3, 12)], title='t')\n"
        "print('matplotlib' in sys.modules)\n"
        "image.png\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.stdout.split() == ["False", "True"]


def test_a_chart_is_drawn_in_one_pass(monkeypatch):
    """No layout engine or tight bounding box, each of which draws the whole figure again."""
    from matplotlib.figure import Figure

    from handlers.evidence.chart_drawing import render_png

    passes: list[int] = []
    real = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, r: passes.append(1) or real(self, r))
    render_png(figure_of(notes=[(date(2026, 4, 6), "forum relaunched")]))

    assert passes == [1]


def test_a_years_weeks_name_at_most_twelve_months_so_the_names_never_touch():
    year = [(START + timedelta(weeks=week), 0.5) for week in range(52)]
    figure = figure_of(points=year, result=analysis(median=0.5))
    figure.canvas.draw()  # ticks are placed when drawn

    labels = [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]
    assert 6 <= len(labels) <= 12


def test_words_copied_from_an_earlier_drawing_land_where_matplotlib_draws_them():
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image as PngImage

    from handlers.evidence.chart_drawing import render_png

    notes = [(date(2026, 4, 6), "forum relaunched")]
    render_png(figure_of(notes=notes))  # the words are drawn here, and copied below
    ours = np.asarray(PngImage.open(io.BytesIO(render_png(figure_of(notes=notes)))))
    plain = FigureCanvasAgg(figure_of(notes=notes))
    plain.draw()
    theirs = np.asarray(plain.buffer_rgba())[..., :3]

    difference = np.abs(ours.astype(int) - theirs.astype(int)).max(axis=2)
    assert (difference == 0).mean() > 0.97  # all but the words' edges: identical
    # Within half a pixel: 4 x 4 blocks (a blur) agree closely everywhere.
    blocks = [a.reshape(150, 4, 300, 4, 3).mean(axis=(1, 3)) for a in (ours, theirs)]
    assert np.abs(blocks[0] - blocks[1]).max() < 48


# --- A chart a QI lead can paste into a board report ---------------------------------------

TODAY = date(2026, 7, 16)  # a Thursday, three days after the last weekly figure (13 July)
DPI = 120


def drawn(figure):
    """The figure drawn as we send it: its pixels (height x width x RGB), figure kept drawn."""
    import io

    import numpy as np
    from PIL import Image as PngImage

    from handlers.evidence.chart_drawing import render_png

    return np.asarray(PngImage.open(io.BytesIO(render_png(figure))).convert("RGB")).astype(int)


def near(pixels, colour, within=40):
    """Where the pixels are (close to) this colour: a height x width mask."""
    import numpy as np

    rgb = np.array(matplotlib.colors.to_rgb(colour)) * 255
    return (np.abs(pixels - rgb) <= within).all(axis=2)


def at_point(figure, pixels, when, value, reach=30):
    """The pixels around a data point, `reach` pixels each way."""
    x, y = figure.axes[0].transData.transform((matplotlib.dates.date2num(when), value))
    row, column = pixels.shape[0] - round(y), round(x)
    return pixels[row - reach : row + reach, column - reach : column + reach]


def test_todays_figure_is_a_hollow_grey_point_after_the_weeks_saying_so_far_this_week():
    figure = figure_of(provisional=(TODAY, 0.9))
    today = line(figure, "provisional")

    assert list(today.get_xdata()) == [TODAY] and list(today.get_ydata()) == [0.9]
    assert today.get_markerfacecolor() == "white"  # hollow
    assert matplotlib.colors.to_hex(today.get_markeredgecolor()) == "#555555"  # grey
    # The weekly line ends at the last week: today's point is only dotted to it.
    assert list(line(figure, "data").get_xdata()) == [when for when, _ in POINTS]
    assert line(figure, "provisional-link").get_linestyle() == ":"
    assert texts(figure, "provisional") == ["so far this week"]
    assert "So far this week (16 Jul): not a weekly figure yet" in legend_texts(figure)
    assert figure.axes[0].get_xlim()[1] > matplotlib.dates.date2num(TODAY)


def test_todays_figure_is_in_no_signal_and_not_in_the_median():
    figure = figure_of(result=analysis(SHIFT, TREND, SPIKE, median=0.35), provisional=(TODAY, 1))

    for rule in ("shift", "trend", "astronomical"):
        assert TODAY not in list(line(figure, f"signal-{rule}").get_xdata())
    assert set(line(figure, "median").get_ydata()) == {0.35}


def test_todays_figure_on_or_before_the_last_weeks_is_refused_in_a_drawing_and_left_out():
    with pytest.raises(ValueError, match="after the last weekly figure"):
        figure_of(provisional=(POINTS[-1][0], 0.5))
    same_day = run_chart(
        POINTS, analysis(), title=TITLE, y_label=Y_LABEL, provisional=(POINTS[-1][0], 0.5)
    )

    # This week's figure was taken today: nothing more to draw, the same picture as without.
    assert (
        same_day.drawn_from
        == run_chart(POINTS, analysis(), title=TITLE, y_label=Y_LABEL).drawn_from
    )


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_a_line_at_0_or_100_percent_is_drawn_whole_not_hidden_by_the_frame(value):
    flat = [(when, value) for when, _ in POINTS[:8]]
    figure = figure_of(points=flat, result=analysis(median=value))
    around = at_point(figure, drawn(figure), *flat[0], reach=12)  # the first week's dot

    # A week's dot is 5 points (8 pixels) across: every row of it shows, none cut off.
    assert near(around, "#0072B2").any(axis=1).sum() >= 8
    low, high = figure.axes[0].get_ylim()
    assert low < 0 and high > 1  # the frame is drawn clear of 0% and 100%


def test_marks_for_one_week_in_three_signals_each_stay_whole_and_visible():
    week = 12  # in a shift, a trend and an astronomical point at once
    shift = Signal("shift", tuple(range(10, 20)), "")
    trend = Signal("trend", tuple(range(10, 16)), "")
    spike = Signal("astronomical", (week,), "")
    when, value = POINTS[week]
    colours = {"shift": "#D55E00", "trend": "#CC79A7", "astronomical": "#E69F00"}

    def seen(*signals):
        figure = figure_of(result=analysis(*signals))
        around = at_point(figure, drawn(figure), when, value)
        return {rule: near(around, colour).sum() for rule, colour in colours.items()}

    together = seen(shift, trend, spike)
    for signal in (shift, trend, spike):
        alone = seen(signal)[signal.rule]
        # Drawn with the others, each mark keeps (nearly) every pixel it has alone.
        assert together[signal.rule] >= 0.9 * alone > 0, signal.rule
    assert legend_texts(figure_of(result=analysis(shift, trend, spike)))[2:5] == [
        "Shift: 6 or more points on one side of the baseline",
        "Trend: 5 or more points rising or falling",
        "Astronomical point",
    ]


def test_the_forum_chart_names_its_meetings_by_their_dates():
    figure = build_attendance_figure(MEETINGS, title="QI forum attendance")
    figure.canvas.draw()
    axes = figure.axes[0]

    ticks = [matplotlib.dates.num2date(x).date() for x in axes.get_xticks()]
    assert ticks == [when for when, _, _ in MEETINGS]  # a tick at every meeting, no other
    named = [t for t in axes.get_xticklabels() if t.get_text()]
    assert named[-1].get_text() == "7 Jan 2027"  # the latest meeting is always named
    meeting_dates = {f"{when.day} {when:%b %Y}" for when, _, _ in MEETINGS}
    assert len(named) >= 6 and {t.get_text() for t in named} <= meeting_dates
    boxes = [t.get_window_extent() for t in named]
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))


def test_each_chart_says_how_recent_its_data_is():
    assert texts(figure_of(), "data-up-to") == ["Weekly figures up to Monday 13 July 2026"]
    assert texts(figure_of(provisional=(TODAY, 0.5)), "data-up-to") == [
        "Weekly figures up to Monday 13 July 2026, and so far this week, "
        "up to Thursday 16 July 2026"
    ]
    forum = build_attendance_figure(MEETINGS, title="QI forum attendance")
    assert texts(forum, "data-up-to") == ["Meetings up to Thursday 7 January 2027"]


def test_words_are_big_enough_to_read_when_the_chart_is_pasted_into_a_report():
    """Pasted across an A4 page in Word (6.3 inches inside its margins), a 10 inch chart prints
    at 63%: its words must still be 7.5 points or more, the smallest print most can read."""
    figure = figure_of(result=analysis(SHIFT, TREND, TOO_FEW_RUNS, runs=3), provisional=(TODAY, 1))
    drawn(figure)
    axes = figure.axes[0]
    words = [*(t for legend in figure.legends for t in legend.get_texts())]
    words += [*axes.get_xticklabels(), *axes.get_yticklabels(), axes.xaxis.label, axes.yaxis.label]

    for text in words:
        if text.get_text():
            # Its height on the saved picture, in points, printed at 63%.
            height = text.get_window_extent().height * 72 / DPI
            assert height * 0.63 >= 7.5, text.get_text()


def test_a_long_title_is_never_cut_off_and_no_words_overlap():
    title = (
        "Share of active projects with a service user or carer on the team "
        "(Royal Riverside and Hillside Community General Hospital)"
    )
    figure = figure_of(
        title=title,
        result=analysis(SHIFT, TREND, SPIKE, TOO_FEW_RUNS, runs=3),
        provisional=(TODAY, 1.0),
    )
    drawn(figure)
    axes = figure.axes[0]
    picture = figure.bbox

    boxes = {
        "title": axes._left_title.get_window_extent(),  # where set_title(loc="left") puts it
        "data up to": next(
            t for t in axes.texts if t.get_gid() == "data-up-to"
        ).get_window_extent(),
        "legend": figure.legends[0].get_window_extent(),
        "x name": axes.xaxis.label.get_window_extent(),
        "y name": axes.yaxis.label.get_window_extent(),
        "so far": next(t for t in axes.texts if t.get_gid() == "provisional").get_window_extent(),
    }
    assert " ".join(axes.get_title(loc="left").split()) == title  # all its words, on two lines
    for name, box in boxes.items():
        inside = box.x0 >= 0 and box.y0 >= 0 and box.x1 <= picture.x1 and box.y1 <= picture.y1
        assert inside, name
    for (one, a), (other, b) in itertools.combinations(boxes.items(), 2):
        assert not a.overlaps(b), (one, other)
    ticks = [t.get_window_extent() for t in axes.get_xticklabels() if t.get_text()]
    assert not any(a.overlaps(b) for a, b in itertools.pairwise(ticks))


# --- issue 19: what the alt text counts, and today's figure --------------------------------


def test_an_involvement_chart_counts_periods_not_weeks_in_its_words():
    points = [(date(2026, 1, 5), 0.5), (date(2026, 2, 16), 0.6), (date(2026, 3, 30), 0.7)]
    analysis = analyse([v for _, v in points], unit="period")

    image = run_chart(points, analysis, title="Feels involved", y_label="Share")

    assert "(3 periods)" in image.alt_text and "week" not in image.alt_text


def test_todays_figure_is_in_the_alt_text_as_it_is_drawn_apart():
    points = [(date(2026, 11, 16), 0.1), (date(2026, 11, 23), 0.2)]
    analysis = analyse([v for _, v in points], unit="week")

    image = run_chart(
        points, analysis, title="Share", y_label="Share", provisional=(date(2026, 11, 25), 0.3)
    )

    assert image.alt_text.endswith(
        "Drawn apart after them, so far this week (25 November 2026): 30%."
    )


def test_an_involvement_chart_is_labelled_by_period_and_its_line_is_the_baseline():
    points = [(date(2026, 1, 5), 0.5), (date(2026, 2, 16), 0.6), (date(2026, 3, 30), 0.7)]
    analysis = analyse([v for _, v in points], unit="period")

    figure = build_run_chart_figure(points, analysis, title="Feels involved", y_label="Share")

    texts = [t.get_text() for t in figure.findobj(match=lambda o: hasattr(o, "get_text"))]
    assert "Period starting" in texts and "Week" not in texts
    assert any(t.startswith("Figures for each period up to Monday 30 March 2026") for t in texts)
    assert "Baseline 60%" in legend_texts(figure)
