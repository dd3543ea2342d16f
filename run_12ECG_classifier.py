"""Classification entry points where the organisers' 2020 driver.py looks for them.

Their driver, which replaces ours in the 2020 harness, runs from the repository root and does
``from run_12ECG_classifier import load_12ECG_model, run_12ECG_classifier``: it calls
``load_12ECG_model(model_directory)`` once and ``run_12ECG_classifier(data, header_data, model)`` for every
recording (``data``: the MAT file's ``val`` as float64, ``header_data``: the header's lines), and saves the
returned (labels, probabilities, classes). Both functions are team_code.py's own (the 2021-style entry
points), re-exported here so that the two harnesses and our driver.py run the same code.
"""

from __future__ import annotations

from team_code import load_12ECG_model, run_12ECG_classifier

__all__ = ["load_12ECG_model", "run_12ECG_classifier"]
