"""A model folder as one ONNX file, for software that runs ONNX Runtime and no torch (ecg12.onnx_classifier).

The export is the float32 network the torch classifier runs (:func:`~ecg12.inference.inference_network`: batch
norms folded), with everything the folder's model holds: the members of a fold ensemble averaged, the measurement
model blended in, the criterion layer (ecg12.criteria), and the sigmoid. Its inputs are ``signals`` (B, 12, 5000)
float32 mV at 500 Hz and ``record_features`` (B, NUM_RECORD_FEATURES) float32 (ecg12.measurements.measure_record);
its output ``probabilities`` (B, 24). The batch size is free.

Beside ``OUT.onnx``, ``OUT.json`` holds what turns probabilities into labels and what the export was made from:
the classes (SNOMED CT codes, in the outputs' order), the decision rule, the window and stride, the record
features' count, the members, and the SHA-256 of the ONNX file and of the ``model.pt`` it was exported from, so
that a classifier refuses an export that no longer matches its model folder.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path

import torch

from ecg12 import __version__
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.files import atomic_write, atomic_write_text, file_sha256
from ecg12.inference import Classifier, load_classifier
from ecg12.model import FoldEnsemble
from ecg12.network import NUM_LEADS
from ecg12.preprocess import WINDOW_SAMPLES
from ecg12.scoring import MODEL_FILE, ONNX_EXPORT_FORMAT, ONNX_FILE, sidecar_path

log = logging.getLogger(__name__)

INPUTS = ("signals", "record_features")
OUTPUT = "probabilities"
OPSET = 17


class _Probabilities(torch.nn.Module):
    """The classifying network with its sigmoid: what the export computes."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, signals: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.network(signals, record_features).float())


def export_network(network: torch.nn.Module, path: str | os.PathLike[str]) -> None:
    """Write ``network`` (signals, record features -> logits) with its sigmoid as an ONNX file, atomically."""
    # A new module is in training mode, and export leaves every module it holds in its wrapper's mode afterwards:
    # eval, or the classifier that is exported would go on classifying with dropout on.
    wrapper = _Probabilities(network).eval()
    example = (torch.zeros(2, NUM_LEADS, WINDOW_SAMPLES), torch.zeros(2, NUM_RECORD_FEATURES))
    batch = {0: "batch"}

    def write(handle: object) -> None:
        torch.onnx.export(
            wrapper,
            example,
            handle,
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes={INPUTS[0]: batch, INPUTS[1]: batch, OUTPUT: batch},
            opset_version=OPSET,
            dynamo=False,
        )

    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is chosen (docs/deployment.md); its deprecation notices would reach every user.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ecg12\.onnx_export")
        atomic_write(path, write)


def export_model(folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None) -> Path:
    """Export the model folder's model to ``out`` (default ``folder/model.onnx``) and its ``.json`` beside it;
    raises ModelFolderError (from loading the folder) or OSError (writing). Returns the ONNX file's path."""
    folder = Path(folder)
    classifier = load_classifier(folder, "cpu", "float32")
    path = Path(out) if out is not None else folder / ONNX_FILE
    export_network(classifier.network, path)
    atomic_write_text(sidecar_path(path), json.dumps(describe_export(classifier, folder, path), indent=2) + "\n")
    return path


def export_trained_model(folder: Path) -> None:
    """After training: the model folder's export, for ``driver.py``'s default backend (ecg12.backends).

    A failure is logged, not raised: the trained model is saved already, and torch classifies it without an export.
    """
    started = time.perf_counter()
    try:
        path = export_model(folder)
    except Exception as error:  # whatever the exporter raises, the trained model stays usable
        log.warning(
            "Could not export the model to ONNX (%s: %s); torch classifies it. Retry: python export_model.py %s",
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
            folder,
        )
        return
    log.info("Exported the model for ONNX Runtime: %s (%.1f s)", path, time.perf_counter() - started)


def describe_export(classifier: Classifier, folder: Path, path: Path) -> dict[str, object]:
    """What ``OUT.json`` holds (module docstring)."""
    model = classifier.model
    return {
        "format": ONNX_EXPORT_FORMAT,
        "ecg12_version": __version__,
        "classes": list(classifier.classes.codes),
        "decision_rule": classifier.decision_rule.to_dict(),
        "window_samples": WINDOW_SAMPLES,
        "window_stride": classifier.window_stride,
        "sampling_rate_hz": 500,
        "inputs": {"signals": ["batch", NUM_LEADS, WINDOW_SAMPLES], "record_features": ["batch", NUM_RECORD_FEATURES]},
        "output": OUTPUT,
        "members": len(model.members) if isinstance(model, FoldEnsemble) else 1,
        "onnx_sha256": file_sha256(path),
        "model_sha256": file_sha256(folder / MODEL_FILE),
    }
