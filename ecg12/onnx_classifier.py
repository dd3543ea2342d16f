"""Classifying with ONNX Runtime from an export (ecg12.onnx_export), without torch.

The export's probabilities go through the same scoring as the torch classifier's (ecg12.scoring: windows in
batches, maxima over a recording's windows, the decision rule in ``OUT.json``), so the outputs are the torch
path's within float32 rounding (tests/test_export_model.py holds them within 1e-4). Nothing here imports torch:
its start-up (about 1.5 s of a 2-core machine's) is saved, and a machine needs only onnxruntime.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np

from ecg12.classes import scored_classes
from ecg12.files import file_sha256
from ecg12.scoring import (
    MODEL_FILE,
    ONNX_EXPORT_FORMAT,
    ONNX_FILE,
    ModelFolderError,
    PreparedRecording,
    RecordingClassifier,
    RecordingScores,
    score_recordings,
    sidecar_path,
)
from ecg12.thresholds import DecisionRule

log = logging.getLogger(__name__)


class OnnxClassifier(RecordingClassifier):
    """An ONNX Runtime session of an export, with its decision rule and classes.

    Windows go through in batches of 16, not the torch classifier's 64: ONNX Runtime's memory arena keeps what
    its largest batch needed, and a 24-hour recording (batches of 64) then peaked at 817 MB against 367 MB with
    16, which is also its faster batch here (82 against 69 windows/s on a 1-hour recording; docs/performance.md).
    """

    backend: ClassVar[str] = "onnxruntime"

    def __init__(self, session: object, decision_rule: DecisionRule, window_stride: int, batch_size: int = 16) -> None:
        self.session = session
        self.decision_rule = decision_rule
        self.classes = scored_classes()
        self.window_stride = window_stride
        self.batch_size = batch_size

    def window_probabilities(self, windows: np.ndarray, features: np.ndarray) -> np.ndarray:
        """(k, 12, 5000) windows and (k, features) record features -> (k, 24) probabilities."""
        return self.session.run(None, {"signals": windows, "record_features": features})[0]  # type: ignore[attr-defined]

    def scores(self, records: Iterable[PreparedRecording]) -> RecordingScores:
        return score_recordings(
            self.window_probabilities,
            records,
            len(self.classes.codes),
            self.window_stride,
            self.batch_size,
        )


def load_onnx_classifier(
    folder: str | os.PathLike[str], onnx_path: str | os.PathLike[str] | None = None, threads: int = 1
) -> OnnxClassifier:
    """The export of the model folder ``folder`` (default ``folder/model.onnx``) in an ONNX Runtime session on
    ``threads`` threads; ModelFolderError, in one line that says what to do, for an export that is missing, damaged
    or not of ``folder``'s current model.pt."""
    folder = Path(folder)
    path = Path(onnx_path) if onnx_path is not None else folder / ONNX_FILE
    sidecar = sidecar_path(path)
    again = f"run python export_model.py {folder} {path}"
    if not (folder / MODEL_FILE).is_file():
        raise ModelFolderError(f"model folder {folder} has no {MODEL_FILE} (train a model into it first)")
    if not path.is_file() or not sidecar.is_file():
        raise ModelFolderError(f"{folder} has no ONNX export {path} with its {sidecar.name}: {again}")
    try:
        described = json.loads(sidecar.read_text(encoding="utf-8"))
        if described.get("format") != ONNX_EXPORT_FORMAT:
            raise ValueError(f"export format {described.get('format')!r}, this ecg12 reads {ONNX_EXPORT_FORMAT}")
        rule = DecisionRule.from_dict(described["decision_rule"], len(described["classes"]))
        stride = int(described["window_stride"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelFolderError(f"{sidecar} is not a usable export description ({error}): {again}") from error
    if described["classes"] != list(scored_classes().codes):
        raise ModelFolderError(f"{path} was exported for other classes than this weights.csv defines: {again}")
    if file_sha256(folder / MODEL_FILE) != described.get("model_sha256"):
        raise ModelFolderError(f"{path} was exported from another {MODEL_FILE} than {folder}'s now: {again}")
    if file_sha256(path) != described.get("onnx_sha256"):
        raise ModelFolderError(f"{path} is not the file that was exported (it changed since): {again}")
    try:
        session = onnx_session(path, threads)
    except Exception as error:  # onnxruntime raises its own types for damaged files
        raise ModelFolderError(f"{path} cannot be loaded by ONNX Runtime ({error}): {again}") from error
    log.info("Classifying with ONNX Runtime from %s on %d thread(s)", path, max(threads, 1))
    return OnnxClassifier(session, rule, stride)


def onnx_session(path: str | os.PathLike[str], threads: int) -> object:
    """An ONNX Runtime CPU session of the ONNX file ``path`` on ``threads`` threads (one operation at a time)."""
    import onnxruntime  # here: importing the package costs start-up, and --help need not wait for it

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(threads, 1)
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
