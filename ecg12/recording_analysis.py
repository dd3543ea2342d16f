"""One recording classified as the driver classifies it, and explained: what a report (ecg12.report) draws.

:func:`analyse_recording` reads the recording, classifies each of its 10 s windows (the classifier reads windows
and takes, per class, the largest probability over them), applies the decision rule and works out the probability
each class had to reach (:func:`decision_thresholds`). For each explained class (the predicted ones, most probable
first, at most :data:`MAX_EXPLAINED`; the most probable class when none is predicted) it keeps the deciding
window, the one with the class's largest probability, and the Grad-CAM saliency of the model's output for it
(:mod:`ecg12.saliency`; a fold ensemble's own output). No drawing here: matplotlib is not imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecg12.classes import ScoredClasses
from ecg12.classify import recorded_repairs
from ecg12.config import WINDOW_SAMPLES
from ecg12.headers import Header, RecordError, read_header
from ecg12.inference import Classifier
from ecg12.measurements import Measurements
from ecg12.preprocess import PreparedSignal, extract_windows, window_starts
from ecg12.recordings import open_counts, signal_file
from ecg12.saliency import grad_cam
from ecg12.scoring import iterate_windows, prepare_measured_recording
from ecg12.thresholds import DecisionRule, patch_fractions

MAX_EXPLAINED = 6  # classes explained with a saliency map; the rest of a long list of predictions is only named


@dataclass(frozen=True)
class ClassEvidence:
    """Where one class's probability came from: its deciding window and the window's saliency map."""

    class_index: int
    window_start: int  # first sample (at 500 Hz) of the window with the class's largest probability
    window: np.ndarray  # (12, 5000) mV, the window as the network read it (zero past the recording's end)
    saliency: np.ndarray  # (12, 5000) Grad-CAM of the class's logit for that window, >= 0


@dataclass(frozen=True)
class RecordingAnalysis:
    """One recording classified as the driver classifies it, with each window's vote and the explanations."""

    header: Header
    num_samples: int  # length at 500 Hz
    window_starts: np.ndarray  # (windows,) first sample of each 10 s window
    window_probabilities: np.ndarray  # (windows, 24)
    probabilities: np.ndarray  # (24,) the largest over the windows: the driver's probabilities
    thresholds: np.ndarray  # (24,) what each probability had to reach to be predicted
    predicted: np.ndarray  # (24,) bool, the decision rule's labels
    classes: ScoredClasses
    decision_rule: DecisionRule
    evidence: tuple[ClassEvidence, ...]  # the explained classes, most probable first
    repairs: tuple[str, ...]  # what had to be repaired to read the recording (missing leads, gaps)
    measurements: Measurements  # what a cardiograph prints: rate, intervals, axes... (NaN: not measurable)

    @property
    def shown(self) -> ClassEvidence:
        """The window drawn on page 1: the deciding window of the most probable explained class."""
        return self.evidence[0]


def header_path_of(recording: str | os.PathLike[str]) -> Path:
    """The header of a recording given as ``NAME``, ``NAME.hea``, ``NAME.mat`` or ``NAME.dat``."""
    path = Path(recording)
    if path.suffix.lower() in (".hea", ".mat", ".dat"):
        return path.with_suffix(".hea") if path.suffix.lower() != ".hea" else path
    return path.with_name(path.name + ".hea")


def analyse_recording(
    classifier: Classifier, header_path: str | os.PathLike[str], max_explained: int = MAX_EXPLAINED
) -> RecordingAnalysis:
    """Read, classify and explain one recording; a :class:`RecordError` naming the file if it cannot be read."""
    header_path = Path(header_path)
    try:
        with recorded_repairs() as repairs:
            header = read_header(header_path)
            signal, features, measurements = prepare_measured_recording(
                header, open_counts(signal_file(header_path), header)
            )
            # The signal is read from its file as the windows are: a file that fails midway fails here too.
            starts = window_starts(signal.shape[1], WINDOW_SAMPLES, classifier.window_stride)
            window_probabilities = _window_probabilities(classifier, signal, features)
            probabilities = window_probabilities.max(axis=0)
            fractions = patch_fractions(window_probabilities)
            predicted = classifier.decision_rule.apply(probabilities[None], fractions[None])[0]
            explained = _explained_classes(probabilities, predicted, max_explained)
            evidence = [
                _class_evidence(
                    classifier, signal, features, int(starts[np.argmax(window_probabilities[:, index])]), index
                )
                for index in explained
            ]
    except RecordError:
        raise
    except Exception as error:  # a damaged file raises whatever its reader raises: one line naming the file
        raise RecordError(header_path, f"{type(error).__name__}: {error}") from error
    return RecordingAnalysis(
        header=header,
        num_samples=int(signal.shape[1]),
        window_starts=starts,
        window_probabilities=window_probabilities,
        probabilities=probabilities,
        thresholds=decision_thresholds(classifier.decision_rule, window_probabilities),
        predicted=predicted,
        classes=classifier.classes,
        decision_rule=classifier.decision_rule,
        evidence=tuple(evidence),
        repairs=tuple(repairs),
        measurements=measurements,
    )


def _window_probabilities(classifier: Classifier, signal: PreparedSignal, features: np.ndarray) -> np.ndarray:
    """(windows, classes): each window classified as a recording of its own, so that the largest over the windows
    is the driver's probability (the classifier's own windows, batches and network)."""
    blocks = iterate_windows(signal, classifier.window_stride, classifier.batch_size)
    return np.concatenate([classifier.probabilities((window, features) for window in block) for block in blocks])


def _class_evidence(
    classifier: Classifier, signal: PreparedSignal, features: np.ndarray, start: int, class_index: int
) -> ClassEvidence:
    """The window of ``signal`` from ``start`` and its saliency map for one class."""
    window = extract_windows(signal, [start], WINDOW_SAMPLES, np.float32)[0]
    return ClassEvidence(class_index, start, window, grad_cam(classifier.model, window, features, [class_index])[0])


def decision_thresholds(rule: DecisionRule, window_probabilities: np.ndarray) -> np.ndarray:
    """(classes,) the probability each class of one recording had to reach to be predicted, from its (windows,
    classes) probabilities, so that a class is predicted exactly when its probability (the maximum over the
    windows) reaches it: its own threshold; for the max-fraction rule the fraction of the recording's largest
    probability; for the patch-fraction rule the probability at which its best window's share of that window's
    largest would reach the fraction (its windows scaled alike, the other classes as they are)."""
    window_probabilities = np.asarray(window_probabilities, dtype=np.float64)
    if rule.mode == "per-class":
        return np.asarray(rule.class_thresholds, dtype=np.float64)
    if rule.mode == "patch-fraction":
        fractions = np.maximum(patch_fractions(window_probabilities), np.finfo(np.float64).tiny)
        return rule.fraction * window_probabilities.max(axis=0) / fractions
    return np.full(window_probabilities.shape[1], rule.fraction * float(window_probabilities.max()))


def _explained_classes(probabilities: np.ndarray, predicted: np.ndarray, limit: int) -> list[int]:
    """The predicted classes, most probable first, at most ``limit``; the most probable class if none is."""
    order = [int(index) for index in np.argsort(-probabilities, kind="stable")]
    chosen = [index for index in order if predicted[index]][: max(limit, 1)]
    return chosen or order[:1]
