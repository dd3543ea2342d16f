"""The Challenge 2020 entry points: training_code, load_12ECG_model, run_12ECG_classifier.

The organisers' scripts call exactly these three functions; the work is done by the ecg12 package.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from ecg12.backends import load_model
from ecg12.classify import classify_recording
from ecg12.config import TrainConfig
from ecg12.headers import RecordError, parse_header
from ecg12.runs import train
from ecg12.scoring import RecordingClassifier


def training_code(
    data_directory: str | os.PathLike[str],
    model_directory: str | os.PathLike[str],
    config: TrainConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    member: int | None = None,
) -> None:
    """Train a model on the recordings in ``data_directory`` and save it in ``model_directory``.

    ``resume`` continues an interrupted run; a folder that already holds a model is refused unless
    ``overwrite``; ``member`` trains one fold model of an ensemble (see ecg12.runs.train).
    """
    train(data_directory, model_directory, config, resume=resume, overwrite=overwrite, member=member)


def load_12ECG_model(
    model_directory: str | os.PathLike[str], device: str = "auto", precision: str = "auto", backend: str = "auto"
) -> RecordingClassifier:
    """Load a trained model folder (checked completely before any recording is read): on a CPU, with ONNX Runtime
    from the folder's current export where there is one, else torch (ecg12.backends); on a GPU if there is one."""
    return load_model(model_directory, backend, device, precision)


def run_12ECG_classifier(
    data: np.ndarray, header_data: list[str] | str, model: RecordingClassifier
) -> tuple[list[int], list[float], list[str]]:
    """Classify one recording: ``data`` is the ``val`` array (raw ADC counts), ``header_data`` the header's lines.

    Returns binary labels, probabilities and the 27 scored SNOMED CT codes (both codes of an
    equivalent pair carry the same value). A recording that cannot be classified gets all labels
    and probabilities 0 (the scorer counts it as negative) and its error on stderr, so that the
    organisers' driver, which has no error handling, goes on with the next recording.
    """
    codes = list(model.classes.output_codes)
    try:
        text = (
            header_data
            if isinstance(header_data, str)
            else "".join(line if line.endswith("\n") else line + "\n" for line in header_data)
        )
        header = parse_header(text, "<header>")
        counts = np.asarray(data, dtype=np.float64)
        if counts.shape != (header.num_leads, header.num_samples):
            raise RecordError(
                header.record_name,
                f"data has shape {counts.shape} but the header declares {header.num_leads} x {header.num_samples}",
            )
        codes, labels, probabilities = classify_recording(model, header, counts)
    except Exception as error:  # one bad recording must not stop the organisers' loop
        print(f"run_12ECG_classifier: {type(error).__name__}: {error}", file=sys.stderr)
        return [0] * len(codes), [0.0] * len(codes), codes
    return [int(v) for v in labels], [float(p) for p in probabilities], codes
