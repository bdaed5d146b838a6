"""Drawing run charts and attendance charts headless with matplotlib (loaded only to draw)."""

from __future__ import annotations

import io
import math
import textwrap
import threading
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

# Figure + FigureCanvasAgg, never pyplot: pyplot keeps a global "current figure" and backend
# that are shared by every thread, while a Figure we own is private to the call drawing it.
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import GraphicsContextBase
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.dates import DateFormatter, MonthLocator, date2num, num2date
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.text import Text
from matplotlib.textpath import text_to_path
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    MaxNLocator,
    MultipleLocator,
    PercentFormatter,
)
from matplotlib.transforms import Affine2D, Transform, offset_copy
from PIL import Image as PngImage

from handlers.evidence.chart_spec import (
    DPI,
    FIGURE_SIZE,
    NO_DATA,
    check_points,
    format_value,
    notes_in_range,
    runs_phrase,
    short_date,
)

if TYPE_CHECKING:
    from handlers.evidence.run_chart import RunChartAnalysis, Signal

# Okabe-Ito: told apart by people with the common kinds of colour blindness.
BLACK = "#000000"
ORANGE = "#E69F00"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#555555"  # not a signal colour: notes and "No data yet", like the axes' words


# Each signal gets its own marker shape as well as its own colour, so it never relies on
# colour alone. A week can be in several signals (a shift and a trend), so the marks nest
# rather than stack: a hollow square around the point, a small filled triangle on it, and a
# wide hollow octagon around both; each stays whole and visible whatever else is drawn there.
SIGNAL_STYLES: dict[str, tuple[str, str, float, str, bool]] = {
    # rule: (legend label, colour, marker size in points, marker, hollow)
    "shift": ("Shift: 6 or more points on one side of the baseline", VERMILLION, 14, "s", True),
    "trend": ("Trend: 5 or more points rising or falling", REDDISH_PURPLE, 8, "^", False),
    "astronomical": ("Astronomical point", ORANGE, 24, "8", True),
}
# The octagon turned so a corner faces each of the square's: the two never touch.
OCTAGON_TURNED = MarkerStyle("8", transform=Affine2D().rotate_deg(22.5))
SIGNAL_EDGE = 2.0  # points: the hollow marks' outline, thick enough to see once pasted small
# Marks are this size when weeks are at least WEEK_ROOM points apart; more weeks squeeze the
# marks, down to MIN_MARK_SCALE, so neighbouring squares don't merge into a bar.
WEEK_ROOM = 16.0
MIN_MARK_SCALE = 0.65

# Words are sized for a board report: a 10 inch chart pasted across an A4 page in Word (6.3
# inches inside its margins) prints 12 points as 7.5, about the smallest most people can read.
TEXT_SIZE = 12.0
TITLE_SIZE = 15.0
SMALLEST_TITLE_SIZE = 13.0  # a long title is made smaller down to this, then wrapped
NOTE_SIZE = 11.0  # changes marked, "data up to", "so far this week": said once, smaller

SO_FAR = "so far this week"


X_LABEL_GAP = 25.0  # points
Y_LABEL_GAP = 46.0  # points
SUBTITLE_GAP = 8.0  # points above the axes: room for a mark at 100% drawn over the edge
TITLE_PAD = 28.0  # points from the axes to the title's foot: over the "data up to" line

# Margins in inches, fixed rather than found by a layout engine (which draws the whole figure
# once more to measure it, more than doubling the cost of a chart). Measured on the longest
# words we draw: "100%" and the y label on the left, month names and "Week" below, and half a
# date label past the last tick on the right; above, the title and the "data up to" line; each
# legend row takes LEGEND_ROW below that, each extra line of title TITLE_LINE above.
MARGIN_LEFT = 0.95
MARGIN_RIGHT = 0.45
MARGIN_RIGHT_SO_FAR = 1.0  # "so far / this week" beside today's point
MARGIN_TOP = 0.72
MARGIN_BOTTOM = 0.62
LEGEND_ROW = 0.27
LEGEND_BOTTOM = 0.04
TITLE_LINE = 0.25


def render_png(figure: Figure, *, scale: float = 1.0) -> bytes:
    """The figure as PNG bytes, drawn by Agg (no screen needed); `scale` < 1 draws it smaller.

    Smaller by drawing at a lower resolution, not by shrinking the picture: same layout,
    text still crisp (1000 x 500 at scale 5/6, within Teams' 1024 pixels).
    """
    figure.set_dpi(DPI * scale)
    buffer = io.BytesIO()
    with _DRAWING:
        # One pass: no layout engine (the margins are fixed, see _axes_box) and no
        # bbox_inches="tight", each of which would cost a second, hidden drawing.
        canvas = _ReusingCanvas(figure)
        canvas.draw()
        pixels = PngImage.frombuffer(
            "RGBA", canvas.get_width_height(physical=True), canvas.buffer_rgba(), "raw"
        )
        # Opaque (the figure is white), so RGB: a quarter less to compress. The least zlib
        # effort: a chart is flat colours, so the file is about as small as at the default
        # level (83 kB against 90 kB for a year's chart) and written in half the time.
        pixels.convert("RGB").save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


# One drawing at a time in this process: drawing is Python and Agg under the GIL, so two at
# once only take twice as long each (and twice the memory); and it lets one Agg renderer, with
# matplotlib's text measurements (cached per renderer), serve every drawing of the same size.
_DRAWING = threading.Lock()
_renderers: dict[tuple[int, int, float], RendererAgg] = {}


class _ReusingCanvas(FigureCanvasAgg):
    """An Agg canvas that draws on the renderer kept for its size (cleared before each draw).

    A new renderer per figure would measure and draw every word again ("Mar 2026", the
    title, the legend's lines). Used only under _DRAWING.
    """

    def get_renderer(self) -> RendererAgg:
        """The kept renderer for this size and resolution, made the first time."""
        width, height = self.get_width_height(physical=True)
        key = (width, height, float(self.figure.dpi))
        renderer = _renderers.get(key)
        if renderer is None:
            if len(_renderers) >= 4:  # full size, Teams' size: a few are plenty
                _renderers.clear()
            renderer = _renderers[key] = _WordsOnceRenderer(width, height, self.figure.dpi)
        self.renderer = renderer
        return renderer


class _WordsOnceRenderer(RendererAgg):
    """Agg that draws each piece of text once, then copies its pixels wherever it appears again.

    matplotlib draws text a glyph at a time in Python, and the same words (tick labels,
    the legend, the title) come back in every chart: drawn from scratch they were over a third
    of a chart's cost. A copy lands on whole pixels, at most half a pixel from where the
    glyphs would have gone: nobody can see it.
    """

    MAX_KEPT = 2000  # pieces of text (a chart has about 40): a bound, never reached in practice

    def __init__(self, width: int, height: int, dpi: float) -> None:
        super().__init__(width, height, dpi)
        self._drawn: dict[tuple[object, ...], tuple[np.ndarray, int, int] | None] = {}

    def draw_text(
        self,
        gc: GraphicsContextBase,
        x: float,
        y: float,
        s: str,
        prop: FontProperties,
        angle: float,
        ismath: bool | str = False,
        mtext: Text | None = None,
    ) -> None:
        """Copy the text's pixels if drawn before (level or upright text); else draw it."""
        alpha = gc.get_alpha()
        if ismath or angle not in (0, 90) or alpha not in (None, 1):
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
            return
        key = (
            s,
            hash(prop),  # size, family, weight, style: as matplotlib's own text caches key it
            angle,
            gc.get_rgb(),
            gc.get_antialiased(),
            mtext.get_fontfeatures() if mtext is not None else None,
            mtext.get_language() if mtext is not None else None,
        )
        if key not in self._drawn:
            if len(self._drawn) >= self.MAX_KEPT:
                self._drawn.clear()
            self._drawn[key] = self._draw_alone(gc, s, prop, angle, mtext)
        drawn = self._drawn[key]
        if drawn is not None:
            pixels, left, top = drawn
            # x, y: the text's origin, y downwards; draw_image wants the bottom, y upwards.
            bottom = round(y) + top + pixels.shape[0]
            self._renderer.draw_image(gc, round(x) + left, self.height - bottom, pixels)

    def _draw_alone(
        self,
        gc: GraphicsContextBase,
        s: str,
        prop: FontProperties,
        angle: float,
        mtext: Text | None,
    ) -> tuple[np.ndarray, int, int] | None:
        """The text drawn by itself at a whole-pixel origin: (its pixels, left, top from it)."""
        width, height, descent = self.get_text_width_height_descent(s, prop, ismath=False)
        pad = 4 + math.ceil(height)  # room for glyphs reaching past their measured box
        along, across = math.ceil(width) + 2 * pad, math.ceil(height) + 2 * pad
        above = math.ceil(height - descent)
        if angle == 90:  # reads upwards, starting at the origin; its top faces left
            size, origin = (across, along), (pad + above, along - pad)
        else:
            size, origin = (along, across), (pad, pad + above)
        alone = RendererAgg(size[0], size[1], self.dpi)  # transparent
        RendererAgg.draw_text(alone, gc, origin[0], origin[1], s, prop, angle, False, mtext)
        pixels = np.asarray(alone.buffer_rgba())
        rows = np.flatnonzero(pixels[..., 3].any(axis=1))
        columns = np.flatnonzero(pixels[..., 3].any(axis=0))
        if not rows.size:
            return None  # spaces only
        cropped = pixels[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        # Bottom row first, as draw_image takes it.
        return (
            np.ascontiguousarray(cropped[::-1]),
            int(columns[0]) - origin[0],
            int(rows[0]) - origin[1],
        )


def build_run_chart_figure(
    points: Sequence[tuple[date, float]],
    analysis: RunChartAnalysis,
    *,
    title: str,
    y_label: str,
    notes: Sequence[tuple[date, str]] = (),
    as_percent: bool = True,
    provisional: tuple[date, float] | None = None,
) -> Figure:
    """The run chart as a Figure, for run_chart to render and tests to inspect.

    Artists carry a gid ("data", "median", "signal-<rule>", "provisional", "note", "no-data",
    "data-up-to") so tests and readers can find them. Notes dated outside the points' first..last
    dates are left out: a line clamped to the edge would claim the change happened on a week it
    didn't. `provisional` is today's figure, after the last week's: drawn apart from the weeks
    (a hollow grey point), it is in neither the median nor any signal, which count whole weeks.
    """
    check_points(points, analysis)
    if provisional is not None and (not points or provisional[0] <= points[-1][0]):
        raise ValueError("today's figure must come after the last weekly figure")
    right = MARGIN_RIGHT_SO_FAR if provisional else MARGIN_RIGHT
    # Points are weeks (the share of projects) or longer periods (how involved people feel).
    x_label = "Week" if analysis.unit == "week" else f"{analysis.unit.capitalize()} starting"
    figure, axes = _new_figure(title, x_label=x_label, y_label=y_label, right=right)
    values = [value for _, value in points]
    shown = [*values, provisional[1]] if provisional else values
    _set_value_axis(axes, shown, as_percent=as_percent)
    if not points:
        _draw_no_data(axes)
        return figure

    dates = [when for when, _ in points]
    _data_up_to(figure, axes, _weeks_up_to(dates[-1], provisional, unit=analysis.unit))
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
        clip_on=False,  # a line at 0% or 100% is drawn whole, over the axes' edge
    )
    if analysis.median is not None:
        axes.axhline(
            analysis.median,
            color=BLACK,
            linewidth=1.2,
            # The chart's words call it the baseline (the median of the first weeks): so does this.
            label=f"Baseline {format_value(analysis.median, as_percent)}",
            gid="median",
            zorder=1,
        )
    last = provisional[0] if provisional else dates[-1]
    scale = _mark_scale(axes, figure, weeks=(last - dates[0]).days / 7 + 1)
    for rule, indices in _signal_indices(analysis.signals).items():
        label, colour, size, marker, hollow = SIGNAL_STYLES[rule]
        axes.plot(
            [dates[i] for i in indices],
            [values[i] for i in indices],
            linestyle="none",
            marker=OCTAGON_TURNED if marker == "8" else marker,
            markersize=size * scale,
            color=colour,
            markerfacecolor="none" if hollow else colour,
            markeredgecolor=colour if hollow else BLACK,
            markeredgewidth=SIGNAL_EDGE if hollow else 0.8,
            label=label,
            gid=f"signal-{rule}",
            zorder=4 if hollow else 5,  # over the line; the small filled mark on top
            clip_on=False,  # a point at 0% or 100% sits on the frame; show all of it
        )
    if provisional:
        _draw_provisional(axes, points[-1], provisional)
    _draw_notes(axes, notes_in_range(notes, dates[0], dates[-1]), points)
    _set_date_axis(axes, dates, last=last)

    handles, labels = axes.get_legend_handles_labels()
    runs = _runs_message(analysis)
    if runs:
        # A runs signal is about the whole series, not some points: a legend line with no mark.
        handles.append(Line2D([], [], linestyle="none", gid="signal-runs"))
        labels.append(runs)
    _add_legend(figure, axes, handles, labels)
    return figure


def build_attendance_figure(meetings: Sequence[tuple[date, int, int]], *, title: str) -> Figure:
    """Attendance per meeting as a Figure: two lines with their own colour, marker and dashes."""
    figure, axes = _new_figure(title, x_label="Meeting date", y_label="People")
    if not meetings:
        _set_count_axis(axes, top=10)
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
    _set_count_axis(axes, top=max(5, math.ceil(top * 1.1)))
    _set_meeting_axis(figure, axes, dates)
    _data_up_to(figure, axes, f"Meetings up to {_day_named(dates[-1])}")
    _add_legend(figure, axes, *axes.get_legend_handles_labels())
    return figure


def _draw_provisional(
    axes: Axes, last_week: tuple[date, float], provisional: tuple[date, float]
) -> None:
    """Today's figure: a hollow grey point, dotted from the last week's, labelled as not final."""
    when, value = provisional
    axes.plot(
        [last_week[0], when],
        [last_week[1], value],
        color=GREY,
        linestyle=":",
        linewidth=1.5,
        gid="provisional-link",
        zorder=2,
        clip_on=False,
    )
    axes.plot(
        [when],
        [value],
        linestyle="none",
        marker="o",
        markersize=9,
        markerfacecolor="white",
        markeredgecolor=GREY,
        markeredgewidth=2,
        label=f"{SO_FAR.capitalize()} ({when.day} {when:%b}): not a weekly figure yet",
        gid="provisional",
        zorder=6,
        clip_on=False,
    )
    # Its words to its right, in the room kept there (MARGIN_RIGHT_SO_FAR): nothing is drawn
    # after today, so they never cross the data.
    axes.annotate(
        SO_FAR.replace(" this", "\nthis"),
        (when, value),
        xytext=(9, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=NOTE_SIZE,
        color=GREY,
        gid="provisional",
        annotation_clip=False,
    )


def _weeks_up_to(
    last_week: date, provisional: tuple[date, float] | None, *, unit: str = "week"
) -> str:
    """'Weekly figures up to 30 November 2026' (', and so far this week, to 3 December')."""
    figures = "Weekly figures" if unit == "week" else f"Figures for each {unit}"
    words = f"{figures} up to {_day_named(last_week)}"
    if provisional:
        words += f", and {SO_FAR}, up to {_day_named(provisional[0])}"
    return words


def _day_named(when: date) -> str:
    """'Monday 30 November 2026'."""
    return f"{when:%A} {when.day} {when:%B %Y}"


def _data_up_to(figure: Figure, axes: Axes, words: str) -> None:
    """How recent the data is, in grey under the title: a pasted chart still says its date."""
    axes.text(
        0,
        1,
        words,
        transform=_shifted(figure, axes, 0, SUBTITLE_GAP),
        ha="left",
        va="bottom",
        fontsize=NOTE_SIZE,
        color=GREY,
        gid="data-up-to",
        parse_math=False,
    )


def _mark_scale(axes: Axes, figure: Figure, *, weeks: float) -> float:
    """How much smaller to draw signal marks so those of neighbouring weeks stay apart."""
    width = axes.get_position().width * figure.get_figwidth() * 72  # points
    return min(1.0, max(MIN_MARK_SCALE, width / max(weeks, 1) / WEEK_ROOM))


def _new_figure(
    title: str, *, x_label: str, y_label: str, right: float = MARGIN_RIGHT
) -> tuple[Figure, Axes]:
    """A blank figure of our size with one set of axes, the title and the axes' names."""
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    title, title_size = _fitted_title(title)
    lines = title.count("\n") + 1
    axes = figure.add_axes(_axes_box(legend_rows=0, title_lines=lines, right=right))
    # People's words (site and forum names) are text, never matplotlib's $maths$.
    axes.set_title(title, fontsize=title_size, loc="left", y=1.0, pad=TITLE_PAD, parse_math=False)
    axes.set_xlabel(x_label, fontsize=TEXT_SIZE)
    axes.set_ylabel(y_label, fontsize=TEXT_SIZE)
    axes.tick_params(labelsize=TEXT_SIZE)
    # Fixed places, in points from the axes, for the title (y above) and the axes' names:
    # left to itself, matplotlib measures every tick label again at each draw to place them.
    # The x name sits below the tick labels (one line of text); the y name left of the widest
    # ("100%", or a count of up to four digits).
    axes.xaxis.set_label_coords(0.5, 0, transform=_shifted(figure, axes, 0, -X_LABEL_GAP))
    axes.yaxis.set_label_coords(0, 0.5, transform=_shifted(figure, axes, -Y_LABEL_GAP, 0))
    axes.grid(axis="y", color="#DDDDDD", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _fitted_title(title: str) -> tuple[str, float]:
    """The title and its size: smaller if it is too wide for the chart, then on two lines.

    A title longer than the picture (a long site or forum name) would be cut off at its edge.
    """
    # Points from the axes' left edge to the picture's right, less a little.
    room = (FIGURE_SIZE[0] - MARGIN_LEFT - 0.1) * 72
    for size in (TITLE_SIZE, (TITLE_SIZE + SMALLEST_TITLE_SIZE) / 2, SMALLEST_TITLE_SIZE):
        if _text_width(title, size) <= room:
            return title, size
    # Two lines of about equal length, at the smaller size (three would crowd the chart).
    width = _text_width(title, SMALLEST_TITLE_SIZE)
    wrapped = textwrap.wrap(title, width=math.ceil(len(title) * room / width) - 1)
    if len(wrapped) > 2:
        wrapped = [wrapped[0], " ".join(wrapped[1:])]
    return "\n".join(wrapped), SMALLEST_TITLE_SIZE


def _text_width(words: str, size: float) -> float:
    """How wide `words` are in points, at `size`, in matplotlib's default font."""
    width, _, _ = text_to_path.get_text_width_height_descent(
        words, FontProperties(size=size), ismath=False
    )
    return width


def _shifted(figure: Figure, axes: Axes, right: float, up: float) -> Transform:
    """The axes' own coordinates, moved by a fixed number of points (at any resolution)."""
    return offset_copy(axes.transAxes, figure, x=right, y=up, units="points")


def _axes_box(
    *, legend_rows: int, title_lines: int = 1, right: float = MARGIN_RIGHT
) -> tuple[float, float, float, float]:
    """Where the axes sit (left, bottom, width, height, as shares of the figure)."""
    width, height = FIGURE_SIZE
    bottom = MARGIN_BOTTOM + (LEGEND_BOTTOM + legend_rows * LEGEND_ROW if legend_rows else 0)
    top = MARGIN_TOP + (title_lines - 1) * TITLE_LINE
    return (
        MARGIN_LEFT / width,
        bottom / height,
        1 - (MARGIN_LEFT + right) / width,
        1 - (bottom + top) / height,
    )


def _add_legend(figure: Figure, axes: Axes, handles: list[Artist], labels: list[str]) -> None:
    """The legend in two columns below the axes, which move up to make room for its rows."""
    rows = math.ceil(len(labels) / 2)
    title_lines = axes.get_title(loc="left").count("\n") + 1
    left, _, width, _ = axes.get_position().bounds  # as placed: keeps room kept on the right
    right = FIGURE_SIZE[0] * (1 - left - width)
    axes.set_position(_axes_box(legend_rows=rows, title_lines=title_lines, right=right))
    figure.legend(
        handles,
        labels,
        loc="lower center",
        bbox_to_anchor=(0.5, LEGEND_BOTTOM / FIGURE_SIZE[1]),
        ncols=2,
        frameon=False,
        fontsize=TEXT_SIZE,
    )


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


# Room above and below the values, as a share of the axis: a line at 0% or 100% is drawn
# clear of the axes' edge (the frame would otherwise hide half of it).
VALUE_MARGIN = 0.05


def _set_value_axis(axes: Axes, values: Sequence[float], *, as_percent: bool) -> None:
    """Shares on a 0 to 100% axis; other measures from 0 (or below, if any are) upward."""
    if as_percent:
        low, high = min([0.0, *values]), max([1.0, *values])
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ticks = MultipleLocator(0.2).tick_values(low, high)
    elif values:
        low, high = min([0.0, *values]), max([0.0, *values]) * 1.1 or 1.0
        ticks = MaxNLocator().tick_values(low, high)
    else:
        return
    _set_limits(axes, low, high, ticks)


def _set_count_axis(axes: Axes, *, top: int) -> None:
    """People counted: whole numbers from 0 to `top`."""
    _set_limits(axes, 0, top, MaxNLocator(integer=True).tick_values(0, top))


def _set_limits(axes: Axes, low: float, high: float, ticks: Sequence[float]) -> None:
    """The axis from `low` to `high` with a little room each side, ticked only between them."""
    room = (high - low) * VALUE_MARGIN
    axes.set_ylim(low - room, high + room)
    # Fixed ticks: without them the room would be ticked (a "-5%" under the 0%).
    axes.yaxis.set_major_locator(
        FixedLocator([tick for tick in ticks if low - 1e-9 <= tick <= high + 1e-9])
    )


MONTH_ROOM = 0.95  # inches between the centres of two month names ("Sep 2026" at 12 points)


def _set_date_axis(axes: Axes, dates: Sequence[date], *, last: date | None = None) -> None:
    """Ticks and limits for dates: month names over months, the days themselves over weeks.

    `last`, if later than the dates, is a point drawn after them (today's): in view, unticked.
    """
    end = max(dates[-1], last or dates[-1])
    span = (end - dates[0]).days
    pad = timedelta(days=max(4, round(span * 0.02)))
    first, last = dates[0] - pad, end + pad
    if span >= 56:
        # As many month names as fit side by side (a year's thirteen first-of-the-months
        # don't: then every other month is named), so they never touch.
        month_starts = (last.year - first.year) * 12 + last.month - first.month + (first.day == 1)
        inches = axes.get_position().width * FIGURE_SIZE[0]
        most = max(1, math.floor(inches / MONTH_ROOM))
        axes.xaxis.set_major_locator(MonthLocator(interval=max(1, math.ceil(month_starts / most))))
        axes.xaxis.set_major_formatter(DateFormatter("%b %Y"))
    else:
        axes.xaxis.set_major_locator(FixedLocator([date2num(d) for d in dates]))
        axes.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _pos: short_date(num2date(x).date()))
        )
    axes.set_xlim(first, last)


LABEL_ROOM = 1.15  # inches between the centres of two dates named on the axis ("25 Sep 2026")


def _set_meeting_axis(figure: Figure, axes: Axes, dates: Sequence[date]) -> None:
    """A tick at each meeting, named by its date: the latest always, others as room allows."""
    span = max((dates[-1] - dates[0]).days, 1)
    pad = timedelta(days=max(4, round(span * 0.03)))
    first, last = dates[0] - pad, dates[-1] + pad
    axes.set_xlim(first, last)
    inches = axes.get_position().width * figure.get_figwidth()
    room = LABEL_ROOM * (last - first).days / inches  # days between two named meetings
    named: list[date] = []
    for when in reversed(dates):  # from the latest meeting, the one people ask about
        if not named or (named[-1] - when).days >= room:
            named.append(when)
    axes.xaxis.set_major_locator(FixedLocator([date2num(d) for d in dates]))
    names = {date2num(d): short_date(d) for d in named}
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: names.get(x, "")))


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
            fontsize=NOTE_SIZE,
            color=GREY,
            gid="note",
            parse_math=False,  # an organiser's note ("Budget $5k to $3k") is plain text
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )


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
    phrase = runs_phrase(analysis)
    return phrase[0].upper() + phrase[1:]
