"""The run-chart rules, checked on worked examples from the QI literature.

The rules are those of Perla, Provost & Murray, "The run chart: a simple analytical tool for
learning from variation in healthcare processes", BMJ Qual Saf 2011;20:46-51 (below: Perla
2011). Where a source describes a chart without giving its data points, the series here is
constructed to reproduce exactly the situation it describes, and the test says so.
"""

import math
from fractions import Fraction

import pytest

from handlers.evidence.run_chart import (
    ASTRONOMICAL,
    RUNS,
    SHIFT,
    TREND,
    RunChartAnalysis,
    analyse,
    astronomical_points,
    runs_limits,
    runs_probabilities,
)


def only(analysis, rule):
    return [signal for signal in analysis.signals if signal.rule == rule]


# --- the edges: no points, one point --------------------------------------------------------


def test_an_empty_series_has_no_median_and_no_signals():
    assert analyse([]) == RunChartAnalysis(
        median=None, useful_observations=0, runs=0, runs_limits=None, signals=()
    )


def test_a_single_point_is_its_own_median_and_says_nothing():
    assert analyse([0.4]) == RunChartAnalysis(
        median=0.4, useful_observations=0, runs=0, runs_limits=None, signals=(), unit="point"
    )


# --- shift: 6 or more in a row on one side (Perla 2011, rule 1) -----------------------------


def test_a_shift_of_exactly_six_fires_and_five_does_not():
    """Perla 2011 rule 1, constructed: 6 above the median (a shift), later 5 below (not one).

    13 points: one below, six above, one on the median (0.5, the 7th of 13 in order), then
    five below, which is one short of a shift.
    """
    values = [0.3, 0.7, 0.8, 0.7, 0.9, 0.8, 0.7, 0.5, 0.2, 0.3, 0.2, 0.4, 0.3]
    analysis = analyse(values)
    assert analysis.median == 0.5
    (shift,) = only(analysis, SHIFT)
    assert shift.indices == (1, 2, 3, 4, 5, 6)
    assert shift.description.startswith(
        "6 points in a row above the median (points 2 to 7): a shift."
    )


def test_points_on_the_median_neither_add_to_nor_break_a_shift():
    """Perla 2011: values that fall on the median neither add to a shift nor break it.

    Constructed, 14 points with median 0.5: three above, one on the median, three above (a
    shift of 6: the point on the median does not break it and is not one of the 6), then five
    below and one on the median (not a shift: the point on the median does not make it 6).
    """
    values = [0.3, 0.6, 0.7, 0.6, 0.5, 0.8, 0.6, 0.7, 0.4, 0.2, 0.3, 0.4, 0.2, 0.5]
    analysis = analyse(values)
    assert analysis.median == 0.5
    assert analysis.useful_observations == 12
    (shift,) = only(analysis, SHIFT)
    assert shift.indices == (1, 2, 3, 5, 6, 7)
    assert "not counting 1 point exactly on the median" in shift.description


def test_a_shift_is_described_in_the_teams_own_units():
    values = [0.3, 0.7, 0.8, 0.7, 0.9, 0.8, 0.7, 0.5, 0.2, 0.3, 0.2, 0.4, 0.3]
    (shift,) = only(analyse(values, unit="week"), SHIFT)
    assert shift.description.startswith("6 weeks in a row above the median (weeks 2 to 7)")


# --- trend: 5 or more in a row going one way (Perla 2011, rule 2) ---------------------------


def test_a_trend_of_five_fires_and_four_does_not():
    """Perla 2011 rule 2, constructed: 0.2, 0.3, 0.4, 0.6, 0.7 all going up is a trend."""
    (trend,) = only(analyse([0.5, 0.2, 0.3, 0.4, 0.6, 0.7, 0.1, 0.5]), TREND)
    assert trend.indices == (1, 2, 3, 4, 5)
    assert trend.description.startswith("5 points in a row going up (points 2 to 6): a trend.")
    assert only(analyse([0.5, 0.2, 0.3, 0.4, 0.6, 0.1, 0.5]), TREND) == []


def test_a_trend_going_down_counts_the_same_way():
    """Constructed: the downward 5-point trend (observations 5 to 9) in Balestracci's chart."""
    values = [22, 25, 21, 24, 26, 23, 20, 17, 14, 16, 13, 15, 12, 16, 21, 15]
    (trend,) = only(analyse(values), TREND)
    assert trend.indices == (4, 5, 6, 7, 8)
    assert "going down" in trend.description


def test_like_values_count_once_they_neither_add_to_nor_break_a_trend():
    """Perla 2011: like values neither make nor break a trend; only the first one counts.

    Constructed: 0.2, 0.3, 0.3, 0.4, 0.6 is four points going up, not five; adding 0.7 makes
    it five, and the repeated 0.3 has not broken it.
    """
    assert only(analyse([0.5, 0.2, 0.3, 0.3, 0.4, 0.6, 0.1]), TREND) == []
    (trend,) = only(analyse([0.5, 0.2, 0.3, 0.3, 0.4, 0.6, 0.7, 0.1]), TREND)
    assert trend.indices == (1, 2, 3, 4, 5, 6)
    assert trend.description.startswith("5 points in a row going up (points 2 to 7, where")


def test_a_trend_starts_where_the_climb_starts_not_at_a_plateau_before_it():
    (trend,) = only(analyse([0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.9]), TREND)
    assert trend.indices == (1, 2, 3, 4, 5)


# --- runs: too few or too many (Perla 2011, rule 3 and Table 1) -----------------------------


def test_too_few_runs_in_balestraccis_sixteen_months():
    """Balestracci, "An underrated test for run charts", Quality Digest, October 2008.

    16 monthly points whose runs are 7 above the median, 7 below, 1 above, 1 below: only 4
    runs. He shows no values, so these reproduce that pattern (and his downward trend from
    observation 5 to 9). For 16 useful observations Perla's Table 1 expects 5 to 13 runs, so 4
    is too few. His own rules (a run of 8, a trend of 6) find nothing else; Perla's rules also
    see both runs of 7 as shifts and the 5 going down as a trend.
    """
    values = [22, 25, 21, 24, 26, 23, 20, 17, 14, 16, 13, 15, 12, 16, 21, 15]
    analysis = analyse(values, unit="month")
    assert (analysis.median, analysis.useful_observations) == (18.5, 16)
    assert (analysis.runs, analysis.runs_limits) == (4, (5, 13))
    (runs,) = only(analysis, RUNS)
    assert runs.indices == ()
    assert runs.description.startswith(
        "Only 4 runs, where between 5 and 13 would be expected by chance with 16 months not "
        "on the median: too few runs."
    )
    above, below = only(analysis, SHIFT)
    assert above.indices == (0, 1, 2, 3, 4, 5, 6)
    assert above.description.startswith("7 months in a row above the median (months 1 to 7)")
    assert below.indices == (7, 8, 9, 10, 11, 12, 13)
    assert below.description.startswith("7 months in a row below the median (months 8 to 14)")


def test_too_few_runs_in_littles_sealant_chart():
    """Little, "n/3 approximation for too few runs" (iecodesign.com, 2019), on Perla's Table 1.

    A clinic's sealant percentages: 29 months, two on the median, so 27 useful observations,
    and 6 runs. The post shows the chart, not the numbers; these reproduce its counts. Perla's
    table gives 9 as the fewest runs for 27 points, so 6 is too few: improvement.
    """
    values = [
        *(40, 44, 41, 43, 39),
        *(53, 56),
        50,
        *(45, 47, 42, 46, 44),
        *(57, 54, 58, 55),
        50,
        *(43, 47, 42, 46),
        *(60, 57, 62, 59, 63, 61, 64),
    ]
    analysis = analyse(values)
    assert (len(values), analysis.median, analysis.useful_observations) == (29, 50, 27)
    assert (analysis.runs, analysis.runs_limits) == (6, (9, 20))
    assert [signal.rule for signal in only(analysis, RUNS)] == [RUNS]


def test_too_many_runs_when_points_alternate():
    """Perla 2011: too many runs, e.g. figures that alternate between two sources.

    Constructed: 20 points alternating below and above the median are 20 runs; Perla's
    Table 1 allows at most 16 for 20 useful observations.
    """
    analysis = analyse([0.4, 0.6] * 10)
    assert (analysis.useful_observations, analysis.runs) == (20, 20)
    assert analysis.runs_limits == (6, 16)
    (runs,) = only(analysis, RUNS)
    assert runs.description.startswith(
        "20 runs, where between 6 and 16 would be expected by chance with 20 points not on the "
        "median: too many runs."
    )


def test_runs_within_the_limits_are_no_signal():
    analysis = analyse([0.4, 0.4, 0.6, 0.4, 0.6, 0.6, 0.4, 0.6, 0.4, 0.6])
    assert (analysis.runs, analysis.runs_limits) == (8, (3, 9))
    assert only(analysis, RUNS) == []


def test_no_runs_judgement_below_ten_useful_observations():
    """The exam question quoted on the Elsmar Cove quality forum (thread 70687).

    "10, 8, 6, 14, 16, 14, 18, 20, 8, 10, 10, 10": the median is 10, four points sit on it,
    so only 8 are useful observations, in 3 runs. Perla's Table 1 starts at 10, so there is no
    runs judgement, even though 3 runs would be too few with 10.
    """
    analysis = analyse([10, 8, 6, 14, 16, 14, 18, 20, 8, 10, 10, 10])
    assert analysis.median == 10
    assert (analysis.useful_observations, analysis.runs) == (8, 3)
    assert analysis.runs_limits is None
    assert analysis.signals == ()


def test_the_runs_judgement_starts_at_exactly_ten_useful_observations():
    nine = analyse([0.4, 0.6] * 4 + [0.4], baseline=2)  # median 0.5: all 9 are useful
    assert (nine.useful_observations, nine.runs, nine.runs_limits) == (9, 9, None)
    assert analyse([0.4, 0.6] * 5).runs_limits == (3, 9)


def test_exactly_the_fewest_or_the_most_runs_expected_is_no_signal():
    """Perla 2011 Table 1: a signal is fewer than the lower limit or more than the upper."""
    fewest = analyse([0.4, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4, 0.4, 0.4, 0.4], baseline=2)
    assert (fewest.runs, fewest.runs_limits, fewest.signals) == (3, (3, 9), ())
    most = analyse([0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.4, 0.6, 0.6, 0.4], baseline=2)
    assert (most.runs, most.runs_limits, most.signals) == (9, (3, 9), ())


# --- the runs table -------------------------------------------------------------------------

# Perla 2011 Table 1, rows 10 to 40, as reproduced in public code that cites it (we could not
# read the paper's own table): useful observations -> (fewest, most) runs expected by chance.
PERLA_TABLE_1 = {
    10: (3, 9), 11: (3, 10), 12: (3, 11), 13: (4, 11), 14: (4, 12), 15: (5, 12),
    16: (5, 13), 17: (5, 13), 18: (6, 14), 19: (6, 15), 20: (6, 16), 21: (7, 16),
    22: (7, 17), 23: (7, 17), 24: (8, 18), 25: (8, 18), 26: (9, 19), 27: (9, 20),
    28: (10, 20), 29: (10, 21), 30: (11, 22), 31: (11, 22), 32: (11, 23), 33: (11, 24),
    34: (12, 24), 35: (12, 25), 36: (13, 25), 37: (13, 26), 38: (14, 26), 39: (14, 27),
    40: (15, 27),
}  # fmt: skip
ROWS_THAT_DIFFER = (15, 17, 23, 25, 30, 33, 35, 37)


@pytest.mark.parametrize(
    "useful", [useful for useful in PERLA_TABLE_1 if useful not in ROWS_THAT_DIFFER]
)
def test_the_exact_limits_reproduce_perlas_table(useful):
    assert runs_limits(useful) == PERLA_TABLE_1[useful]


@pytest.mark.parametrize("useful", ROWS_THAT_DIFFER)
def test_where_the_reproduced_table_differs_it_is_by_one_run(useful):
    """Documented in runs_limits: these rows follow no single risk level, so we compute."""
    ours, theirs = runs_limits(useful), PERLA_TABLE_1[useful]
    assert ours != theirs
    assert all(abs(a - b) <= 1 for a, b in zip(ours, theirs, strict=True))


@pytest.mark.parametrize("useful", range(10, 81))
def test_each_limit_is_the_furthest_chance_goes_at_most_five_times_in_a_hundred(useful):
    """The definition behind the table: a 5% risk in each direction, and no more."""
    fewest, most = runs_limits(useful)
    chances = runs_probabilities(useful // 2, useful - useful // 2)

    def at_most(runs):
        return sum(p for r, p in chances.items() if r <= runs)

    def at_least(runs):
        return sum(p for r, p in chances.items() if r >= runs)

    risk = Fraction(5, 100)
    assert at_most(fewest) <= risk < at_most(fewest + 1)
    assert at_least(most) <= risk < at_least(most - 1)


def test_the_limits_carry_on_past_the_published_table():
    """Our exact values, pinned; beyond row 40 we had no published row to check against."""
    assert runs_limits(60) == (24, 38)
    assert runs_limits(100) == (42, 60)


def test_the_runs_distribution_matches_swed_and_eisenhart_table_one():
    """Swed & Eisenhart (1943), Table I, as reprinted in the R package randtests (pruns).

    With 2 of one kind and n2 of the other, the chance of at most 2, 3 or 4 runs.
    """
    for n2, printed in {
        2: (0.333333333, 0.6666667, 1.0),
        5: (0.095238095, 0.3333333, 0.7142857),
        10: (0.030303030, 0.1818182, 0.4545455),
    }.items():
        chances = runs_probabilities(2, n2)
        for runs, expected in zip((2, 3, 4), printed, strict=True):
            got = float(sum(p for r, p in chances.items() if r <= runs))
            assert math.isclose(got, expected, abs_tol=5e-8)


def test_the_runs_distribution_for_ten_and_ten():
    """The Real Statistics runs-test table page: 10 above, 10 below, chance of at most u runs."""
    chances = runs_probabilities(10, 10)
    for runs, printed in {6: 0.019, 7: 0.051, 8: 0.128, 14: 0.949, 15: 0.981}.items():
        got = float(sum(p for r, p in chances.items() if r <= runs))
        assert round(got, 3) == printed
    assert sum(chances.values()) == 1


# --- a frozen baseline median ----------------------------------------------------------------


def test_a_frozen_baseline_median_judges_later_points_against_it():
    """Perla 2011 / IHI practice: freeze the baseline median and extend it over new points.

    Constructed: 12 baseline weeks alternate around a median of 0.2; the next 6 weeks are all
    above 0.2, a shift against the frozen baseline. Against the median of all 18 points
    (0.275) the same 6 weeks straddle the line and show nothing.
    """
    values = [0.3, 0.1] * 6 + [0.25, 0.28, 0.26, 0.29, 0.27, 0.3]
    frozen = analyse(values, baseline=12)
    assert math.isclose(frozen.median, 0.2)
    (shift,) = only(frozen, SHIFT)
    assert shift.indices == (12, 13, 14, 15, 16, 17)
    assert frozen.useful_observations == 18

    everything = analyse(values)
    assert math.isclose(everything.median, 0.275)
    assert only(everything, SHIFT) == []


@pytest.mark.parametrize("baseline", [0, -1, 4])
def test_a_baseline_must_be_some_of_the_points(baseline):
    with pytest.raises(ValueError, match="baseline"):
        analyse([0.1, 0.2, 0.3], baseline=baseline)


def test_a_point_equal_to_the_median_but_for_rounding_is_on_it():
    """(0.1 + 0.2) / 2 is 0.15000000000000002 in binary; a share of 0.15 is on that median.

    The same holds for large numbers, where the rounding error is larger than 1e-12: the
    median of 721540.03 and 591153.4 comes out as 656346.7150000001.
    """
    assert analyse([0.1, 0.2, 0.15], baseline=2).useful_observations == 2
    assert analyse([721540.03, 591153.4, 656346.715], baseline=2).useful_observations == 2
    assert analyse([0.1, 0.2, 0.1500001], baseline=2).useful_observations == 3


def test_values_must_be_numbers():
    with pytest.raises(ValueError, match="finite"):
        analyse([0.1, math.nan, 0.3])


# --- astronomical points: a documented heuristic ---------------------------------------------

STEADY = [0.3, 0.32, 0.28, 0.31, 0.29, 0.3, 0.33, 0.27, 0.3, 0.3, 0.29, 0.31]


def test_a_blatantly_different_point_is_astronomical():
    """Perla 2011 rule 4: "obviously, even blatantly, different" (constructed).

    Twelve weeks between 0.27 and 0.33, and one week at 0.95.
    """
    values = [*STEADY[:8], 0.95, *STEADY[9:]]
    analysis = analyse(values, unit="week")
    (astronomical,) = only(analysis, ASTRONOMICAL)
    assert astronomical.indices == (8,)
    assert astronomical.description.startswith("Week 9 (0.95) is far from all the others")


def test_not_every_highest_point_is_astronomical():
    """Run-chart guides: the highest or lowest point is not, by that alone, astronomical.

    The steady weeks have a median of 0.3 and a robust standard deviation of 0.0148 (1.4826 x
    a median absolute deviation of 0.01): 0.365 is 4.4 of those out, short of the 5 needed.
    """
    assert astronomical_points([*STEADY[:8], 0.35, *STEADY[9:]]) == ()
    assert astronomical_points([*STEADY[:8], 0.365, *STEADY[9:]]) == ()


def test_six_robust_standard_deviations_out_and_clear_of_the_rest_is_astronomical():
    """0.389 is 6 robust standard deviations out, and 0.059 clear of the next highest, 0.33."""
    assert astronomical_points([*STEADY[:8], 0.389, *STEADY[9:]]) == (8,)


def test_a_tail_of_ever_higher_values_is_not_astronomical():
    """0.42 is far out, but 0.37 sits between it and the rest: a tail, not a one-off."""
    assert astronomical_points([*STEADY[:3], 0.37, *STEADY[4:8], 0.42, *STEADY[9:]]) == ()


def test_two_blatant_points_are_both_astronomical():
    values = [*STEADY[:3], 0.95, *STEADY[4:8], 0.97, *STEADY[9:]]
    assert astronomical_points(values) == (3, 8)


def test_no_astronomical_point_with_fewer_than_ten_points():
    assert astronomical_points([*STEADY[:8], 0.95]) == ()
    assert astronomical_points([*STEADY[:9], 0.95]) == (9,)


def test_a_lasting_change_is_a_shift_not_astronomical_points():
    before = [0.1, 0.12, 0.09, 0.11, 0.1, 0.08, 0.11, 0.1]
    after = [0.8, 0.82, 0.79, 0.81, 0.8, 0.78, 0.81, 0.8]
    analysis = analyse(before + after)
    assert only(analysis, ASTRONOMICAL) == []
    assert len(only(analysis, SHIFT)) == 2


def test_no_astronomical_judgement_when_most_points_are_the_same():
    """More than half the points share one value: no spread to judge against (documented)."""
    assert astronomical_points([0.1] * 9 + [0.1, 0.2, 0.9]) == ()


# --- words for people new to QI --------------------------------------------------------------


def test_descriptions_avoid_jargon():
    analyses = [
        analyse([22, 25, 21, 24, 26, 23, 20, 17, 14, 16, 13, 15, 12, 16, 21, 15]),
        analyse([0.4, 0.6] * 10),
        analyse([*STEADY[:8], 0.95, *STEADY[9:]]),
    ]
    signals = [signal for analysis in analyses for signal in analysis.signals]
    assert {signal.rule for signal in signals} == {SHIFT, TREND, RUNS, ASTRONOMICAL}
    descriptions = " ".join(signal.description for signal in signals).lower()
    for jargon in ("special cause", "sigma", "statistic", "significan", "p-value", "mad"):
        assert jargon not in descriptions
