"""Run charts and forum attendance charts as pictures: drawn when first asked for, once each.

What a chart says (its alt text) needs no drawing (handlers.evidence.chart_spec); the drawing
itself, with matplotlib, is in handlers.evidence.chart_drawing and is loaded only when a picture
is first drawn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from handlers.core.reply import Image
from handlers.evidence.chart_cache import drawn_charts
from handlers.evidence.chart_spec import (
    DPI,
    FIGURE_SIZE,
    check_points,
    describe_attendance,
    describe_run_chart,
    format_value,
)

if TYPE_CHECKING:
    from handlers.evidence.run_chart import RunChartAnalysis


def run_chart(
    points: Sequence[tuple[date, float]],
    analysis: RunChartAnalysis,
    *,
    title: str,
    y_label: str,
    notes: Sequence[tuple[date, str]] = (),
    as_percent: bool = True,
    provisional: tuple[date, float] | None = None,
) -> Image:
    """A weekly run chart as a PNG, with alt text saying what a sighted reader would see.

    `provisional` is today's figure, drawn apart after the weeks; left out if a week's own
    figure is already drawn on or after its day (the week's figure was taken today).
    """
    check_points(points, analysis)  # refused now, not later when it is drawn
    if provisional is not None and (not points or provisional[0] <= points[-1][0]):
        provisional = None
    alt_text = describe_run_chart(points, analysis, title=title, notes=notes, as_percent=as_percent)
    if provisional is not None:
        # Said as it is drawn: apart from the weeks, and counted in no rule.
        alt_text += (
            f" Drawn apart after them, so far this week ({provisional[0].day} "
            f"{provisional[0]:%B %Y}): {format_value(provisional[1], as_percent)}."
        )
    points, notes = list(points), list(notes)  # drawn later: keep the data as it is now
    drawn_from = _digest(
        "run chart",
        FIGURE_SIZE,
        DPI,
        points,
        analysis,
        title,
        y_label,
        notes,
        as_percent,
        provisional,  # today's figure changes during the week: a new picture each time
    )

    def draw(scale: float = 1.0) -> bytes:
        def draw_now() -> bytes:
            from handlers.evidence import (
                chart_drawing as drawing,  # matplotlib loads when first drawn
            )

            figure = drawing.build_run_chart_figure(
                points,
                analysis,
                title=title,
                y_label=y_label,
                notes=notes,
                as_percent=as_percent,
                provisional=provisional,
            )
            return drawing.render_png(figure, scale=scale)

        return drawn_charts.get((drawn_from, scale), draw_now)

    return Image(
        draw=draw, title=title, alt_text=alt_text, filename="run-chart.png", drawn_from=drawn_from
    )


def attendance_chart(meetings: Sequence[tuple[date, int, int]], *, title: str) -> Image:
    """Forum attendance per meeting (service users and carers, staff) as a PNG with alt text."""
    alt_text = describe_attendance(meetings, title=title)
    meetings = list(meetings)
    drawn_from = _digest("attendance", FIGURE_SIZE, DPI, meetings, title)

    def draw(scale: float = 1.0) -> bytes:
        def draw_now() -> bytes:
            from handlers.evidence import (
                chart_drawing as drawing,  # matplotlib loads when first drawn
            )

            figure = drawing.build_attendance_figure(meetings, title=title)
            return drawing.render_png(figure, scale=scale)

        return drawn_charts.get((drawn_from, scale), draw_now)

    return Image(
        draw=draw,
        title=title,
        alt_text=alt_text,
        filename="forum-attendance.png",
        drawn_from=drawn_from,
    )


def _digest(*data: object) -> str:
    """A fingerprint of what a chart is drawn from (dates, numbers, words: all repr-stable).

    Everything the picture depends on goes in: its kind, size, data, words and options, so
    the same fingerprint means the same picture (the drawing cache and Slack's uploads rely
    on it).
    """
    return hashlib.sha256(repr(data).encode()).hexdigest()
