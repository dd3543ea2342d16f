"""Decision rules: from per-class probabilities to binary labels.

Four rules (ecg12.config.DECISION_RULES), recorded in the model folder under these names:
- ``patch-fraction`` (the paper's, exactly): each 10 s patch is decided on its own, positive for every
  class whose probability is at least 1/5 of that patch's largest class probability, and the
  recording's labels are the union of its patches' (one vote in favour is enough);
- ``max-fraction``: the same fraction applied once to the recording's probabilities (each class's
  maximum over the patches); a subset of the patch-wise union;
- ``tuned-fraction``: ``max-fraction`` with the fraction tuned on validation outputs;
- ``per-class``: one threshold per class, tuned on validation outputs to maximise the Challenge metric.
Every rule gives each recording at least one label except ``per-class``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ecg12.classes import scored_classes
from ecg12.config import AUTO_RULE, DECISION_RULES
from ecg12.metrics import ChallengeMetric

MAX_FRACTION = 0.2  # the paper: threshold = max probability over classes / 5
THRESHOLD_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)  # candidate per-class thresholds
FRACTION_GRID = np.round(np.arange(0.1, 0.71, 0.05), 2)  # candidate fractions of the max-fraction rule
DEFAULT_THRESHOLD = 0.5
_PAPERS_FRACTION = ("max-fraction", "patch-fraction")  # the rules whose fraction is the paper's 1/5


@dataclass(frozen=True)
class DecisionRule:
    """How probabilities become labels; stored in the model folder."""

    mode: str = "max-fraction"  # one of ecg12.config.DECISION_RULES
    fraction: float = MAX_FRACTION
    class_thresholds: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.mode not in DECISION_RULES:
            raise ValueError(f"unknown decision rule {self.mode!r} (choose from {', '.join(DECISION_RULES)})")
        if self.mode == "per-class" and not self.class_thresholds:
            raise ValueError("the per-class rule needs class thresholds")
        if not 0 < self.fraction <= 1:  # NaN too: every comparison with it is false, every label negative
            raise ValueError(f"the fraction of the largest probability must be in (0, 1], not {self.fraction!r}")
        if self.mode in _PAPERS_FRACTION and self.fraction != MAX_FRACTION:
            raise ValueError(
                f"the {self.mode} rule's fraction is the paper's {MAX_FRACTION:g}, not {self.fraction:g} "
                "(a tuned fraction is the tuned-fraction rule)"
            )

    def apply(self, probabilities: np.ndarray, patch_fractions: np.ndarray | None = None) -> np.ndarray:
        """(n, classes) probabilities -> (n, classes) bool labels; ``patch_fractions`` (n, classes), what
        :func:`patch_fractions` gives for each recording, only the ``patch-fraction`` rule reads, and needs."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if self.mode == "per-class":
            if len(self.class_thresholds) != probabilities.shape[1]:  # one would be broadcast to every class
                raise ValueError(f"{len(self.class_thresholds)} thresholds for {probabilities.shape[1]} classes")
            return probabilities >= np.asarray(self.class_thresholds)[None, :]
        if self.mode == "patch-fraction":
            if patch_fractions is None:
                raise ValueError("the patch-fraction rule decides each patch: it needs the patches' fractions")
            return np.asarray(patch_fractions) >= self.fraction
        return max_fraction_labels(probabilities, self.fraction)

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "fraction": self.fraction, "class_thresholds": list(self.class_thresholds)}

    @classmethod
    def from_dict(cls, values: object, num_classes: int) -> DecisionRule:
        """The rule that :meth:`to_dict` stored for ``num_classes`` classes, every value checked: ValueError naming
        the first that is wrong (a threshold per class, each a number in [0, 1]; a fraction in (0, 1])."""
        if not isinstance(values, dict) or not {"mode", "fraction", "class_thresholds"} <= values.keys():
            raise ValueError("a decision rule needs mode, fraction and class_thresholds")
        mode, fraction, thresholds = values["mode"], values["fraction"], values["class_thresholds"]
        if not isinstance(mode, str):
            raise ValueError(f"a decision rule's mode is a name, not {mode!r}")
        if not _is_number(fraction):
            raise ValueError(f"the fraction of the largest probability must be a number in (0, 1], not {fraction!r}")
        if not isinstance(thresholds, list | tuple):
            raise ValueError(f"class_thresholds must be a list, not {thresholds!r}")
        if mode == "per-class" and len(thresholds) != num_classes:
            raise ValueError(f"the per-class rule has {len(thresholds)} thresholds for {num_classes} classes")
        wrong = [t for t in thresholds if not (_is_number(t) and 0 <= t <= 1)]
        if wrong:
            raise ValueError(f"class thresholds must be numbers in [0, 1], not {wrong[0]!r}")
        if mode == "max-fraction" and fraction != MAX_FRACTION:  # written before tuned-fraction had its own name
            mode = "tuned-fraction"
        return cls(mode, float(fraction), tuple(float(t) for t in thresholds))


def _is_number(value: object) -> bool:
    """A finite int or float (not a bool, not a string that spells one)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def patch_fractions(window_probabilities: np.ndarray) -> np.ndarray:
    """(windows, classes) probabilities of one recording's patches -> (classes,): for each class the largest,
    over the patches, of its probability divided by that patch's largest class probability.

    A class reaches ``fraction`` here exactly when some patch is positive for it under the max-fraction
    rule, so that ``patch_fractions(...) >= fraction`` is the union of the patches' decisions.
    """
    window_probabilities = np.asarray(window_probabilities, dtype=np.float64)
    top = np.maximum(window_probabilities.max(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    return (window_probabilities / top).max(axis=0)


def max_fraction_labels(probabilities: np.ndarray, fraction: float = MAX_FRACTION) -> np.ndarray:
    """Positive where a probability reaches ``fraction`` of the recording's largest probability."""
    top = probabilities.max(axis=1, keepdims=True)
    return probabilities >= fraction * top


def tune_max_fraction(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    normal_index: int,
    grid: np.ndarray = FRACTION_GRID,
) -> float:
    """The fraction of the max-fraction rule that maximises the Challenge metric on (labels, probabilities).

    One number for all classes, so a few dozen validation recordings can choose it where they could
    not choose 24 thresholds. Ties go to the fraction closest to the paper's 1/5.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    preference = grid[np.argsort(np.abs(grid - MAX_FRACTION), kind="stable")]
    candidates = np.stack([max_fraction_labels(probabilities, fraction) for fraction in preference])
    scores = ChallengeMetric(labels, weights, normal_index)(candidates)
    return float(preference[int(np.argmax(scores))])  # argmax takes the first of equal scores


def tune_class_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    normal_index: int,
    grid: np.ndarray = THRESHOLD_GRID,
    passes: int = 3,
) -> np.ndarray:
    """Per-class thresholds that maximise the Challenge metric on (labels, probabilities).

    Coordinate ascent from 0.5 everywhere: each pass visits every class and picks the grid
    threshold that maximises the metric with the other classes' outputs fixed
    (:meth:`ChallengeMetric.sweep_class` scores all grid values of one class at once). A coarse grid
    rather than every distinct probability keeps the thresholds from fitting single recordings.
    Ties go to the threshold closest to 0.5, which also gives classes without examples a defined
    threshold.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    metric = ChallengeMetric(labels, weights, normal_index)
    thresholds = np.full(probabilities.shape[1], DEFAULT_THRESHOLD)
    outputs = probabilities >= thresholds[None, :]
    preference = np.argsort(np.abs(grid - DEFAULT_THRESHOLD), kind="stable")  # grid order, closest to 0.5 first
    for _ in range(passes):
        for j in range(probabilities.shape[1]):
            candidates = probabilities[None, :, j] >= grid[preference, None]
            scores = metric.sweep_class(outputs, j, candidates)
            thresholds[j] = grid[preference[int(np.argmax(scores))]]  # argmax takes the first of equal scores
            outputs[:, j] = probabilities[:, j] >= thresholds[j]
    return thresholds


# "auto" tunes per-class thresholds only on a validation set this large: on a few dozen recordings the tuned
# thresholds fit noise, and the paper's max/5 rule scored better and far more stably (docs/performance.md).
PER_CLASS_MIN_VALIDATION = 1000


def resolve_rule(rule: str, validation_size: int) -> str:
    """The decision rule a run uses: "auto" is "per-class" from 1,000 validation recordings, else "max-fraction"."""
    if rule != AUTO_RULE:
        return rule
    return "per-class" if validation_size >= PER_CLASS_MIN_VALIDATION else "max-fraction"


def choose_decision_rule(truth: np.ndarray, probabilities: np.ndarray, rule: str) -> DecisionRule:
    """The decision rule ``rule`` (see resolve_rule) for validation outputs: thresholds or fraction tuned on them."""
    classes = scored_classes()
    resolved = resolve_rule(rule, len(truth))
    if resolved == "per-class":
        thresholds = tune_class_thresholds(truth, probabilities, classes.weights, classes.normal_index)
        return DecisionRule("per-class", class_thresholds=tuple(float(t) for t in thresholds))
    if resolved == "tuned-fraction":
        fraction = tune_max_fraction(truth, probabilities, classes.weights, classes.normal_index)
        return DecisionRule("tuned-fraction", fraction)
    if resolved == "patch-fraction":
        return DecisionRule("patch-fraction")
    return DecisionRule("max-fraction")
