"""The reduced-precision gate for a regression head (one output): scores, not an argmax."""

from __future__ import annotations

import numpy as np

from export.verify import APPROX_REGRESSION_ATOL, MIN_REGRESSION_PEARSON, Gate, compare

APPROX = Gate("approx")


def _scores(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 5, size=(n, 1))


def test_close_scores_pass_and_report_their_pearson():
    ref = _scores()
    out = ref + np.random.default_rng(1).normal(0, 0.01, size=ref.shape)
    record = compare([out, out], ref, APPROX, ["batch1", "padded"])
    assert record["passed"] and record["argmax_agreement"] is None
    assert 0.999 < record["pearson_with_reference"] <= 1.0
    assert record["min_pearson_with_reference"] == MIN_REGRESSION_PEARSON and record["atol"] == APPROX_REGRESSION_ATOL


def test_scores_off_by_more_than_the_tolerance_fail():
    ref = _scores()
    record = compare([ref + 2 * APPROX_REGRESSION_ATOL], ref, APPROX, ["batch1"])
    assert not record["passed"] and record["pearson_with_reference"] > 0.999  # the order is kept; the values are not


def test_a_narrow_head_whose_order_is_lost_fails_though_every_score_is_within_tolerance():
    # Scores spanning 0.05: a file returning noise of the same range stays within the 0.1 tolerance.
    ref = 2.5 + _scores() / 100
    out = 2.5 + _scores(seed=7) / 100
    record = compare([out], ref, APPROX, ["batch1"])
    assert record["max_abs_diff"] <= APPROX_REGRESSION_ATOL
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
