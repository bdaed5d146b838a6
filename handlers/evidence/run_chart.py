"""The run-chart rules QI teams use to tell a real change from chance, in plain English.

Pure: numbers in, findings out (no database, no chat, no drawing). The rules are the four in
Perla, Provost & Murray, "The run chart: a simple analytical tool for learning from variation
in healthcare processes", BMJ Quality & Safety 2011;20:46-51, which are those of Provost &
Murray, The Health Care Data Guide (2011), and of IHI's QI 104 course:

- **Shift**: 6 or more points in a row all above, or all below, the median. Points exactly on
  the median neither add to a shift nor break it.
- **Trend**: 5 or more points in a row all going up, or all going down. Equal consecutive
  values ("like values") count as one point: they neither add to a trend nor break it.
- **Runs**: a run is one or more points in a row on the same side of the median (points on the
  median are skipped). Too few or too many runs, for the number of points not on the median
  (the "useful observations"), is a signal. There is no runs judgement below 10 useful
  observations, where the table starts. See `runs_limits` for how the limits are found.
- **Astronomical point**: the literature leaves it to judgement ("obviously, even blatantly,
  different"), so this module uses a stated, deliberately cautious heuristic; see
  `astronomical_points`.

Points count as "on the median" when they equal it to within floating-point rounding
(relative 1e-9): the median of 0.1 and 0.2 is 0.15000000000000002 in binary, and a share of
0.15 must be on it, not above it. Like values for the trend rule are judged the same way.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise

SHIFT = "shift"
TREND = "trend"
RUNS = "runs"
ASTRONOMICAL = "astronomical"

SHIFT_LENGTH = 6
TREND_LENGTH = 5
MIN_USEFUL_FOR_RUNS = 10
# The baseline: the first 12 points, as run-chart guides advise (or all, while fewer).
BASELINE_POINTS = 12
# Each tail of the runs test: "about a 5% risk" (Perla et al. 2011, Table 1).
RUNS_TAIL_RISK = Fraction(5, 100)
MIN_POINTS_FOR_ASTRONOMICAL = 10
# How far from the median, in robust standard deviations (1.4826 x MAD), before a point may be
# called astronomical; and how clear of the ordinary points it must stand (a share of that
# distance). See astronomical_points.
ASTRONOMICAL_SPREADS = 5
ASTRONOMICAL_GAP = 0.5
_MAD_TO_SD = 1.4826  # a normal distribution's standard deviation is 1.4826 x its MAD

_REL_TOL = 1e-9
_ABS_TOL = 1e-12


@dataclass(frozen=True)
class Signal:
    """One finding on a run chart: which rule, which points, and what it means."""

    rule: str  # SHIFT | TREND | RUNS | ASTRONOMICAL
    indices: tuple[int, ...]  # 0-based positions of the points involved; () for RUNS
    description: str  # what was found, one short sentence in plain English
    # How many points the rule counted: a trend counts a value repeated straight after itself
    # once, so it can span more points than it counts. Every text about the signal says this
    # number (0: len(indices)), so the chat's words and the chart's alt text agree.
    counted: int = 0
    # +1 above the median, going up or too many runs; -1 below, down or too few; 0 unsaid.
    direction: int = 0


@dataclass(frozen=True)
class RunChartAnalysis:
    """The median a chart is read against, the runs count and every signal found."""

    median: float | None  # None when there are no points
    useful_observations: int  # points not on the median
    runs: int  # runs: stretches of points on one side of the median
    runs_limits: tuple[int, int] | None  # (fewest, most) runs expected by chance
    signals: tuple[Signal, ...]  # shifts, trends, runs, astronomical points, in that order
    baseline: int = 0  # how many of the first points the median is taken from (0: all)
    unit: str = "week"  # what one point is ("week", "period"): how the words count them


def analyse(
    values: Sequence[float], *, baseline: int | None = None, unit: str = "point"
) -> RunChartAnalysis:
    """Apply the four run-chart rules to a series in time order.

    `baseline`: judge against the median of the first `baseline` points only (a frozen
    baseline median); by default the median of all points. `unit` names one point in the
    descriptions ("week" gives "6 weeks in a row above the median"); the plural adds an "s".
    """
    points = [float(value) for value in values]
    if any(not math.isfinite(value) for value in points):
        raise ValueError("run chart values must be finite numbers")
    if baseline is not None and not 1 <= baseline <= len(points):
        raise ValueError(f"baseline must be between 1 and {len(points)} points, not {baseline}")
    if not unit:
        raise ValueError("unit must name one point, e.g. 'week'")
    if not points:
        return RunChartAnalysis(None, 0, 0, None, ())

    median = float(statistics.median(points[:baseline] if baseline else points))
    sides = [_side(value, median) for value in points]
    useful = [(index, side) for index, side in enumerate(sides) if side]
    runs = _count_runs(useful)
    limits = runs_limits(len(useful))
    signals = [
        *_shifts(useful, sides, unit),
        *_trends(points, unit),
        *_runs_signal(runs, limits, len(useful), unit),
        *(
            Signal(
                ASTRONOMICAL,
                (index,),
                _astronomical_text(index, points[index], unit),
                1,
                1 if points[index] > median else -1,
            )
            for index in astronomical_points(points)
        ),
    ]
    return RunChartAnalysis(
        median, len(useful), runs, limits, tuple(signals), baseline or 0, unit=unit
    )


def baseline_points(count: int) -> int:
    """How many first points a run chart's baseline median is taken from: 12, or all if fewer.

    QI practice: the median of the first 12 points, frozen and carried on, is what later
    points are judged against; with fewer points so far, all of them.
    """
    return min(count, BASELINE_POINTS)


@lru_cache(maxsize=512)
def runs_limits(useful_observations: int) -> tuple[int, int] | None:
    """(fewest, most) runs expected by chance; fewer or more is a signal. None below 10.

    Computed exactly, not copied from a table: the number of runs among `n` points, half above
    the median and half below (one more below when `n` is odd), follows the Swed & Eisenhart
    (1943) distribution (`runs_probabilities`). The lower limit is the largest count that
    chance reaches or goes below at most 5% of the time, the upper the smallest that chance
    reaches or exceeds at most 5% of the time, and, as in Perla et al. 2011 Table 1, a signal
    is strictly fewer than the lower limit or strictly more than the upper. The same rule
    carries on past the table's last row, 60, with the same risk. Like the table, the limits
    depend only on the number of useful observations, even when a frozen baseline median
    leaves more of them on one side than the other.

    Checked against a reproduction of Perla's Table 1 for 10 to 40 useful observations (we
    could not read the paper's own table): the same limits at 23 of those 31 rows, including
    every even row but 30. At 15, 17, 23, 25, 30, 33, 35 and 37 one or both limits differ by
    one run. No single risk level reproduces all 31 rows (the best reproduces 24), and its row
    30 is lopsided, 11 to 22, although with 15 points each side the distribution is
    symmetric, so we keep the exact values rather than copy those rows.
    """
    if useful_observations < MIN_USEFUL_FOR_RUNS:
        return None
    below = useful_observations - useful_observations // 2
    probabilities = runs_probabilities(useful_observations // 2, below)
    counts = sorted(probabilities)
    lower = upper = 0
    tail = Fraction(0)
    for runs in counts:
        tail += probabilities[runs]
        if tail > RUNS_TAIL_RISK:
            break
        lower = runs
    tail = Fraction(0)
    for runs in reversed(counts):
        tail += probabilities[runs]
        if tail > RUNS_TAIL_RISK:
            break
        upper = runs
    return lower, upper


@lru_cache(maxsize=512)
def runs_probabilities(above: int, below: int) -> dict[int, Fraction]:
    """Exact chance of each number of runs when `above` and `below` points are in random order.

    Swed & Eisenhart (1943): with m above and n below, 2k runs happen in
    2 C(m-1, k-1) C(n-1, k-1) of the C(m+n, m) orders, and 2k+1 runs in
    C(m-1, k) C(n-1, k-1) + C(m-1, k-1) C(n-1, k).
    """
    if above < 1 or below < 1:
        raise ValueError("runs need at least one point on each side of the median")
    orders = math.comb(above + below, above)
    probabilities = {}
    for runs in range(2, above + below + 1):
        k = runs // 2
        if runs % 2 == 0:
            ways = 2 * math.comb(above - 1, k - 1) * math.comb(below - 1, k - 1)
        else:
            ways = math.comb(above - 1, k) * math.comb(below - 1, k - 1) + math.comb(
                above - 1, k - 1
            ) * math.comb(below - 1, k)
        if ways:
            probabilities[runs] = Fraction(ways, orders)
    return probabilities


def astronomical_points(values: Sequence[float]) -> tuple[int, ...]:
    """Positions of points so far from all the others that they need a look (a heuristic).

    Perla et al. define an astronomical point only as one "obviously, even blatantly,
    different" from the rest, which everyone would agree is unusual; run-chart guides add that
    not every highest or lowest point is one. There is no formula in the literature; this is
    ours, built to stay quiet unless the point really stands apart:

    - at least 10 points (with fewer, any spread is too shaky to judge against);
    - the point is more than 5 robust standard deviations from the median of the whole series,
      where a robust standard deviation is 1.4826 x the median absolute deviation (MAD). The
      median and MAD are not dragged about by the very points being judged, as a mean and
      standard deviation would be. The whole series, not a frozen baseline, is used, so that a
      real, lasting change (a shift) is not mistaken for many astronomical points;
    - and it stands clear of the ordinary points: the gap to the nearest point within that
      distance is more than half its own distance from the median, so a long tail of
      gradually more extreme values does not count;
    - when more than half the points share one value (MAD of 0) there is no spread to judge
      against, and nothing is called astronomical.

    In simulations of random, normally distributed data this flags about 1 chart in 40 at 10
    points, 1 in 60 at 12 and 1 in 250 at 24 (fewer still for shares of 10 projects), while
    finding a single point 8 standard deviations out about 9 times in 10.
    """
    points = [float(value) for value in values]
    if len(points) < MIN_POINTS_FOR_ASTRONOMICAL:
        return ()
    median = statistics.median(points)
    spread = _MAD_TO_SD * statistics.median(abs(value - median) for value in points)
    if spread == 0:
        return ()
    reach = ASTRONOMICAL_SPREADS * spread
    ordinary = [value for value in points if abs(value - median) <= reach]
    found = []
    for index, value in enumerate(points):
        distance = abs(value - median)
        if distance > reach:
            gap = min(abs(value - other) for other in ordinary)
            if gap > ASTRONOMICAL_GAP * distance:
                found.append(index)
    return tuple(found)


def _side(value: float, median: float) -> int:
    """+1 above the median, -1 below, 0 on it (to within rounding)."""
    if math.isclose(value, median, rel_tol=_REL_TOL, abs_tol=_ABS_TOL):
        return 0
    return 1 if value > median else -1


def _same(first: float, second: float) -> bool:
    """Like values, to within rounding."""
    return math.isclose(first, second, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def _count_runs(useful: list[tuple[int, int]]) -> int:
    """Runs among the points off the median: one, plus one for each crossing."""
    if not useful:
        return 0
    return 1 + sum(1 for (_, before), (_, after) in pairwise(useful) if before != after)


def _shifts(useful: list[tuple[int, int]], sides: list[int], unit: str) -> list[Signal]:
    """Every stretch of 6 or more useful points on one side of the median."""
    found = []
    start = 0
    for end in range(1, len(useful) + 1):
        if end < len(useful) and useful[end][1] == useful[start][1]:
            continue
        stretch = useful[start:end]
        if len(stretch) >= SHIFT_LENGTH:
            first, last = stretch[0][0], stretch[-1][0]
            on_median = sum(1 for side in sides[first : last + 1] if side == 0)
            found.append(
                Signal(
                    SHIFT,
                    tuple(index for index, _ in stretch),
                    _shift_text(len(stretch), stretch[0][1], first, last, on_median, unit),
                    len(stretch),
                    stretch[0][1],
                )
            )
        start = end
    return found


def _trends(points: list[float], unit: str) -> list[Signal]:
    """Every stretch of 5 or more points all going up, or all down (like values count once)."""
    groups: list[list[int]] = []  # consecutive like values, as lists of positions
    for index, value in enumerate(points):
        if groups and _same(points[groups[-1][0]], value):
            groups[-1].append(index)
        else:
            groups.append([index])
    steps = [
        1 if points[after[0]] > points[before[0]] else -1 for before, after in pairwise(groups)
    ]
    found = []
    start = 0  # steps[start:end] all go the same way, covering groups start..end
    for end in range(1, len(steps) + 1):
        if end < len(steps) and steps[end] == steps[start]:
            continue
        counted = end - start + 1
        if counted >= TREND_LENGTH:
            # From the last of the like values it climbs from, to the first at its top.
            first, last = groups[start][-1], groups[end][0]
            repeats = (last - first + 1) - counted
            found.append(
                Signal(
                    TREND,
                    tuple(range(first, last + 1)),
                    _trend_text(counted, steps[start], first, last, repeats, unit),
                    counted,
                    steps[start],
                )
            )
        start = end
    return found


def _runs_signal(runs: int, limits: tuple[int, int] | None, useful: int, unit: str) -> list[Signal]:
    """A signal when there are too few or too many runs for the number of useful points."""
    if limits is None:
        return []
    fewest, most = limits
    expected = (
        f"between {fewest} and {most} would be expected by chance with "
        f"{_count(useful, unit)} not on the median"
    )
    if runs < fewest:
        text = f"Only {_count(runs, 'run')}, where {expected}: too few runs."
        return [Signal(RUNS, (), text, runs, -1)]
    if runs > most:
        text = f"{_count(runs, 'run').capitalize()}, where {expected}: too many runs."
        return [Signal(RUNS, (), text, runs, 1)]
    return []


def _shift_text(length: int, side: int, first: int, last: int, on_median: int, unit: str) -> str:
    """E.g. '6 weeks in a row above the median (weeks 3 to 8): a shift. ...'."""
    where = "above" if side > 0 else "below"
    skipped = (
        f", not counting {_count(on_median, unit)} exactly on the median, which neither adds "
        "to a shift nor breaks it"
        if on_median
        else ""
    )
    return (
        f"{_count(length, unit)} in a row {where} the median ({_span(first, last, unit)}"
        f"{skipped}): a shift."
    )


def _trend_text(length: int, direction: int, first: int, last: int, repeats: int, unit: str) -> str:
    """E.g. '5 points in a row going up (points 2 to 6): a trend. ...'."""
    way = "up" if direction > 0 else "down"
    like = ", where a value repeated straight after itself counts once" if repeats else ""
    span = _span(first, last, unit)
    return f"{_count(length, unit)} in a row going {way} ({span}{like}): a trend."


def _astronomical_text(index: int, value: float, unit: str) -> str:
    """E.g. 'Point 7 (0.9) is far from all the others: ...'."""
    return (
        f"{unit.capitalize()} {index + 1} ({value:g}) is far from all the others: worth "
        "checking what happened then."
    )


def _span(first: int, last: int, unit: str) -> str:
    """'weeks 3 to 8', counting from 1 as people do."""
    return f"{unit}s {first + 1} to {last + 1}"


def _count(number: int, unit: str) -> str:
    """'1 week', '6 weeks'."""
    return f"{number} {unit if number == 1 else unit + 's'}"


# --- What the signs mean, for whoever asks ("What does this mean?") --------------------------

# Why any of the signs matters, said once: each sign is a pattern chance alone rarely makes.
ABOUT_RUN_CHARTS = (
    "A run chart shows one figure a {unit}. The line across it is the baseline: the middle "
    "value (the median) of the first {baseline}, so half of those {unit}s were above it and "
    "half below. Ups and downs from {unit} to {unit} are normal. The signs below are patterns "
    "that chance alone would make less than about 1 time in 20, so each suggests something "
    "really changed, for better or worse."
)

MEANINGS = {
    SHIFT: (
        "Shift: 6 or more {unit}s in a row all above, or all below, the baseline. A {unit} "
        "exactly on the baseline neither counts nor breaks the row. A shift above the baseline "
        "after a change you made is the clearest sign the change is working."
    ),
    TREND: (
        "Trend: 5 or more {unit}s in a row, each higher than the one before (or each lower). "
        "A figure the same as the {unit} before counts once: it neither adds to the trend nor "
        "breaks it, so a trend can stretch over more {unit}s than it counts."
    ),
    RUNS: (
        "Runs: a run is a stretch of {unit}s on the same side of the baseline. Too few runs "
        "means the line stays on one side for long stretches, a sign of change. Too many means "
        "it zigzags across the baseline more than chance would, which often means two "
        "different things are mixed together, such as figures from two teams. How many runs "
        "to expect depends on how many {unit}s are off the baseline (Perla, Provost and "
        "Murray, BMJ Quality & Safety 2011)."
    ),
    ASTRONOMICAL: (
        "Unusual {unit} (an astronomical point): one {unit} so far from all the others that "
        "anyone would agree it is unusual. Check what happened then, or whether the figure "
        "was recorded correctly. We call a {unit} that only when it is more than 5 times the "
        "usual spread from the middle and stands well clear of the rest."
    ),
}


def explain(rules: Sequence[str], *, unit: str = "week", baseline: int = BASELINE_POINTS) -> str:
    """What a run chart is, then what each of `rules` means (all four when none is named)."""
    known = [rule for rule in (SHIFT, TREND, RUNS, ASTRONOMICAL) if rule in rules] or list(MEANINGS)
    first = _count(baseline, unit) if baseline != 1 else f"{unit} alone"
    lines = [ABOUT_RUN_CHARTS.format(unit=unit, baseline=first)]
    lines += [f"• {MEANINGS[rule].format(unit=unit)}" for rule in known]
    return "\n".join(lines)
