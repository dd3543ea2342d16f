"""Decision rules: from per-class probabilities to binary labels.

Two rules, recorded in the model folder:
- ``max-fraction`` (the paper's): a recording is positive for every class whose probability is at
  least a fraction (1/5) of its largest class probability, so each recording gets at least one label;
- ``per-class``: one threshold per class, tuned on validation outputs to maximise the Challenge metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_FRACTION = 0.2  # the paper: threshold = max probability over classes / 5
THRESHOLD_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)  # candidate per-class thresholds
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class DecisionRule:
    """How probabilities become labels; stored in the model folder."""

    mode: str = "max-fraction"  # or "per-class"
    fraction: float = MAX_FRACTION
    class_thresholds: tuple[float, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.mode not in ("max-fraction", "per-class"):
            raise ValueError(f"unknown decision rule {self.mode!r}")
        if self.mode == "per-class" and not self.class_thresholds:
            raise ValueError("the per-class rule needs class thresholds")

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities -> (n, classes) bool labels."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if self.mode == "per-class":
            return probabilities >= np.asarray(self.class_thresholds)[None, :]
        return max_fraction_labels(probabilities, self.fraction)

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "fraction": self.fraction, "class_thresholds": list(self.class_thresholds)}

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> DecisionRule:
        return cls(
            mode=str(values["mode"]),
            fraction=float(values["fraction"]),  # type: ignore[arg-type]
            class_thresholds=tuple(float(t) for t in values["class_thresholds"]),  # type: ignore[union-attr]
        )


def max_fraction_labels(probabilities: np.ndarray, fraction: float = MAX_FRACTION) -> np.ndarray:
    """Positive where a probability reaches ``fraction`` of the recording's largest probability."""
    top = probabilities.max(axis=1, keepdims=True)
    return probabilities >= fraction * top


def tune_class_thresholds(
    labels: np.ndarray,
    probabilities: np.ndarray,
    weights: np.ndarray,
    initial: np.ndarray | None = None,
    grid: np.ndarray = THRESHOLD_GRID,
    passes: int = 3,
) -> np.ndarray:
    """Per-class thresholds that maximise the Challenge metric on (labels, probabilities).

    Coordinate ascent: each pass visits every class and picks the grid threshold that maximises the
    metric with the other classes' outputs fixed. The metric's normalisation (correct and inactive
    scores) depends only on the labels, so maximising the observed score is enough, and it
    decomposes over recordings: with the other outputs fixed, switching class j on in recording i
    changes the score by a delta that can be computed for all recordings at once, and the score of
    every threshold follows from a cumulative sum over recordings sorted by probability. Ties go to
    the threshold closest to 0.5, which also fixes a defined threshold for classes without examples.
    """
    labels = np.asarray(labels, dtype=bool)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = labels.shape[1]
    thresholds = np.full(num_classes, DEFAULT_THRESHOLD) if initial is None else np.array(initial, dtype=np.float64)
    outputs = probabilities >= thresholds[None, :]
    credit = labels.astype(np.float64) @ weights  # credit[i, o] = sum over labels l of i of weights[l, o]
    closeness = -np.abs(grid - DEFAULT_THRESHOLD) * 1e-12  # tie-break towards 0.5
    for _ in range(passes):
        for j in range(num_classes):
            others = outputs.copy()
            others[:, j] = False
            numerator_off = (credit * others).sum(axis=1)
            union_off = (labels | others).sum(axis=1)
            score_off = numerator_off / np.maximum(union_off, 1)
            score_on = (numerator_off + credit[:, j]) / np.maximum(union_off + ~labels[:, j], 1)
            gain = score_on - score_off
            # Score of threshold t: sum of the gains of recordings with probability >= t.
            order = np.argsort(-probabilities[:, j], kind="stable")
            cumulative = np.concatenate([[0.0], np.cumsum(gain[order])])
            switched_on = np.searchsorted(-probabilities[order, j], -grid, side="right")
            best = int(np.argmax(cumulative[switched_on] + closeness))
            thresholds[j] = grid[best]
            outputs[:, j] = probabilities[:, j] >= thresholds[j]
    return thresholds
