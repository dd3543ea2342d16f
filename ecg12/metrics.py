"""The official PhysioNet/CinC 2020 Challenge metrics, vectorised with NumPy, on arrays.

Every function takes matrices with one row per recording and one column per scored class:
``labels`` and binary ``outputs`` (bool), ``scores`` (float) and, for the Challenge metric, the
(classes x classes) weight matrix of ``weights.csv`` with equivalent classes merged
(:func:`ecg12.classes.load_weights`). The semantics are those of the final official scorer
(``evaluate_12ECG_score.py`` of physionetchallenges/evaluation-2020), reimplemented without Python
loops over recordings so that the training code can call them on a whole validation set, and the
Challenge metric hundreds of times on the same labels while it tunes per-class thresholds
(:class:`ChallengeMetric`).

Exactness: the per-class AUROC/AUPRC, the F-measures, accuracy, the beta measures and the
Challenge metric's "correct" and "inactive" reference scores accumulate their terms in the same
order as the official loops, so they are bitwise identical to it. The observed Challenge score is
summed per recording instead of per cell of the confusion matrix, which is what makes it cheap to
re-evaluate; it agrees with the official value to rounding (about 1e-15 relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecg12.classes import ScoredClasses

SCORE_NAMES: tuple[str, ...] = (
    "AUROC",
    "AUPRC",
    "Accuracy",
    "F-measure",
    "Fbeta-measure",
    "Gbeta-measure",
    "Challenge metric",
)

# Recordings x candidates processed at once by ChallengeMetric.sweep_class: bounds temporary memory.
_SWEEP_BLOCK_ELEMENTS = 1 << 22


def _bool_matrix(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (recordings x classes) array, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} has no recordings")
    return array if array.dtype == np.bool_ else array != 0


def _float_matrix(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (recordings x classes) array, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} has no recordings")
    if np.isnan(array).any():
        # The official file reader turns NaN scores into 0; an array with NaN is a caller's bug.
        raise ValueError(f"{name} contains NaN")
    return array


def _same_shape(labels: np.ndarray, other: np.ndarray, other_name: str) -> None:
    if labels.shape != other.shape:
        raise ValueError(f"labels have shape {labels.shape} but {other_name} have shape {other.shape}")


def _nonzero(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the true cells in row-major order: np.nonzero, several times faster for 2-D."""
    return np.divmod(np.flatnonzero(matrix), matrix.shape[1])


def _nanmean(values: np.ndarray) -> float:
    """np.nanmean without its warning: NaN when every value is NaN (e.g. no class has positives)."""
    return float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator, NaN where the denominator is 0 (the official convention)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        result = np.true_divide(numerator, denominator)
    return np.where(denominator != 0, result, np.nan)


def auc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Macro AUROC, macro AUPRC and their per-class values.

    Per class, the ROC and precision-recall curves are evaluated at every distinct score (a
    recording is positive at threshold t when its score >= t) plus a threshold above all scores.
    AUROC is the trapezoid area under TNR against TPR, AUPRC the step area under precision against
    recall, as in the official scorer. A class without positive labels has NaN for both, one
    without negative labels NaN for AUROC; the macro values are the means over non-NaN classes.

    Per class, the scores are sorted once and the curve points are read at the last recording of
    each run of equal scores; the true positives above each threshold come from a binary search in
    the sorted scores of the positive recordings. The terms of all classes are then computed
    together and summed per class in threshold order, as the official loop adds them.
    """
    y = _bool_matrix("labels", labels)
    s = _float_matrix("scores", scores)
    _same_shape(y, s, "scores")
    num_recordings, num_classes = y.shape
    by_class = np.ascontiguousarray(s.T)
    labels_by_class = np.ascontiguousarray(y.T)

    point_class, tp, predicted_positive, positives = [], [], [], []
    for k in range(num_classes):
        descending = np.sort(by_class[k])[::-1]
        # Last index of each run of equal scores: each distinct score is one threshold.
        run_end = np.flatnonzero(descending[1:] != descending[:-1])
        run_end = np.append(run_end, num_recordings - 1)
        positive_scores = np.sort(by_class[k][labels_by_class[k]])
        # Positives with a score >= threshold: all of them but those below it.
        tp.append(positive_scores.size - np.searchsorted(positive_scores, descending[run_end], side="left"))
        predicted_positive.append(run_end + 1)
        point_class.append(np.full(run_end.size, k))
        positives.append(np.full(run_end.size, positive_scores.size))
    point_class_array = np.concatenate(point_class)
    tp_array = np.concatenate(tp).astype(np.float64)
    predicted = np.concatenate(predicted_positive).astype(np.float64)
    fp = predicted - tp_array
    positive = np.concatenate(positives).astype(np.float64)
    negative = num_recordings - positive

    # Each class's curve starts at the threshold above every score: no predicted positives.
    first_point = np.ones(point_class_array.size, dtype=bool)
    first_point[1:] = point_class_array[1:] != point_class_array[:-1]
    tp_before = np.where(first_point, 0.0, np.roll(tp_array, 1))
    fp_before = np.where(first_point, 0.0, np.roll(fp, 1))

    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 = NaN marks an undefined class curve
        tpr, tpr_before = tp_array / positive, tp_before / positive
        tnr, tnr_before = (negative - fp) / negative, (negative - fp_before) / negative
        ppv = tp_array / predicted
        roc_terms = 0.5 * (tpr - tpr_before) * (tnr + tnr_before)
        pr_terms = (tpr - tpr_before) * ppv

    # bincount adds each class's terms in order, as the official loop does; NaN terms give NaN.
    auroc = np.bincount(point_class_array, weights=roc_terms, minlength=num_classes)
    auprc = np.bincount(point_class_array, weights=pr_terms, minlength=num_classes)
    return _nanmean(auroc), _nanmean(auprc), auroc, auprc


def accuracy(labels: np.ndarray, outputs: np.ndarray) -> float:
    """Fraction of recordings whose binary outputs equal their labels on every class."""
    y = _bool_matrix("labels", labels)
    o = _bool_matrix("outputs", outputs)
    _same_shape(y, o, "outputs")
    return np.count_nonzero(np.all(y == o, axis=1)) / y.shape[0]


def confusion_counts(
    labels: np.ndarray, outputs: np.ndarray, normalize: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class true positives, false positives, false negatives and true negatives (float64).

    With ``normalize``, each recording contributes 1 / max(number of its labels, 1) instead of 1,
    as in the official F-beta and G-beta measures; the contributions are added in recording order,
    like the official loop, so the sums are identical to it.
    """
    y = _bool_matrix("labels", labels)
    o = _bool_matrix("outputs", outputs)
    _same_shape(y, o, "outputs")
    cells = (y & o, ~y & o, y & ~o, ~y & ~o)
    if not normalize:
        return tuple(np.count_nonzero(cell, axis=0).astype(np.float64) for cell in cells)  # type: ignore[return-value]
    return tuple(_label_normalized_counts(y, cells))  # type: ignore[return-value]


def _label_normalized_counts(y: np.ndarray, cells: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Per-class sums over each cell's recordings of 1 / max(number of labels, 1), in recording order."""
    contribution = 1.0 / np.maximum(np.count_nonzero(y, axis=1), 1)
    counts = []
    for cell in cells:
        recording, class_index = _nonzero(cell)  # recording-major order
        counts.append(np.bincount(class_index, weights=contribution[recording], minlength=y.shape[1]))
    return counts


def f_measure(labels: np.ndarray, outputs: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro F1 and per-class F1 = 2TP / (2TP + FP + FN); NaN for a class with 2TP + FP + FN = 0.

    The macro value is the mean over the classes where F1 is defined.
    """
    tp, fp, fn, _ = confusion_counts(labels, outputs)
    per_class = _divide(2 * tp, 2 * tp + fp + fn)
    return _nanmean(per_class), per_class


def beta_measures(labels: np.ndarray, outputs: np.ndarray, beta: float = 2.0) -> tuple[float, float]:
    """Macro F-beta and G-beta of the Challenge's unofficial phase, on label-normalised counts.

    Per class, F-beta = (1+b^2)TP / ((1+b^2)TP + FP + b^2 FN) and G-beta = TP / (TP + FP + b FN),
    where each recording counts 1 / max(number of its labels, 1) so that multi-label recordings do
    not dominate. Undefined classes (zero denominator) are left out of the means.
    """
    tp, fp, fn, _ = confusion_counts(labels, outputs, normalize=True)
    b2 = beta**2
    f_beta = _divide((1 + b2) * tp, (1 + b2) * tp + fp + b2 * fn)
    g_beta = _divide(tp, tp + fp + beta * fn)
    return _nanmean(f_beta), _nanmean(g_beta)


def modified_confusion_matrix(labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The Challenge's (classes x classes) confusion matrix: rows are labels, columns outputs.

    A recording gives 1 / max(|labels OR outputs|, 1) to every (label class, output class) pair of
    its positives. Contributions are added in recording order, as officially. Memory grows with the
    number of such pairs, so this is for reports and for users of the library who want to see which
    mistakes the metric weighs; the scorer itself (:class:`ChallengeMetric`) does not build it.
    """
    y = _bool_matrix("labels", labels)
    o = _bool_matrix("outputs", outputs)
    _same_shape(y, o, "outputs")
    return _confusion_pairs(y, o)


def _confusion_pairs(y: np.ndarray, o: np.ndarray) -> np.ndarray:
    num_classes = y.shape[1]
    contribution = 1.0 / np.maximum(np.count_nonzero(y | o, axis=1), 1)
    label_recording, label_class = _nonzero(y)
    output_counts = np.count_nonzero(o, axis=1)
    # Every (label, output) pair of a recording, in recording-major order.
    repeat = output_counts[label_recording]
    pair_recording = np.repeat(label_recording, repeat)
    pair_label = np.repeat(label_class, repeat)
    output_class = np.flatnonzero(o) % num_classes
    output_start = np.concatenate(([0], np.cumsum(output_counts)[:-1]))
    # Position of each pair's output within its recording's outputs.
    label_start = np.repeat(np.cumsum(repeat) - repeat, repeat)
    within = np.arange(pair_recording.size) - label_start
    pair_output = output_class[output_start[pair_recording] + within]
    cells = np.bincount(
        pair_label * num_classes + pair_output, weights=contribution[pair_recording], minlength=num_classes**2
    )
    return cells.reshape(num_classes, num_classes)


class ChallengeMetric:
    """The Challenge metric for fixed labels, cheap to evaluate on many candidate outputs.

    score = (observed - inactive) / (correct - inactive), where each is the weighted sum of the
    modified confusion matrix of the outputs, of perfect outputs (the labels), and of outputs that
    are the normal class alone; 0.0 when correct == inactive, as in the final official scorer.

    Because a recording's contribution is 1/|labels OR outputs| times the weights between its label
    classes and its output classes, the observed score is sum_i (credit_i . o_i) / |l_i OR o_i|
    with credit = labels @ weights precomputed once; a call then costs a few passes over the output
    matrix, and :meth:`sweep_class` scores many alternatives for one class column at once.
    NaN weights count as 0, as the official ``np.nansum`` makes them.
    """

    def __init__(self, labels: np.ndarray, weights: np.ndarray, normal_index: int) -> None:
        y = _bool_matrix("labels", labels)
        w = np.asarray(weights, dtype=np.float64)
        num_classes = y.shape[1]
        if w.shape != (num_classes, num_classes):
            raise ValueError(f"weights have shape {w.shape}, expected {(num_classes, num_classes)}")
        if np.isinf(w).any():
            raise ValueError("weights must be finite (NaN counts as 0)")
        if not 0 <= normal_index < num_classes:
            raise ValueError(f"normal_index {normal_index} out of range for {num_classes} classes")
        self.labels = y.copy()  # a private, read-only copy: the precomputed values depend on it
        self.labels.setflags(write=False)
        self.weights = w
        self.normal_index = normal_index
        self._label_counts = np.count_nonzero(y, axis=1)
        self._credit = y.astype(np.float64) @ np.where(np.isnan(w), 0.0, w)

        # The reference scores follow the official summation exactly, so that the test
        # correct == inactive gives the official answer in degenerate cases.
        self.correct_score = float(np.nansum(w * _confusion_pairs(y, y)))
        # Normal-only outputs: a recording's labels all pair with the normal class alone.
        label_recording, label_class = _nonzero(y)
        union = self._label_counts + ~y[:, normal_index]
        inactive = np.zeros((num_classes, num_classes))
        inactive[:, normal_index] = np.bincount(
            label_class, weights=1.0 / union[label_recording], minlength=num_classes
        )
        self.inactive_score = float(np.nansum(w * inactive))

    @property
    def num_recordings(self) -> int:
        return self.labels.shape[0]

    def _outputs(self, outputs: np.ndarray) -> np.ndarray:
        o = np.asarray(outputs)
        if o.ndim < 2 or o.shape[-2:] != self.labels.shape:
            raise ValueError(
                f"outputs have shape {o.shape}; expected (..., {self.labels.shape[0]}, {self.labels.shape[1]})"
            )
        return o if o.dtype == np.bool_ else o != 0

    def observed(self, outputs: np.ndarray) -> float | np.ndarray:
        """Unnormalised weighted score of (n x c) outputs, or of each matrix of an (m x n x c) stack."""
        o = self._outputs(outputs)
        if o.ndim > 2:
            flat = o.reshape(-1, *self.labels.shape)
            return np.array([self._observed(matrix) for matrix in flat]).reshape(o.shape[:-2])
        return self._observed(o)

    def _observed(self, o: np.ndarray) -> float:
        union = self._label_counts + np.count_nonzero(o & ~self.labels, axis=1)
        credit = np.einsum("ij,ij->i", self._credit, o, dtype=np.float64)
        return float(np.sum(credit / np.maximum(union, 1)))

    def normalize(self, observed: float | np.ndarray) -> float | np.ndarray:
        """Map observed scores to the Challenge scale: inactive outputs 0, perfect outputs 1."""
        span = self.correct_score - self.inactive_score
        if span == 0:
            return 0.0 if np.ndim(observed) == 0 else np.zeros(np.shape(observed))
        normalized = (np.asarray(observed, dtype=np.float64) - self.inactive_score) / span
        return float(normalized) if normalized.ndim == 0 else normalized

    def __call__(self, outputs: np.ndarray) -> float | np.ndarray:
        """The Challenge metric of (n x c) outputs, or an array of them for an (m x n x c) stack."""
        return self.normalize(self.observed(outputs))

    def sweep_class(self, outputs: np.ndarray, class_index: int, candidates: np.ndarray) -> np.ndarray:
        """Challenge metric of ``outputs`` with column ``class_index`` replaced by each candidate.

        ``candidates`` is (m x n) bool, e.g. ``scores[:, k] >= thresholds[:, None]`` for m thresholds
        of class k. Only the replaced column's contribution is recomputed, so all m candidates cost
        about as much as a few full evaluations. Returns the m normalised scores; candidates that
        are equal get exactly equal scores, so ties can be broken by preference.
        """
        o = self._outputs(outputs)
        if o.ndim != 2:
            raise ValueError("sweep_class takes one (recordings x classes) output matrix")
        c = np.asarray(candidates)
        c = c if c.dtype == np.bool_ else c != 0
        if c.ndim != 2 or c.shape[1] != self.num_recordings:
            raise ValueError(f"candidates must be (m x {self.num_recordings}), got shape {c.shape}")
        k = class_index
        others = o.copy()
        others[:, k] = False
        base_credit = np.einsum("ij,ij->i", self._credit, others, dtype=np.float64)
        base_union = self._label_counts + np.count_nonzero(others & ~self.labels, axis=1)
        # Each recording contributes one of two values, with the class off or on: the score of a
        # candidate is the all-off total plus the changes of the recordings it turns on.
        off = base_credit / np.maximum(base_union, 1)
        on = (base_credit + self._credit[:, k]) / np.maximum(base_union + ~self.labels[:, k], 1)
        change = on - off
        off_total = float(np.sum(off))
        observed = np.empty(c.shape[0])
        block = max(1, _SWEEP_BLOCK_ELEMENTS // self.num_recordings)
        for start in range(0, c.shape[0], block):
            # Row sums of the same data are bitwise equal, so equal candidates tie exactly.
            turned_on = np.where(c[start : start + block], change, 0.0)
            observed[start : start + block] = off_total + np.sum(turned_on, axis=1)
        return np.asarray(self.normalize(observed))


def challenge_metric(labels: np.ndarray, outputs: np.ndarray, weights: np.ndarray, normal_index: int) -> float:
    """The Challenge metric of binary outputs (see :class:`ChallengeMetric` for repeated use)."""
    return float(ChallengeMetric(labels, weights, normal_index)(outputs))


@dataclass(frozen=True, eq=False)
class ChallengeScores:
    """Every score of the official scorer; per-class arrays follow the scored classes' order."""

    auroc: float
    auprc: float
    accuracy: float
    f_measure: float
    f_beta_measure: float
    g_beta_measure: float
    challenge_metric: float
    auroc_classes: np.ndarray
    auprc_classes: np.ndarray
    f_measure_classes: np.ndarray

    def summary(self) -> dict[str, float]:
        """The seven headline scores under the official column names (:data:`SCORE_NAMES`)."""
        values = (
            self.auroc,
            self.auprc,
            self.accuracy,
            self.f_measure,
            self.f_beta_measure,
            self.g_beta_measure,
            self.challenge_metric,
        )
        return dict(zip(SCORE_NAMES, values, strict=True))


def score(labels: np.ndarray, binary: np.ndarray, scores: np.ndarray, classes: ScoredClasses) -> ChallengeScores:
    """All official scores of binary outputs and scores against labels, for the given classes."""
    y = _bool_matrix("labels", labels)
    o = _bool_matrix("binary outputs", binary)
    s = _float_matrix("scores", scores)
    _same_shape(y, o, "binary outputs")
    _same_shape(y, s, "scores")
    if y.shape[1] != len(classes.codes):
        raise ValueError(f"{y.shape[1]} columns but {len(classes.codes)} scored classes")
    macro_auroc, macro_auprc, auroc_classes, auprc_classes = auc(y, s)
    macro_f, f_classes = f_measure(y, o)
    f_beta, g_beta = beta_measures(y, o, beta=2)
    for array in (auroc_classes, auprc_classes, f_classes):
        array.setflags(write=False)
    return ChallengeScores(
        auroc=macro_auroc,
        auprc=macro_auprc,
        accuracy=accuracy(y, o),
        f_measure=macro_f,
        f_beta_measure=f_beta,
        g_beta_measure=g_beta,
        challenge_metric=challenge_metric(y, o, classes.weights, classes.normal_index),
        auroc_classes=auroc_classes,
        auprc_classes=auprc_classes,
        f_measure_classes=f_classes,
    )
