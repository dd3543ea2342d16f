"""Recordings to scores, whatever runs the network: windows in batches, per-recording maxima, the decision rule.

A recording is cut into 10 s windows (the paper's patches); each window gets per-class probabilities and the
recording takes, per class, the maximum over its windows, and the patch fractions that the paper's one-vote-in-favour
rule decides on (:class:`RecordingScores`). Windows of many recordings are batched through the network
together, a bounded number at a time; a long recording is prepared a segment at a time as its windows are read
(:class:`~ecg12.preprocess.PreparedSignal`), so that a day-long recording costs time but not memory.

No torch here: the torch classifier (ecg12.inference) and the ONNX Runtime one (ecg12.onnx_classifier) both
score through :func:`score_recordings`, and the second runs without torch installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ecg12.classes import ScoredClasses
from ecg12.features import MEASURED_SAMPLES
from ecg12.headers import Header
from ecg12.measurements import Measurements, measure_record
from ecg12.preprocess import WINDOW_SAMPLES, PreparedSignal, extract_windows, window_starts
from ecg12.recordings import CountsReader, counts_in_memory, millivolts_reader
from ecg12.thresholds import DecisionRule, patch_fractions

MODEL_FILE = "model.pt"
ONNX_FILE = "model.onnx"  # the model folder's export (ecg12.onnx_export), what ecg12.onnx_classifier runs


def sidecar_path(onnx_path: str | os.PathLike[str]) -> Path:
    """``OUT.json`` beside ``OUT.onnx``: the export's classes, decision rule and what it was exported from."""
    return Path(onnx_path).with_suffix(".json")


ONNX_DESCRIPTION_FILE = sidecar_path(ONNX_FILE).name  # the model folder's export's description, model.json
ONNX_EXPORT_FORMAT = 1  # of the export's description, OUT.json
# Folders from this many recordings get a compiled network (auto): compiling the paper network takes 30-40 s on
# 2 cores with torch's compile cache empty (3-12 s with it warm) and saves about 1.7 ms per recording in the driver
# (164 -> 227 recordings/s), so it pays from about 20,000 recordings cold (docs/performance.md).
COMPILE_FROM_RECORDINGS = 20_000

PreparedRecording = tuple[np.ndarray | PreparedSignal, np.ndarray]  # (12, N) mV at 500 Hz, record features
# (windows (k, 12, 5000) float32, record features (k, features) float32) -> (k, classes) probabilities
WindowProbabilities = Callable[[np.ndarray, np.ndarray], np.ndarray]


class ModelFolderError(RuntimeError):
    """A model folder that is missing, incomplete or from an incompatible version."""


def iterate_windows(
    signal: np.ndarray | PreparedSignal, stride: int, batch: int, window: int = WINDOW_SAMPLES
) -> Iterator[np.ndarray]:
    """(k, 12, window) float32 blocks of a (12, N) signal's windows, at most ``batch`` at a time, zero-padded.

    A :class:`PreparedSignal` is read window by window, in order: it computes each segment once.
    """
    starts = window_starts(signal.shape[1], window, stride)
    for first in range(0, len(starts), batch):
        yield extract_windows(signal, starts[first : first + batch], window, np.float32)


@dataclass(frozen=True)
class RecordingScores:
    """What the network gives for n recordings, (n, classes) each: ``probabilities``, every class's maximum over
    the recording's patches (the Challenge output probabilities), and ``patch_fractions``, what the paper's
    patch-wise rule decides on (:func:`~ecg12.thresholds.patch_fractions`)."""

    probabilities: np.ndarray
    patch_fractions: np.ndarray

    def labels(self, rule: DecisionRule) -> np.ndarray:
        """(n, classes) bool labels under ``rule``."""
        return rule.apply(self.probabilities, self.patch_fractions)

    @classmethod
    def concatenate(cls, parts: Sequence[RecordingScores]) -> RecordingScores:
        """The scores of several groups of recordings, in order."""
        return cls(
            np.concatenate([part.probabilities for part in parts]),
            np.concatenate([part.patch_fractions for part in parts]),
        )

    def subset(self, rows: slice | np.ndarray) -> RecordingScores:
        """The scores of the recordings ``rows`` selects (a slice, indices or a mask)."""
        return RecordingScores(self.probabilities[rows], self.patch_fractions[rows])


def score_recordings(
    window_probabilities: WindowProbabilities,
    records: Iterable[PreparedRecording],
    classes: int,
    stride: int = WINDOW_SAMPLES,
    batch_size: int = 64,
) -> RecordingScores:
    """Scores of recordings given as ((12, N) mV at 500 Hz, record features), their windows through
    ``window_probabilities`` at most ``batch_size`` at a time.

    Windows of consecutive recordings share batches; a recording's windows may span batches, and both of its
    scores are maxima over windows, so they are folded in batch by batch.
    """
    probabilities: list[np.ndarray] = []
    fractions: list[np.ndarray] = []
    pending_windows: list[np.ndarray] = []
    pending_features: list[np.ndarray] = []
    pending_owner: list[np.ndarray] = []
    pending = 0

    def flush() -> None:
        nonlocal pending
        if not pending:
            return
        batch = window_probabilities(np.concatenate(pending_windows), np.concatenate(pending_features))
        owners = np.concatenate(pending_owner)
        for owner in np.unique(owners):
            windows_of_owner = batch[owners == owner]
            probabilities[owner] = np.maximum(probabilities[owner], windows_of_owner.max(axis=0))
            fractions[owner] = np.maximum(fractions[owner], patch_fractions(windows_of_owner))
        pending_windows.clear()
        pending_features.clear()
        pending_owner.clear()
        pending = 0

    for signal, features in records:
        owner = len(probabilities)
        probabilities.append(np.zeros(classes, dtype=np.float64))
        fractions.append(np.zeros(classes, dtype=np.float64))
        side = np.asarray(features, dtype=np.float32)
        for block in iterate_windows(signal, stride, batch_size):
            if pending + len(block) > batch_size:
                flush()
            pending_windows.append(block)
            pending_features.append(np.repeat(side[None, :], len(block), axis=0))
            pending_owner.append(np.full(len(block), owner))
            pending += len(block)
    flush()
    if not probabilities:
        return RecordingScores(np.zeros((0, classes)), np.zeros((0, classes)))
    return RecordingScores(np.stack(probabilities), np.stack(fractions))


def prepare_measured_recording(
    header: Header, counts: CountsReader | np.ndarray
) -> tuple[PreparedSignal, np.ndarray, Measurements]:
    """Raw ADC counts (read from their file as needed, or in memory) and their header -> ((12, N) mV at 500 Hz,
    computed a segment at a time as the network reads it; record features and Measurements, from the first 5
    minutes, one delineation for both)."""
    reader = counts if isinstance(counts, CountsReader) else counts_in_memory(counts, header.source)
    signal = PreparedSignal(millivolts_reader(reader, header), reader.shape[1], header)
    measurements, features = measure_record(signal.samples(0, MEASURED_SAMPLES), header.age, header.sex)
    return signal, features, measurements


def prepare_recording(header: Header, counts: CountsReader | np.ndarray) -> tuple[PreparedSignal, np.ndarray]:
    """:func:`prepare_measured_recording` without the Measurements: what the network takes."""
    signal, features, _ = prepare_measured_recording(header, counts)
    return signal, features


class RecordingClassifier:
    """What classifying a folder needs of a loaded model, whatever runs its network: scores of prepared
    recordings, the decision rule, the class list, and whether compiling is the default where it runs."""

    backend: ClassVar[str]  # what runs the network: "torch" or "onnxruntime" (ecg12.backends)
    decision_rule: DecisionRule
    classes: ScoredClasses

    def scores(self, records: Iterable[PreparedRecording]) -> RecordingScores:
        """Scores (n, 24) of prepared recordings ((12, N) mV at 500 Hz, record features)."""
        raise NotImplementedError

    def probabilities(self, records: Iterable[PreparedRecording]) -> np.ndarray:
        """(n, 24) probabilities of prepared recordings ((12, N) mV at 500 Hz, record features)."""
        return self.scores(records).probabilities

    @property
    def compiles_by_default(self) -> bool:
        """Whether ``--compile auto`` compiles for a large folder (classify.COMPILE_FROM_RECORDINGS)."""
        return False

    def compile(self) -> bool:
        """Classify with a compiled network from now on; False where there is nothing to compile."""
        return False

    def challenge_outputs(self, scores: RecordingScores) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The 27 output codes, their binary labels and probabilities for n recordings' scores."""
        labels = scores.labels(self.decision_rule)
        return list(self.classes.output_codes), self.classes.expand(labels), self.classes.expand(scores.probabilities)
