"""ecg12: a 12-lead ECG classifier (CQUPT_ECG multi-scale shared-kernel SE network, CinC 2020).

Modules, one concern each:
    headers       WFDB header parsing (standard library only)
    recordings    signal loading (.mat / .dat), ADC counts -> mV
    outputs       Challenge output files (write atomically, read as the official scorer does)
    classes       the scored SNOMED CT classes, equivalences and weights
    metrics       the official 2020 metrics, vectorised, on arrays
    evaluation    scoring folders of labels and outputs (evaluate_model.py)
    preprocess    lead order, resampling, windowing
    model         the network
    data          training cache (memory-mapped) and batches
    training      the training loop, checkpoints, early stopping
    thresholds    decision rules (max/5 per sample, per-class tuned)
    inference     loading a model folder and classifying recordings
    crossval      k-fold cross-validation and its report
    synthetic     synthetic Challenge-format records for tests and benchmarks
    files         atomic file writes
"""

__version__ = "1.0.0"
