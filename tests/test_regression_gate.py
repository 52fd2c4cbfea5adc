"""The reduced-precision gate for a regression head (one output): scores, not an argmax."""

from __future__ import annotations

import numpy as np

from export.verify import APPROX_REGRESSION_ATOL, MIN_REGRESSION_PEARSON, REGRESSION_MEAN_DIFF_OF_STD, Gate, compare

APPROX = Gate("approx")


def _scores(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 5, size=(n, 1))


def test_close_scores_pass_and_report_their_pearson():
    ref = _scores()
    out = ref + np.random.default_rng(1).normal(0, 0.01, size=ref.shape)
    record = compare([out, out], ref, APPROX, ["batch1", "padded"])
    assert record["passed"] and record["argmax_agreement"] is None
    assert 0.999 < record["pearson_with_reference"] <= 1.0
    assert record["min_pearson_with_reference"] == MIN_REGRESSION_PEARSON
    assert record["max_mean_abs_diff"] == round(REGRESSION_MEAN_DIFF_OF_STD * float(ref.std()), 7)
    assert record["mean_abs_diff"] < 0.01 < record["max_abs_diff"]  # the worst score is reported, not gated


def test_scores_off_by_more_than_the_tolerance_fail():
    ref = _scores()
    tolerance = REGRESSION_MEAN_DIFF_OF_STD * ref.std()
    record = compare([ref + 2 * tolerance], ref, APPROX, ["batch1"])
    assert not record["passed"] and record["pearson_with_reference"] > 0.999  # the order is kept; the values are not
    assert compare([ref + 0.5 * tolerance], ref, APPROX, ["batch1"])["passed"]


def test_a_squashed_scale_fails_though_the_order_is_kept():
    ref = _scores()
    record = compare([2.5 + (ref - 2.5) * 0.5], ref, APPROX, ["batch1"])
    assert record["pearson_with_reference"] > 0.999 and not record["passed"]


def test_one_outlier_among_close_scores_passes_and_is_reported():
    """What dynamic INT8 did on the STS-B teacher: every score close, one pair in 500 off by ~0.5."""
    ref = _scores(500)
    out = ref + np.random.default_rng(2).normal(0, 0.05, size=ref.shape)
    out[17, 0] += 0.5
    record = compare([out], ref, APPROX, ["batch1"])
    assert record["passed"] and record["max_abs_diff"] > 0.4


def test_constant_reference_scores_fall_back_to_the_absolute_tolerance():
    ref = np.full((4, 1), 2.0)
    assert compare([ref + 0.5 * APPROX_REGRESSION_ATOL], ref, APPROX, ["batch1"])["passed"]
    assert not compare([ref + 2 * APPROX_REGRESSION_ATOL], ref, APPROX, ["batch1"])["passed"]


def test_a_narrow_head_whose_order_is_lost_fails_though_every_score_is_within_tolerance():
    # Scores spanning 0.05: a file returning noise of the same range stays within any absolute tolerance.
    ref = 2.5 + _scores() / 100
    out = 2.5 + _scores(seed=7) / 100
    record = compare([out], ref, APPROX, ["batch1"])
    assert record["max_abs_diff"] <= 0.05
    assert record["pearson_with_reference"] < MIN_REGRESSION_PEARSON and not record["passed"]


def test_only_the_worst_mode_counts():
    ref = _scores()
    good = ref.copy()
    shuffled = ref[::-1] * 0 + 2.5 + (ref[::-1] - 2.5) * 0.01  # within tolerance of nothing useful
    record = compare([good, shuffled], ref, APPROX, ["batch1", "padded"])
    assert not record["passed"]


def test_non_finite_scores_fail():
    ref = _scores()
    out = ref.copy()
    out[3, 0] = np.nan
    record = compare([out], ref, APPROX, ["batch1"])
    assert not record["passed"] and record["pearson_with_reference"] is None
