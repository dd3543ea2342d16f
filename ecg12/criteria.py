"""Diagnostic criteria: the classes cardiology defines by one measurement, and a layer that lets them speak.

Ten of the 24 scored classes are defined by a threshold on one measurement that every cardiograph prints
(AHA/ACCF/HRS recommendations for the standardization and interpretation of the ECG; Surawicz et al. 2009):

| class | criterion |
|---|---|
| sinus bradycardia (SB), bradycardia (Brady) | heart rate < 60 bpm |
| sinus tachycardia (STach) | heart rate > 100 bpm |
| 1st degree AV block (IAVB), prolonged PR (LPR) | PR > 200 ms |
| complete right (CRBBB/RBBB) and left (LBBB) bundle branch block | QRS >= 120 ms |
| left axis deviation (LAD) | QRS axis < -30 degrees |
| left anterior fascicular block (LAnFB) | QRS axis < -45 degrees |
| right axis deviation (RAD) | QRS axis > 90 degrees |
| low QRS voltages (LQRSV) | every limb lead's QRS under 0.5 mV |
| prolonged QT (LQT) | QTc (Bazett) > 460 ms |

A network trained on a few hundred recordings cannot learn what a 200 ms PR interval is; the measurement can say
it on every recording from every cart. :class:`CriterionLayer` makes each criterion lead its class's logit, the
network refining it within the measurement's error: ``evidence + REACH * tanh(logit / REACH)``. The evidence is
the signed distance of the measurement past its threshold in units of the measurement's tolerance (about its
error: 2.5 bpm, 10 ms for PR and QTc, 5 ms for QRS, 7.5 degrees, 0.05 mV), clipped to +-4; the network moves the
logit by less than ``REACH`` = 1 either way, so it can reorder recordings whose measurements lie within about two
tolerances of each other (where the measurement cannot tell them apart), and decide among those whose
measurements are far past the threshold (clipped to the same evidence: a wide QRS is right or left bundle branch
block by its shape), but never rank a recording far short of its class's criterion above one that meets it.
(A first version added ``0.5 * logit + 0.5 * evidence``: the network learnt logits large enough to overrule the
measurement, and ranked 9 of 11 criterion classes below their measurement alone leaving one source out; docs/
model.md, "Criteria".) A measurement that cannot be made (NaN: no PR in atrial fibrillation) gives no evidence:
the logit stays the network's. The thresholds, tolerances, clip and reach are fixed from the textbook and the
measurements' errors, not fitted to the sample recordings, which are too few to fit them and are not the
recordings the product will see. The output is monotone in the measurement, so a class's probability never falls
as its own measurement moves further past its threshold.

With a measurement model (ecg12.measurement_model) the layer comes last, after its average with the network: the
criterion has the last word in every model that has it.

The measurements reach the layer as the record features' last columns (:data:`CRITERION_FEATURE_NAMES`, raw
units, NaN where not measured; ecg12.measurements.measure_record), which the network's head does not read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ecg12.feature_names import CRITERION_FEATURE_NAMES, CRITERION_FEATURES_START

REACH = 1.0  # logit units the network may move a criterion class's logit either way: one tolerance
EVIDENCE_LIMIT = 4.0  # logit units: a measurement far past its threshold is strong evidence, never certainty


@dataclass(frozen=True)
class Criterion:
    """``measurement`` (a Measurements field) ``above`` (or below) ``threshold`` defines the class ``code``."""

    code: str  # the scored class's SNOMED CT code (the first of an equivalent pair, as weights.csv lists it)
    name: str  # the class's abbreviation, for messages and reports
    measurement: str
    above: bool
    threshold: float
    tolerance: float  # the measurement's typical error, in its unit: the evidence's scale
    statement: str  # the criterion as a cardiologist writes it

    def describe(self, value: float) -> str:
        """``heart rate < 60 bpm (52)``: the criterion with a recording's value."""
        return f"{self.statement} ({value:.{2 if self.measurement == 'limb_qrs_amplitude' else 0}f})"


CRITERIA: tuple[Criterion, ...] = (
    Criterion("426177001", "SB", "heart_rate", False, 60.0, 2.5, "heart rate < 60 bpm"),
    Criterion("426627000", "Brady", "heart_rate", False, 60.0, 2.5, "heart rate < 60 bpm"),
    Criterion("427084000", "STach", "heart_rate", True, 100.0, 2.5, "heart rate > 100 bpm"),
    Criterion("270492004", "IAVB", "pr", True, 200.0, 10.0, "PR > 200 ms"),
    Criterion("164947007", "LPR", "pr", True, 200.0, 10.0, "PR > 200 ms"),
    # QRS >= 120 ms: the evidence is 0 at 117.5 ms, positive from 120 on (half a tolerance below the threshold).
    Criterion("713427006", "CRBBB/RBBB", "qrs", True, 117.5, 5.0, "QRS >= 120 ms"),
    Criterion("164909002", "LBBB", "qrs", True, 117.5, 5.0, "QRS >= 120 ms"),
    Criterion("39732003", "LAD", "qrs_axis", False, -30.0, 7.5, "QRS axis < -30 degrees"),
    Criterion("445118002", "LAnFB", "qrs_axis", False, -45.0, 7.5, "QRS axis < -45 degrees"),
    Criterion("47665007", "RAD", "qrs_axis", True, 90.0, 7.5, "QRS axis > 90 degrees"),
    Criterion("251146004", "LQRSV", "limb_qrs_amplitude", False, 0.5, 0.05, "limb-lead QRS < 0.5 mV"),
    Criterion("111975006", "LQT", "qtc", True, 460.0, 10.0, "QTc > 460 ms"),
)


def evidence(criteria: Sequence[Criterion], values: np.ndarray) -> np.ndarray:
    """(n, len(criteria)) evidence of each criterion for n recordings' (n, len(criteria)) measurements, each
    column in its criterion's measurement; NaN where a measurement is NaN."""
    values = np.asarray(values, dtype=np.float64)
    threshold = np.array([c.threshold for c in criteria])
    scale = np.array([c.tolerance if c.above else -c.tolerance for c in criteria])
    return np.clip((values - threshold) / scale, -EVIDENCE_LIMIT, EVIDENCE_LIMIT)


def fired(measurements: object, criteria: Sequence[Criterion] = CRITERIA) -> list[tuple[Criterion, str]]:
    """The criteria a recording's Measurements meet, each with its text (``heart rate 52 < 60 bpm``)."""
    met = []
    for criterion in criteria:
        value = float(getattr(measurements, criterion.measurement))
        if math.isfinite(value) and evidence([criterion], np.array([[value]]))[0, 0] > 0:
            met.append((criterion, criterion.describe(value)))
    return met


class CriterionLayer(nn.Module):
    """Each criterion leading its class's logit, the network's within reach (module docstring); nothing to train.

    Its criteria are buffers, saved with the weights: a model classifies with the criteria it was trained with.
    """

    def __init__(self, class_codes: Sequence[str], criteria: Sequence[Criterion] = CRITERIA) -> None:
        super().__init__()
        codes = list(class_codes)
        known = [c for c in criteria if c.code in codes]
        columns = [CRITERION_FEATURES_START + CRITERION_FEATURE_NAMES.index(c.measurement) for c in known]
        self.register_buffer("class_index", torch.tensor([codes.index(c.code) for c in known], dtype=torch.long))
        self.register_buffer("feature_index", torch.tensor(columns, dtype=torch.long))
        self.register_buffer("threshold", torch.tensor([c.threshold for c in known]))
        self.register_buffer("scale", torch.tensor([c.tolerance if c.above else -c.tolerance for c in known]))
        self.register_buffer("reach", torch.tensor(REACH))

    def forward(self, logits: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        """(B, classes) logits and (B, NUM_RECORD_FEATURES) record features -> (B, classes) logits."""
        values = record_features[:, self.feature_index].float()
        strength = torch.clamp((values - self.threshold) / self.scale, -EVIDENCE_LIMIT, EVIDENCE_LIMIT)
        own = logits[:, self.class_index].float()
        led = strength + self.reach * torch.tanh(own / self.reach)
        return logits.index_copy(1, self.class_index, torch.where(torch.isnan(values), own, led).to(logits.dtype))

    def probabilities(self, probabilities: np.ndarray, record_features: np.ndarray) -> np.ndarray:
        """The layer on (n, classes) probabilities of n recordings with their (n, >= NUM_RECORD_FEATURES) record
        features: what it makes of a record-level average (the measurement model's, ecg12.training.validate)."""
        device = self.threshold.device
        clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
        logits = torch.from_numpy(np.log(clipped / (1 - clipped))).to(device)
        features = torch.as_tensor(record_features, dtype=torch.float32, device=device)
        with torch.no_grad():
            return torch.sigmoid(self(logits, features).double()).cpu().numpy()
