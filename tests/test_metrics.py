"""The official 2020 metrics on arrays (ecg12.metrics): hand-worked cases and a loop reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ecg12.classes import scored_classes
from ecg12.metrics import (
    SCORE_NAMES,
    ChallengeMetric,
    accuracy,
    auc,
    beta_measures,
    challenge_metric,
    confusion_counts,
    f_measure,
    modified_confusion_matrix,
    score,
)

# ---------------------------------------------------------------------------------------------
# A deliberately plain reference, written from the official algorithm's description: Python loops
# over recordings, classes and thresholds, no vectorisation. Used on small random data.


def reference_auc(labels, scores):
    num_recordings, num_classes = labels.shape
    auroc, auprc = [], []
    for k in range(num_classes):
        positives = sum(1 for i in range(num_recordings) if labels[i, k])
        negatives = num_recordings - positives
        # Thresholds: above every score, then each distinct score from the highest down.
        points = [(0, 0)]
        for threshold in sorted(set(scores[:, k].tolist()), reverse=True):
            tp = sum(1 for i in range(num_recordings) if scores[i, k] >= threshold and labels[i, k])
            fp = sum(1 for i in range(num_recordings) if scores[i, k] >= threshold and not labels[i, k])
            points.append((tp, fp))
        roc = pr = 0.0
        for (tp0, fp0), (tp1, fp1) in itertools.pairwise(points):
            tpr0 = tp0 / positives if positives else math.nan
            tpr1 = tp1 / positives if positives else math.nan
            tnr0 = (negatives - fp0) / negatives if negatives else math.nan
            tnr1 = (negatives - fp1) / negatives if negatives else math.nan
            roc += 0.5 * (tpr1 - tpr0) * (tnr1 + tnr0)
            pr += (tpr1 - tpr0) * (tp1 / (tp1 + fp1))
        auroc.append(roc)
        auprc.append(pr)
    return np.array(auroc), np.array(auprc)


def reference_confusion(labels, outputs, normalize):
    num_recordings, num_classes = labels.shape
    tp, fp, fn = np.zeros(num_classes), np.zeros(num_classes), np.zeros(num_classes)
    for i in range(num_recordings):
        weight = 1.0 / max(int(labels[i].sum()), 1) if normalize else 1.0
        for k in range(num_classes):
            if labels[i, k] and outputs[i, k]:
                tp[k] += weight
            elif outputs[i, k]:
                fp[k] += weight
            elif labels[i, k]:
                fn[k] += weight
    return tp, fp, fn


def reference_f_measure(labels, outputs):
    tp, fp, fn = reference_confusion(labels, outputs, normalize=False)
    return np.array(
        [2 * a / (2 * a + b + c) if 2 * a + b + c else math.nan for a, b, c in zip(tp, fp, fn, strict=True)]
    )


def reference_beta(labels, outputs, beta):
    tp, fp, fn = reference_confusion(labels, outputs, normalize=True)
    f_beta, g_beta = [], []
    for a, b, c in zip(tp, fp, fn, strict=True):
        denominator = (1 + beta**2) * a + b + beta**2 * c
        f_beta.append((1 + beta**2) * a / denominator if denominator else math.nan)
        denominator = a + b + beta * c
        g_beta.append(a / denominator if denominator else math.nan)
    return np.array(f_beta), np.array(g_beta)


def reference_modified_confusion(labels, outputs):
    num_recordings, num_classes = labels.shape
    matrix = np.zeros((num_classes, num_classes))
    for i in range(num_recordings):
        union = sum(1 for k in range(num_classes) if labels[i, k] or outputs[i, k])
        for j in range(num_classes):
            for k in range(num_classes):
                if labels[i, j] and outputs[i, k]:
                    matrix[j, k] += 1.0 / max(union, 1)
    return matrix


def reference_challenge(labels, outputs, weights, normal_index):
    def weighted(candidate):
        matrix = reference_modified_confusion(labels, candidate)
        return sum(
            weights[j, k] * matrix[j, k]
            for j in range(len(weights))
            for k in range(len(weights))
            if not math.isnan(weights[j, k])
        )

    inactive_outputs = np.zeros_like(labels)
    inactive_outputs[:, normal_index] = True
    observed, correct, inactive = weighted(outputs), weighted(labels), weighted(inactive_outputs)
    return (observed - inactive) / (correct - inactive) if correct != inactive else 0.0


def macro(values):
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


# ---------------------------------------------------------------------------------------------


def random_case(seed, num_recordings=37, num_classes=6):
    """Labels, outputs and scores with many ties, an all-negative class and (even seeds) an all-positive class."""
    rng = np.random.default_rng(seed)
    labels = rng.random((num_recordings, num_classes)) < 0.3
    labels[:, 1] = False  # no positives: AUROC and AUPRC NaN
    if seed % 2:
        labels[: num_recordings // 5] = False  # recordings without labels
    else:
        labels[:, 2] = True  # no negatives: AUROC NaN
    outputs = rng.random((num_recordings, num_classes)) < 0.4
    outputs[-3:] = False  # recordings without outputs
    scores = rng.integers(0, 5, (num_recordings, num_classes)) / 4  # five values: many ties
    scores[:, 3] = rng.random(num_recordings)  # no ties at all
    scores[:, 4] = 0.5  # one single threshold
    weights = rng.random((num_classes, num_classes))
    weights = (weights + weights.T) / 2
    np.fill_diagonal(weights, 1.0)
    weights[0, 5] = np.nan  # the official np.nansum ignores it
    return labels, outputs, scores, weights


def assert_close(actual, expected, tolerance=1e-12):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual[~np.isnan(actual)], expected[~np.isnan(expected)], rtol=0, atol=tolerance)


@pytest.mark.parametrize("seed", range(8))
def test_matches_loop_reference_on_random_data(seed):
    labels, outputs, scores, weights = random_case(seed)
    normal_index = 5

    macro_auroc, macro_auprc, auroc, auprc = auc(labels, scores)
    expected_auroc, expected_auprc = reference_auc(labels, scores)
    assert_close(auroc, expected_auroc)
    assert_close(auprc, expected_auprc)
    assert math.isnan(auroc[1]) and math.isnan(auprc[1])
    assert math.isnan(auroc[2]) == (seed % 2 == 0) and not math.isnan(auprc[2])
    assert macro_auroc == pytest.approx(macro(expected_auroc), abs=1e-12)
    assert macro_auprc == pytest.approx(macro(expected_auprc), abs=1e-12)

    macro_f, per_class_f = f_measure(labels, outputs)
    assert_close(per_class_f, reference_f_measure(labels, outputs))
    assert macro_f == pytest.approx(macro(reference_f_measure(labels, outputs)), abs=1e-12)

    f_beta, g_beta = beta_measures(labels, outputs, beta=2)
    expected_f_beta, expected_g_beta = reference_beta(labels, outputs, beta=2)
    assert f_beta == pytest.approx(macro(expected_f_beta), abs=1e-12)
    assert g_beta == pytest.approx(macro(expected_g_beta), abs=1e-12)

    expected_accuracy = sum(1 for i in range(len(labels)) if (labels[i] == outputs[i]).all()) / len(labels)
    assert accuracy(labels, outputs) == expected_accuracy

    assert_close(modified_confusion_matrix(labels, outputs), reference_modified_confusion(labels, outputs))
    assert challenge_metric(labels, outputs, weights, normal_index) == pytest.approx(
        reference_challenge(labels, outputs, weights, normal_index), abs=1e-12
    )


def test_random_case_exercises_the_metric():
    # Guard against a generator that makes the cross-check vacuous.
    labels, outputs, scores, weights = random_case(0)
    assert 0 < accuracy(labels, outputs) < 1 or not accuracy(labels, outputs)
    value = challenge_metric(labels, outputs, weights, 5)
    assert value not in (0.0, 1.0)
    assert len(np.unique(scores[:, 0])) < len(scores) / 2


# ---------------------------------------------------------------------------------------------
# Hand-worked examples


def test_auc_with_ties_by_hand():
    labels = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]], dtype=bool)
    scores = np.array([[0.8, 0.1, 0.1], [0.8, 0.2, 0.2], [0.5, 0.3, 0.2], [0.2, 0.4, 0.3]])
    macro_auroc, macro_auprc, auroc, auprc = auc(labels, scores)
    # Class 0, thresholds (above all), 0.8, 0.5, 0.2 give (TPR, TNR, PPV) = (0, 1, -), (1/2, 1/2, 1/2),
    # (1, 1/2, 2/3), (1, 0, 1/2): AUROC = 1/2*1/2*(1+1/2) + 1/2*1/2*(1/2+1/2) = 5/8, which is also the
    # pairwise probability with a tie counted 1/2; AUPRC = 1/2*1/2 + 1/2*2/3 = 7/12.
    assert auroc[0] == pytest.approx(5 / 8, abs=1e-15)
    assert auprc[0] == pytest.approx(7 / 12, abs=1e-15)
    # Class 1 has no positives; class 2 no negatives (AUROC undefined, precision is always 1).
    assert math.isnan(auroc[1]) and math.isnan(auprc[1])
    assert math.isnan(auroc[2]) and auprc[2] == pytest.approx(1.0)
    assert macro_auroc == pytest.approx(5 / 8)
    assert macro_auprc == pytest.approx((7 / 12 + 1) / 2)


def test_auc_perfect_and_reversed_ranking():
    labels = np.array([[1], [1], [0], [0]], dtype=bool)
    assert auc(labels, np.array([[0.9], [0.8], [0.3], [0.1]]))[2][0] == 1.0
    assert auc(labels, np.array([[0.1], [0.2], [0.3], [0.4]]))[2][0] == 0.0
    assert auc(labels, np.full((4, 1), 0.5))[2][0] == 0.5  # one tie: the diagonal
    assert auc(labels, np.full((4, 1), 0.5))[3][0] == 0.5  # precision 2/4 over all recall


def test_auc_rejects_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        auc(np.ones((2, 1), dtype=bool), np.array([[0.5], [np.nan]]))


def test_macro_of_only_undefined_classes_is_nan_without_warning():
    labels = np.zeros((3, 2), dtype=bool)
    macro_auroc, macro_auprc, _, _ = auc(labels, np.zeros((3, 2)))
    assert math.isnan(macro_auroc) and math.isnan(macro_auprc)
    macro_f, per_class = f_measure(labels, labels)
    assert math.isnan(macro_f) and np.isnan(per_class).all()


def test_accuracy_counts_whole_recordings():
    labels = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], dtype=bool)
    outputs = np.array([[1, 0], [1, 0], [0, 0], [1, 1]], dtype=bool)
    assert accuracy(labels, outputs) == 0.5


def test_f_measure_by_hand():
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)
    outputs = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=bool)
    macro_f, per_class = f_measure(labels, outputs)
    # Class 0: TP 1, FN 1 -> 2/3. Class 1: FP 2, FN 1 -> 0. Class 2: nothing -> NaN, left out.
    assert_close(per_class, [2 / 3, 0.0, math.nan], tolerance=1e-15)
    assert macro_f == pytest.approx(1 / 3)


def test_beta_measures_normalise_by_the_number_of_labels():
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)
    outputs = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=bool)
    # Recording 0 has two labels and counts 1/2; the others count 1 (no labels counts as 1 too).
    # Class 0: TP 1/2, FP 0, FN 1 -> F2 = 5/2 / (5/2 + 4) = 5/13, G2 = 1/2 / (1/2 + 2) = 1/5.
    # Class 1: TP 0, FP 2, FN 1/2 -> F2 = 0, G2 = 0. Class 2: undefined, left out.
    tp, fp, fn, tn = confusion_counts(labels, outputs, normalize=True)
    assert_close(tp, [0.5, 0, 0])
    assert_close(fp, [0, 2, 0])
    assert_close(fn, [1, 0.5, 0])
    assert_close(tn, [1, 0, 2.5])
    f_beta, g_beta = beta_measures(labels, outputs, beta=2)
    assert f_beta == pytest.approx((5 / 13 + 0) / 2)
    assert g_beta == pytest.approx((1 / 5 + 0) / 2)
    # Without the normalisation class 0 would have F2 = 5/9: the test tells the two apart.
    assert f_beta != pytest.approx((5 / 9) / 2)


# Classes A, B and N (normal, index 2).
HAND_WEIGHTS = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
HAND_LABELS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)


def test_challenge_metric_partial_credit_by_hand():
    outputs = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=bool)
    # Recording 0: labels {A}, outputs {A, B}, union of 2 -> A->A 1/2, A->B 1/2: 1/2 + 0.5/2 = 0.75.
    # Recording 1: labels {B}, outputs {N}, union of 2 -> B->N 1/2: 0.2/2 = 0.1.
    # Recording 2: labels {N}, outputs {N} -> 1. Observed 1.85. Correct: 3. Inactive: 0 + 0.1 + 1 = 1.1.
    expected_matrix = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 1.0]])
    assert_close(modified_confusion_matrix(HAND_LABELS, outputs), expected_matrix)
    metric = ChallengeMetric(HAND_LABELS, HAND_WEIGHTS, normal_index=2)
    assert metric.correct_score == pytest.approx(3.0)
    assert metric.inactive_score == pytest.approx(1.1)
    assert metric.observed(outputs) == pytest.approx(1.85)
    assert metric(outputs) == pytest.approx((1.85 - 1.1) / (3.0 - 1.1))
    assert challenge_metric(HAND_LABELS, outputs, HAND_WEIGHTS, 2) == pytest.approx(0.75 / 1.9)


def test_challenge_metric_perfect_and_normal_only_outputs():
    normal_only = np.zeros_like(HAND_LABELS)
    normal_only[:, 2] = True
    assert challenge_metric(HAND_LABELS, HAND_LABELS, HAND_WEIGHTS, 2) == pytest.approx(1.0, abs=1e-15)
    assert challenge_metric(HAND_LABELS, normal_only, HAND_WEIGHTS, 2) == pytest.approx(0.0, abs=1e-15)


def test_challenge_metric_is_zero_when_correct_equals_inactive():
    labels = np.zeros((3, 3), dtype=bool)
    labels[:, 2] = True  # everything is normal: the normal-only model is perfect
    outputs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    assert challenge_metric(labels, outputs, HAND_WEIGHTS, 2) == 0.0
    assert challenge_metric(np.zeros((3, 3), dtype=bool), outputs, HAND_WEIGHTS, 2) == 0.0


def test_challenge_metric_with_official_weights():
    classes = scored_classes()
    rng = np.random.default_rng(7)
    labels = rng.random((25, 24)) < 0.1
    outputs = rng.random((25, 24)) < 0.2
    expected = reference_challenge(labels, outputs, classes.weights, classes.normal_index)
    assert challenge_metric(labels, outputs, classes.weights, classes.normal_index) == pytest.approx(
        expected, abs=1e-12
    )


def test_challenge_metric_on_a_stack_and_a_class_sweep():
    labels, outputs, scores, weights = random_case(3, num_recordings=50)
    metric = ChallengeMetric(labels, weights, normal_index=5)
    rng = np.random.default_rng(0)
    stack = rng.random((4, *labels.shape)) < 0.3
    expected = [reference_challenge(labels, matrix, weights, 5) for matrix in stack]
    np.testing.assert_allclose(metric(stack), expected, rtol=0, atol=1e-12)

    thresholds = np.array([-1.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0])
    for k in (0, 2, 5):
        candidates = scores[:, k][None, :] >= thresholds[:, None]
        swept = metric.sweep_class(outputs, k, candidates)
        for value, column in zip(swept, candidates, strict=True):
            changed = outputs.copy()
            changed[:, k] = column
            assert value == pytest.approx(reference_challenge(labels, changed, weights, 5), abs=1e-12)


def test_sweep_works_in_blocks(monkeypatch):
    import ecg12.metrics

    monkeypatch.setattr(ecg12.metrics, "_SWEEP_BLOCK_ELEMENTS", 60)  # 1 candidate per block
    labels, outputs, _scores, weights = random_case(4, num_recordings=50)
    metric = ChallengeMetric(labels, weights, normal_index=5)
    candidates = np.random.default_rng(1).random((5, 50)) < 0.5
    blocked = metric.sweep_class(outputs, 1, candidates)
    for value, column in zip(blocked, candidates, strict=True):
        changed = outputs.copy()
        changed[:, 1] = column
        assert value == pytest.approx(metric(changed), abs=1e-13)


def test_sweep_gives_equal_candidates_exactly_equal_scores(monkeypatch):
    import ecg12.metrics

    # Blocks of 3 candidates, the last one shorter: equal candidates in different blocks still tie.
    monkeypatch.setattr(ecg12.metrics, "_SWEEP_BLOCK_ELEMENTS", 3 * 400)
    rng = np.random.default_rng(2)
    labels = rng.random((400, 24)) < 0.1
    outputs = rng.random((400, 24)) < 0.2
    classes = scored_classes()
    metric = ChallengeMetric(labels, classes.weights, classes.normal_index)
    column = rng.random(400) < 0.3
    candidates = np.array([column, ~column, column, column, ~column, column, column])
    swept = metric.sweep_class(outputs, 4, candidates)
    assert len(set(swept[[0, 2, 3, 5, 6]].tolist())) == 1
    assert swept[1] == swept[4] != swept[0]


def test_input_checks():
    labels = np.zeros((3, 2), dtype=bool)
    with pytest.raises(ValueError, match="shape"):
        f_measure(labels, np.zeros((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="2-D"):
        accuracy(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="no recordings"):
        accuracy(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="weights"):
        ChallengeMetric(labels, np.ones((3, 3)), 0)
    with pytest.raises(ValueError, match="normal_index"):
        ChallengeMetric(labels, np.ones((2, 2)), 2)


def test_score_gathers_everything():
    classes = scored_classes()
    rng = np.random.default_rng(11)
    labels = rng.random((40, 24)) < 0.15
    binary = rng.random((40, 24)) < 0.2
    scores = np.round(rng.random((40, 24)), 1)
    result = score(labels, binary, scores, classes)
    macro_auroc, macro_auprc, auroc, auprc = auc(labels, scores)
    macro_f, per_class_f = f_measure(labels, binary)
    assert list(result.summary()) == list(SCORE_NAMES)
    assert result.summary() == pytest.approx(
        {
            "AUROC": macro_auroc,
            "AUPRC": macro_auprc,
            "Accuracy": accuracy(labels, binary),
            "F-measure": macro_f,
            "Fbeta-measure": beta_measures(labels, binary)[0],
            "Gbeta-measure": beta_measures(labels, binary)[1],
            "Challenge metric": reference_challenge(labels, binary, classes.weights, classes.normal_index),
        },
        nan_ok=True,
    )
    assert_close(result.auroc_classes, auroc)
    assert_close(result.auprc_classes, auprc)
    assert_close(result.f_measure_classes, per_class_f)
    assert not result.auroc_classes.flags.writeable
    with pytest.raises(ValueError, match="scored classes"):
        score(labels[:, :5], binary[:, :5], scores[:, :5], classes)
