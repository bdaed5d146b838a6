"""What every chart is before anything is drawn: its size, its words (alt text) and checks.

Shared by handlers.evidence.charts (which asks for pictures) and
handlers.evidence.chart_drawing (which draws them with matplotlib), so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from itertools import pairwise
from typing import TYPE_CHECKING

from handlers.core.wording import plural

if TYPE_CHECKING:
    from handlers.evidence.run_chart import RunChartAnalysis, Signal


NO_DATA = "No data yet"
FIGURE_SIZE = (10.0, 5.0)  # inches
DPI = 120  # 1200 x 600 pixels: sharp in chat, quick to draw


def check_points(points: Sequence[tuple[date, float]], analysis: RunChartAnalysis) -> None:
    """Refuse points out of date order or signals naming points that don't exist."""
    dates = [when for when, _ in points]
    if any(later <= earlier for earlier, later in pairwise(dates)):
        # Signal indices count points in the order given, so sorting here would misplace them.
        raise ValueError("run chart points must be in date order, one per date")
    for signal in analysis.signals:
        if any(not 0 <= i < len(points) for i in signal.indices):
            raise ValueError(f"{signal.rule} signal names a point that isn't there")


def describe_run_chart(
    points: Sequence[tuple[date, float]],
    analysis: RunChartAnalysis,
    *,
    title: str,
    notes: Sequence[tuple[date, str]] = (),
    as_percent: bool = True,
) -> str:
    """Alt text: the dates, where the line went, the baseline and each signal, in sentences.

    It never repeats `title`: every platform shows the title beside it, and a screen reader
    would read it twice.
    """
    if not points:
        return f"Run chart. {NO_DATA}: nothing has been recorded, so nothing is plotted."
    dates = [when for when, _ in points]
    values = [value for _, value in points]

    def fmt(value: float) -> str:
        return format_value(value, as_percent)

    if len(points) == 1:
        sentences = [
            f"Run chart, one {analysis.unit} so far, {_long_date(dates[0])}: {fmt(values[0])}."
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
            f"Run chart from {_long_date(dates[0])} to {_long_date(dates[-1])} "
            f"({plural(len(points), analysis.unit)}).",
            f"It {movement} (lowest {fmt(min(values))}, highest {fmt(max(values))})"
            + (
                f"; the baseline is {fmt(analysis.median)}, {baseline_words(analysis, dates)}."
                if analysis.median is not None
                else "."
            ),
        ]
    # Each sign in the very sentence the chat says under the chart.
    sentences += [
        f"{signal_phrase(signal, analysis, dates, values, fmt)}." for signal in analysis.signals
    ]
    if not analysis.signals and len(points) > 1:
        sentences.append("No sign yet of change beyond the usual ups and downs.")
    shown = notes_in_range(notes, dates[0], dates[-1])
    if shown:
        marked = "; ".join(f"{text} ({_long_date(when)})" for when, text in shown)
        sentences.append(f"Changes marked: {marked}.")
    return " ".join(sentences)


def baseline_words(analysis: RunChartAnalysis, dates: Sequence[date]) -> str:
    """How the baseline was chosen: 'the middle value of the first 12 weeks, June to August'."""
    count = analysis.baseline or len(dates)
    if count <= 1:
        return f"the first {analysis.unit}'s figure ({_long_date(dates[0])})"
    first, last = dates[0], dates[count - 1]
    if (first.year, first.month) == (last.year, last.month):
        span = f"{first:%B %Y}"
    elif first.year == last.year:
        span = f"{first:%B} to {last:%B %Y}"
    else:
        span = f"{first:%B %Y} to {last:%B %Y}"
    figure = "weekly figure" if analysis.unit == "week" else f"{analysis.unit}'s figure"
    figures = "weekly figures" if analysis.unit == "week" else f"{analysis.unit}s' figures"
    return f"the middle value of the first {plural(count, figure, figures)}, {span}"


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


def notes_in_range(
    notes: Sequence[tuple[date, str]], first: date, last: date
) -> list[tuple[date, str]]:
    """The notes dated within the chart's dates, in date order."""
    return sorted((when, text) for when, text in notes if first <= when <= last)


def runs_phrase(analysis: RunChartAnalysis) -> str:
    """'too few runs: 4 runs where 11 to 22 were expected'."""
    if analysis.runs_limits is None:
        return "an unusual number of runs"
    low, high = analysis.runs_limits
    which = "too few runs" if analysis.runs < low else "too many runs"
    return f"{which}: {plural(analysis.runs, 'run')} where {low} to {high} were expected"


def _runs_counted(analysis: RunChartAnalysis) -> str:
    """'4 runs where 11 to 22 would be usual'."""
    if analysis.runs_limits is None:
        return plural(analysis.runs, "run")
    low, high = analysis.runs_limits
    return f"{plural(analysis.runs, 'run')} where {low} to {high} would be usual"


def signal_phrase(
    signal: Signal,
    analysis: RunChartAnalysis,
    dates: Sequence[date],
    values: Sequence[float],
    fmt: Callable[[float], str],
) -> str:
    """One signal as one short sentence with its dates (no full stop): the chat's and alt text's.

    'A lasting change (a shift): 9 weeks in a row above the baseline, from 8 June 2026 to
    3 August 2026'. What it means comes first in plain words, the QI name in brackets; its
    counts are the rule's own (Signal.counted), so the chat and the alt text agree.
    """
    indices = sorted(signal.indices)
    unit = analysis.unit
    if signal.rule == "runs":
        if signal.direction > 0 or (
            analysis.runs_limits is not None and analysis.runs > analysis.runs_limits[1]
        ):
            return (
                "Crossing the baseline more often than chance would (too many runs): "
                f"{_runs_counted(analysis)}"
            )
        return (
            f"Long stretches on one side of the baseline (too few runs): {_runs_counted(analysis)}"
        )
    if not indices:
        return signal.description.rstrip(".")
    start, end = indices[0], indices[-1]
    counted = signal.counted or len(indices)
    span = f"from {_long_date(dates[start])} to {_long_date(dates[end])}"
    if signal.rule == "shift" and analysis.median is not None:
        above = signal.direction > 0 or (not signal.direction and values[start] > analysis.median)
        side = "above" if above else "below"
        weeks = end - start + 1
        skipped = (
            f", not counting {plural(weeks - counted, unit)} exactly on it"
            if weeks > counted
            else ""
        )
        return (
            f"A lasting change (a shift): {plural(counted, unit)} in a row {side} the "
            f"baseline{skipped}, {span}"
        )
    if signal.rule == "trend":
        rising = signal.direction > 0 or (not signal.direction and values[end] > values[start])
        way = "up" if rising else "down"
        moved = f"from {fmt(values[start])} on {_long_date(dates[start])} to {fmt(values[end])} "
        moved += f"on {_long_date(dates[end])}"
        weeks = end - start + 1
        if weeks > counted:
            each = "higher" if rising else "lower"
            return (
                f"A steady change (a trend): going {way} over {plural(weeks, unit)}, {moved}, "
                f"{counted} different figures in a row each {each} than the last"
            )
        return f"A steady change (a trend): {plural(counted, unit)} in a row going {way}, {moved}"
    if signal.rule == "astronomical":
        shown = ", ".join(f"{fmt(values[i])} on {_long_date(dates[i])}" for i in indices)
        return f"An unusual {unit}, worth checking: {shown} is far from all the other {unit}s"
    return signal.description.rstrip(".")


def format_value(value: float, as_percent: bool) -> str:
    """45% for a share of 0.45; otherwise the number with at most one decimal."""
    if as_percent:
        return f"{value * 100:.0f}%"
    return f"{value:.1f}".removesuffix(".0")


def _long_date(when: date) -> str:
    """'2 March 2026'."""
    return f"{when.day} {when:%B %Y}"


def short_date(when: date) -> str:
    """'2 Mar 2026'."""
    return f"{when.day} {when:%b %Y}"
