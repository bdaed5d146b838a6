"""Run charts and forum attendance charts, drawn headless as PNG images with alt text."""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

# Figure + FigureCanvasAgg, never pyplot: pyplot keeps a global "current figure" and backend
# that are shared by every thread, while a Figure we own is private to the call drawing it.
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, MonthLocator, date2num, num2date
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, PercentFormatter

from handlers.reply import Image
from handlers.wording import plural

if TYPE_CHECKING:
    from handlers.run_chart import RunChartAnalysis, Signal

# Okabe-Ito: told apart by people with the common kinds of colour blindness.
BLACK = "#000000"
ORANGE = "#E69F00"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#555555"  # not a signal colour: notes and "No data yet", like the axes' words

FIGURE_SIZE = (10.0, 5.0)  # inches
DPI = 120  # 1200 x 600 pixels: sharp in chat, quick to draw

# Each signal gets its own marker shape as well as its own colour, so it never relies on
# colour alone; sizes shrink in drawing order so a point in two signals shows both.
SIGNAL_STYLES: dict[str, tuple[str, str, float, str]] = {
    # rule: (legend label, colour, marker size, marker)
    "shift": ("Shift: 6 or more points on one side of the median", VERMILLION, 12, "s"),
    "trend": ("Trend: 5 or more points rising or falling", REDDISH_PURPLE, 10, "^"),
    "astronomical": ("Astronomical point", ORANGE, 9, "D"),
}
NO_DATA = "No data yet"


def run_chart(
    points: Sequence[tuple[date, float]],
    analysis: RunChartAnalysis,
    *,
    title: str,
    y_label: str,
    notes: Sequence[tuple[date, str]] = (),
    as_percent: bool = True,
) -> Image:
    """A weekly run chart as a PNG, with alt text saying what a sighted reader would see."""
    alt_text = describe_run_chart(points, analysis, title=title, notes=notes, as_percent=as_percent)
    points, notes = list(points), list(notes)  # drawn later: keep the data as it is now

    def draw() -> bytes:
        figure = build_run_chart_figure(
            points, analysis, title=title, y_label=y_label, notes=notes, as_percent=as_percent
        )
        return render_png(figure)

    drawn_from = _digest(points, analysis, title, y_label, notes, as_percent)
    return Image(
        draw=draw, title=title, alt_text=alt_text, filename="run-chart.png", drawn_from=drawn_from
    )


def attendance_chart(meetings: Sequence[tuple[date, int, int]], *, title: str) -> Image:
    """Forum attendance per meeting (service users and carers, staff) as a PNG with alt text."""
    alt_text = describe_attendance(meetings, title=title)
    meetings = list(meetings)

    def draw() -> bytes:
        return render_png(build_attendance_figure(meetings, title=title))

    return Image(
        draw=draw,
        title=title,
        alt_text=alt_text,
        filename="forum-attendance.png",
        drawn_from=_digest(meetings, title),
    )


def _digest(*data: object) -> str:
    """A fingerprint of what a chart is drawn from (dates, numbers, words: all repr-stable)."""
    return hashlib.sha256(repr(data).encode()).hexdigest()


def render_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, drawn by Agg (no screen needed)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # attaches itself to the figure
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def build_run_chart_figure(
    points: Sequence[tuple[date, float]],
    analysis: RunChartAnalysis,
    *,
    title: str,
    y_label: str,
    notes: Sequence[tuple[date, str]] = (),
    as_percent: bool = True,
) -> Figure:
    """The run chart as a Figure, for run_chart to render and tests to inspect.

    Artists carry a gid ("data", "median", "signal-<rule>", "note", "no-data") so tests and
    readers can find them. Notes dated outside the points' first..last dates are left out:
    a line clamped to the edge would claim the change happened on a week it didn't.
    """
    _check_points(points, analysis)
    figure, axes = _new_figure(title)
    axes.set_xlabel("Week")
    axes.set_ylabel(y_label)
    values = [value for _, value in points]
    _set_value_axis(axes, values, as_percent=as_percent)
    if not points:
        _draw_no_data(axes)
        return figure

    dates = [when for when, _ in points]
    axes.plot(
        dates,
        values,
        color=BLUE,
        marker="o",
        markersize=5,
        linewidth=1.5,
        label=y_label,
        gid="data",
        zorder=2,
    )
    if analysis.median is not None:
        axes.axhline(
            analysis.median,
            color=BLACK,
            linewidth=1.2,
            label=f"Median {_format_value(analysis.median, as_percent)}",
            gid="median",
            zorder=1,
        )
    for rule, indices in _signal_indices(analysis.signals).items():
        label, colour, size, marker = SIGNAL_STYLES[rule]
        axes.plot(
            [dates[i] for i in indices],
            [values[i] for i in indices],
            linestyle="none",
            marker=marker,
            markersize=size,
            color=colour,
            markeredgecolor=BLACK,
            markeredgewidth=0.8,
            label=label,
            gid=f"signal-{rule}",
            zorder=3,
            clip_on=False,  # a point at 0% or 100% sits on the frame; show all of it
        )
    _draw_notes(axes, _notes_in_range(notes, dates[0], dates[-1]), points)
    _set_date_axis(axes, dates)

    handles, labels = axes.get_legend_handles_labels()
    runs = _runs_message(analysis)
    if runs:
        # A runs signal is about the whole series, not some points: a legend line with no mark.
        handles.append(Line2D([], [], linestyle="none", gid="signal-runs"))
        labels.append(runs)
    figure.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    return figure


def build_attendance_figure(meetings: Sequence[tuple[date, int, int]], *, title: str) -> Figure:
    """Attendance per meeting as a Figure: two lines with their own colour, marker and dashes."""
    figure, axes = _new_figure(title)
    axes.set_xlabel("Meeting")
    axes.set_ylabel("People")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    if not meetings:
        axes.set_ylim(0, 10)
        _draw_no_data(axes)
        return figure

    ordered = sorted(meetings)
    dates = [when for when, _, _ in ordered]
    axes.plot(
        dates,
        [lived for _, lived, _ in ordered],
        color=VERMILLION,
        marker="o",
        markersize=7,
        linestyle="-",
        linewidth=2,
        label="Service users and carers",
        gid="lived-experience",
        clip_on=False,
    )
    axes.plot(
        dates,
        [staff for _, _, staff in ordered],
        color=BLUE,
        marker="s",
        markersize=6,
        linestyle="--",
        linewidth=2,
        label="Staff",
        gid="staff",
        clip_on=False,
    )
    top = max(max(lived, staff) for _, lived, staff in ordered)
    axes.set_ylim(0, max(5, math.ceil(top * 1.1)))
    _set_date_axis(axes, dates)
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    return figure


def describe_run_chart(
    points: Sequence[tuple[date, float]],
    analysis: RunChartAnalysis,
    *,
    title: str,
    notes: Sequence[tuple[date, str]] = (),
    as_percent: bool = True,
) -> str:
    """Alt text: the dates, where the line went, the median and each signal, in sentences."""
    if not points:
        return f"Run chart: {title}. {NO_DATA}: nothing has been recorded, so nothing is plotted."
    dates = [when for when, _ in points]
    values = [value for _, value in points]

    def fmt(value: float) -> str:
        return _format_value(value, as_percent)

    if len(points) == 1:
        sentences = [
            f"Run chart: {title}. One week so far, {_long_date(dates[0])}: {fmt(values[0])}."
        ]
    else:
        first, last = values[0], values[-1]
        if last > first:
            movement = f"rose from {fmt(first)} to {fmt(last)}"
        elif last < first:
            movement = f"fell from {fmt(first)} to {fmt(last)}"
        else:
            movement = f"started and ended at {fmt(first)}"
        sentences = [
            f"Run chart: {title}, from {_long_date(dates[0])} to {_long_date(dates[-1])} "
            f"({plural(len(points), 'week')}).",
            f"It {movement} (lowest {fmt(min(values))}, highest {fmt(max(values))})"
            + (f"; the median is {fmt(analysis.median)}." if analysis.median is not None else "."),
        ]
    phrases = [
        _describe_signal(signal, analysis, dates, values, fmt) for signal in analysis.signals
    ]
    if phrases:
        sentences.append("Signals: " + "; ".join(phrases) + ".")
    elif len(points) > 1:
        sentences.append("No signals of non-random change.")
    shown = _notes_in_range(notes, dates[0], dates[-1])
    if shown:
        marked = "; ".join(f"{text} ({_long_date(when)})" for when, text in shown)
        sentences.append(f"Changes marked: {marked}.")
    return " ".join(sentences)


def describe_attendance(meetings: Sequence[tuple[date, int, int]], *, title: str) -> str:
    """Alt text: how many meetings, when, and attendance by group at the first and last."""
    if not meetings:
        return f"Attendance chart: {title}. {NO_DATA}: no meetings have been recorded."
    ordered = sorted(meetings)
    (first_date, first_lived, first_staff), (last_date, last_lived, last_staff) = (
        ordered[0],
        ordered[-1],
    )
    if len(ordered) == 1:
        return (
            f"Attendance chart: {title}. 1 meeting, on {_long_date(first_date)}: "
            f"{first_lived} service users and carers, {first_staff} staff."
        )
    return (
        f"Attendance chart: {title}. {len(ordered)} meetings from {_long_date(first_date)} "
        f"to {_long_date(last_date)}; service users and carers: {first_lived} at the first, "
        f"{last_lived} at the last (highest {max(m[1] for m in ordered)}); staff: {first_staff} at "
        f"the first, {last_staff} at the last (highest {max(m[2] for m in ordered)})."
    )


def _check_points(points: Sequence[tuple[date, float]], analysis: RunChartAnalysis) -> None:
    """Refuse points out of date order or signals naming points that don't exist."""
    dates = [when for when, _ in points]
    if any(later <= earlier for earlier, later in pairwise(dates)):
        # Signal indices count points in the order given, so sorting here would misplace them.
        raise ValueError("run chart points must be in date order, one per date")
    for signal in analysis.signals:
        if any(not 0 <= i < len(points) for i in signal.indices):
            raise ValueError(f"{signal.rule} signal names a point that isn't there")


def _new_figure(title: str) -> tuple[Figure, Axes]:
    """A blank figure of our size with one set of axes and the title."""
    # Constrained layout makes room for the legend below the axes and the rotated labels.
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    # People's words (site and forum names) are text, never matplotlib's $maths$.
    axes.set_title(title, fontsize=14, loc="left", parse_math=False)
    axes.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _draw_no_data(axes: Axes) -> None:
    """Say plainly in the middle of empty axes that there is nothing yet."""
    axes.set_xticks([])
    axes.text(
        0.5,
        0.5,
        NO_DATA,
        transform=axes.transAxes,
        ha="center",
        va="center",
        fontsize=16,
        color=GREY,
        gid="no-data",
    )


def _set_value_axis(axes: Axes, values: Sequence[float], *, as_percent: bool) -> None:
    """Shares on a 0 to 100% axis; other measures from 0 (or below, if any are) upward."""
    if as_percent:
        axes.set_ylim(min([0.0, *values]), max([1.0, *values]))
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    elif values:
        axes.set_ylim(min([0.0, *values]), max([0.0, *values]) * 1.1 or 1.0)


def _set_date_axis(axes: Axes, dates: Sequence[date]) -> None:
    """Ticks and limits for dates: month names over months, the days themselves over weeks."""
    span = (dates[-1] - dates[0]).days
    if span >= 56:
        # About eight to twelve month labels at most, so they never collide.
        axes.xaxis.set_major_locator(MonthLocator(interval=max(1, math.ceil(span / 365))))
        axes.xaxis.set_major_formatter(DateFormatter("%b %Y"))
    else:
        axes.xaxis.set_major_locator(FixedLocator([date2num(d) for d in dates]))
        axes.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _pos: _short_date(num2date(x).date()))
        )
    pad = timedelta(days=max(4, round(span * 0.02)))
    axes.set_xlim(dates[0] - pad, dates[-1] + pad)


def _draw_notes(
    axes: Axes, notes: Sequence[tuple[date, str]], points: Sequence[tuple[date, float]]
) -> None:
    """Each change as a dashed vertical line, its words written along it where the data isn't."""
    low, high = axes.get_ylim()
    for number, (when, text) in enumerate(notes):
        axes.axvline(
            when,
            color=GREY,
            linestyle="--",
            linewidth=1.2,
            gid="note",
            zorder=1,
            label="Change made" if number == 0 else "_nolegend_",
        )
        # The words sit just left of the line: look at the data there (about three weeks
        # before, one after) and write from the top or the bottom, whichever has more room.
        nearby = [
            (value - low) / (high - low)
            for moment, value in points
            if when - timedelta(weeks=3) <= moment <= when + timedelta(weeks=1)
        ] or [0.5]
        at_top = 1 - max(nearby) >= min(nearby)
        axes.text(
            when,
            0.97 if at_top else 0.03,
            # Two short lines rather than one long one cross less of the data.
            "\n".join(textwrap.wrap(text, width=24)) or text,
            transform=axes.get_xaxis_transform(),
            rotation=90,
            ha="right",
            va="top" if at_top else "bottom",
            fontsize=9,
            color=GREY,
            gid="note",
            parse_math=False,  # an organiser's note ("Budget $5k to $3k") is plain text
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )


def _notes_in_range(
    notes: Sequence[tuple[date, str]], first: date, last: date
) -> list[tuple[date, str]]:
    """The notes dated within the chart's dates, in date order."""
    return sorted((when, text) for when, text in notes if first <= when <= last)


def _signal_indices(signals: Sequence[Signal]) -> dict[str, list[int]]:
    """The points of each drawable rule, in drawing order (largest marker first)."""
    found: dict[str, set[int]] = {rule: set() for rule in SIGNAL_STYLES}
    for signal in signals:
        if signal.rule in found:
            found[signal.rule].update(signal.indices)
    return {rule: sorted(indices) for rule, indices in found.items() if indices}


def _runs_message(analysis: RunChartAnalysis) -> str | None:
    """'Too few runs: 4 runs where 11 to 22 were expected', if a runs signal was found."""
    if not any(signal.rule == "runs" for signal in analysis.signals):
        return None
    phrase = _runs_phrase(analysis)
    return phrase[0].upper() + phrase[1:]


def _runs_phrase(analysis: RunChartAnalysis) -> str:
    """'too few runs: 4 runs where 11 to 22 were expected'."""
    if analysis.runs_limits is None:
        return "an unusual number of runs"
    low, high = analysis.runs_limits
    which = "too few runs" if analysis.runs < low else "too many runs"
    return f"{which}: {plural(analysis.runs, 'run')} where {low} to {high} were expected"


def _describe_signal(
    signal: Signal,
    analysis: RunChartAnalysis,
    dates: Sequence[date],
    values: Sequence[float],
    fmt: Callable[[float], str],
) -> str:
    """One signal in words, with its dates and values."""
    indices = sorted(signal.indices)
    if signal.rule == "runs":
        return _runs_phrase(analysis)
    if not indices:
        return signal.description
    start, end = indices[0], indices[-1]
    span = f"from {_long_date(dates[start])} to {_long_date(dates[end])}"
    if signal.rule == "shift" and analysis.median is not None:
        side = "above" if values[start] > analysis.median else "below"
        return f"a shift of {plural(len(indices), 'week')} {side} the median {span}"
    if signal.rule == "trend":
        direction = "rising" if values[end] > values[start] else "falling"
        return (
            f"a trend of {plural(len(indices), 'week')} {direction} from {fmt(values[start])} "
            f"on {_long_date(dates[start])} to {fmt(values[end])} on {_long_date(dates[end])}"
        )
    if signal.rule == "astronomical":
        points = ", ".join(f"{fmt(values[i])} on {_long_date(dates[i])}" for i in indices)
        return f"an astronomical (unusually far from the rest) point: {points}"
    return signal.description


def _format_value(value: float, as_percent: bool) -> str:
    """45% for a share of 0.45; otherwise the number with at most one decimal."""
    if as_percent:
        return f"{value * 100:.0f}%"
    return f"{value:.1f}".removesuffix(".0")


def _long_date(when: date) -> str:
    """'2 March 2026'."""
    return f"{when.day} {when:%B %Y}"


def _short_date(when: date) -> str:
    """'2 Mar 2026'."""
    return f"{when.day} {when:%b %Y}"
