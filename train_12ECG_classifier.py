"""Training entry point where the organisers' 2020 train_model.py looks for it.

Their script, which replaces ours in the 2020 harness, runs from the repository root, does
``from train_12ECG_classifier import train_12ECG_classifier`` and calls
``train_12ECG_classifier(input_directory, output_directory)``: a folder of recordings and the model folder
that their driver then hands to ``load_12ECG_model``. It trains with team_code.py's ``training_code`` and the
default recipe (docs/model.md), as ``python train_model.py DATA MODEL`` without options does.
"""

from __future__ import annotations

import os

from ecg12.logs import configure_logging
from team_code import training_code

__all__ = ["train_12ECG_classifier"]


def train_12ECG_classifier(input_directory: str | os.PathLike[str], output_directory: str | os.PathLike[str]) -> None:
    """Train the default recipe on the recordings in ``input_directory`` into the model folder ``output_directory``."""
    # The organisers' script sets up no logging; without this the per-epoch log lines would not reach their log.
    configure_logging()
    training_code(input_directory, output_directory)
