"""The reduced-precision gate for a regression head (one output): scores, not an argmax."""

from __future__ import annotations

import numpy as np

from export.verify import (
    APPROX_REGRESSION_ATOL,
    MAX_METRIC_DROP,
    MIN_METRIC_GATE_INPUTS,
    MIN_REGRESSION_PEARSON,
    REGRESSION_MEAN_DIFF_OF_STD,
    Gate,
    compare,
)

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


# ---------------------------------------------------------------------------------------------- task metric


def _classification(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a classifier right on 80 % of ``n`` examples, and the gold labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    predicted = np.where(rng.random(n) < 0.8, labels, 1 - labels)
    logits = np.zeros((n, 2))
    logits[np.arange(n), predicted] = rng.uniform(0.5, 2.0, size=n)
    return logits, labels


def _flip(logits: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = logits.copy()
    out[rows] = out[rows][:, ::-1]
    return out


def test_a_file_within_the_agreement_gate_that_loses_the_metric_fails():
    """2 % of the predictions flipped, all of them right ones: 98 % agreement passes the argmax gate, but
    accuracy drops by 2 points, twice what the metric gate allows; the same number of flips split between
    right and wrong ones keeps the metric and passes."""
    from dynabert.data import get_task

    ref, labels = _classification()
    task = get_task("sst2")
    right = np.flatnonzero(ref.argmax(1) == labels)
    wrong = np.flatnonzero(ref.argmax(1) != labels)
    losing = compare([_flip(ref, right[:10])], ref, APPROX, ["batch1"], labels, task)
    assert losing["argmax_agreement"] == 0.98 and not losing["passed"]
    assert losing["metric"] == "accuracy" and losing["max_metric_drop"] == MAX_METRIC_DROP
    assert losing["metric_drop"] == 0.02 > MAX_METRIC_DROP
    even = compare([_flip(ref, np.concatenate([right[:5], wrong[:5]]))], ref, APPROX, ["batch1"], labels, task)
    assert even["passed"] and even["metric_drop"] == 0.0 and even["metric_reference"] == even["metric_file"]
    # The worst mode counts: a second mode that loses fails the record.
    assert not compare([ref, _flip(ref, right[:10])], ref, APPROX, ["a", "b"], labels, task)["passed"]
    # On too few inputs for a 1-point bound to mean anything, the drop is reported, not gated.
    few = compare([_flip(ref[:100], right[right < 100][:2])], ref[:100], APPROX, ["batch1"], labels[:100], task)
    assert few["metric_drop"] == 0.02 and few["metric_gated"] is False and few["passed"]
    assert losing["metric_gated"] is True and 100 < MIN_METRIC_GATE_INPUTS <= 500
    # Without labels (or a task) the gate is the argmax gate alone, and says so by leaving the metric out.
    alone = compare([_flip(ref, right[:10])], ref, APPROX, ["batch1"])
    assert alone["passed"] and "metric_drop" not in alone


def test_matthews_is_gated_in_its_own_units():
    """CoLA's metric: the drop is in Matthews correlation, and a file that gains is not failed."""
    from dynabert.data import get_task

    ref, labels = _classification(seed=3)
    task = get_task("cola")
    wrong = np.flatnonzero(ref.argmax(1) != labels)
    record = compare([_flip(ref, wrong[:10])], ref, APPROX, ["batch1"], labels, task)
    assert record["metric"] == "mcc" and record["metric_file"] > record["metric_reference"] and record["passed"]


def test_a_regression_file_that_keeps_its_order_but_loses_pearson_to_the_labels_fails():
    """Scores that keep Pearson >= 0.997 with PyTorch and a small mean |diff| can still lose more than a point
    of Pearson with the gold scores: noise concentrated where it hurts the metric."""
    from dynabert.data import get_task

    rng = np.random.default_rng(5)
    gold = rng.uniform(0, 5, size=500)
    ref = (gold + rng.normal(0, 0.6, size=500))[:, None]
    out = ref + (np.sign(gold[:, None] - ref) * -0.07)  # each score pushed 0.07 away from its gold score
    task = get_task("stsb")
    record = compare([out], ref, APPROX, ["batch1"], gold, task)
    assert record["pearson_with_reference"] >= MIN_REGRESSION_PEARSON
    assert record["mean_abs_diff"] <= record["max_mean_abs_diff"]
    assert record["metric"] == "pearson" and record["metric_drop"] > MAX_METRIC_DROP and not record["passed"]
