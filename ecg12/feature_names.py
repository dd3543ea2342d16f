"""The record features' names, in the order of the feature vector, and how many there are of each kind.

A leaf: the network's configuration (ecg12.config) sizes the head from these counts without importing the
measurements (ecg12.features, which needs SciPy), and the measurements fill the vector in this order.
"""

from __future__ import annotations

DEMOGRAPHIC_FEATURE_NAMES: tuple[str, ...] = ("age / 100", "age unknown", "male", "female")
NUM_DEMOGRAPHICS = len(DEMOGRAPHIC_FEATURE_NAMES)
RHYTHM_FEATURE_NAMES: tuple[str, ...] = (
    "heart rate / 100 bpm",
    "RR coefficient of variation",
    "RMSSD / mean RR",
    "share of successive RR differences > 50 ms",
    "shortest RR / median RR",
    "longest RR / median RR",
    "beats detected / 10 s / 10",
)
MORPHOLOGY_FEATURE_NAMES: tuple[str, ...] = (
    "QRS duration / 100 ms",
    "cos(QRS axis)",
    "sin(QRS axis)",
    "largest limb-lead QRS amplitude (mV)",
    "largest precordial QRS amplitude (mV)",
    "terminal QRS in V1 (mV)",
    "terminal QRS in V6 (mV)",
    "terminal QRS in I (mV)",
    "mean T wave in I, II, V5, V6 (mV)",
    "share of negative T waves in I, II, V5, V6",
    "precordial T wave / QRS amplitude",
    "QRS onset to peak / 100 ms",
)
MEASUREMENT_NAMES = RHYTHM_FEATURE_NAMES + MORPHOLOGY_FEATURE_NAMES
NUM_MEASUREMENTS = len(MEASUREMENT_NAMES)
# The cardiograph's measurements that define classes (ecg12.criteria), in their own units, NaN where not made:
# the vector's last columns, read by the criterion layer only (the head takes the leading ones).
CRITERION_FEATURE_NAMES: tuple[str, ...] = ("heart_rate", "pr", "qrs", "qrs_axis", "limb_qrs_amplitude", "qtc")
CRITERION_FEATURES_START = NUM_DEMOGRAPHICS + NUM_MEASUREMENTS
NUM_RECORD_FEATURES = CRITERION_FEATURES_START + len(CRITERION_FEATURE_NAMES)
