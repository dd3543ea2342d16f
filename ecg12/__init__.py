"""ecg12: a 12-lead ECG classifier (CQUPT_ECG multi-scale shared-kernel SE network, CinC 2020).

Modules, one concern each:
    config        the recipe as data: signal settings, architecture, training configuration (no torch)
    headers       WFDB header parsing (standard library only)
    recordings    signal loading (.mat / .dat, whole or a range at a time), ADC counts -> mV
    outputs       Challenge output files (write atomically, read as the official scorer does)
    classes       the scored SNOMED CT classes, equivalences and weights
    metrics       the official 2020 metrics, vectorised, on arrays
    evaluation    scoring folders of labels and outputs (evaluate_model.py)
    preprocess    lead order, gaps, resampling (a long recording a segment at a time), windowing
    model         the paper's network (msse) and the head every architecture shares
    comparators   the Table 1 comparators: one-dimensional ResNeXt and ResNeSt backbones
    augment       training-time augmentation: noise, gains, baseline wander, mains interference
    devices       CPU or GPU: choosing one, mixed precision, reproducibility, the device's random state
    loss          class-weighted BCE with hard example mining
    features      record features: age, sex and rhythm/morphology measurements
    delineation   the median beat and its global fiducial points (P, QRS, T end)
    measurements  what a cardiograph prints: rate, intervals, axes, voltages (NaN where not measurable)
    data          training cache (memory-mapped) and batches
    training      one network's training: the epoch loop, one optimiser step, validation, early stopping
    checkpoints   a run's model folder: checks before a run, the checkpoint and resume, metrics/split files
    ensemble      fold ensembles (--members K)
    distributed   several processes training one model (torchrun, DistributedDataParallel)
    runs          a training run from a data folder to a model folder (train_model.py)
    thresholds    decision rules (max/5 per sample, per-class tuned) and which one a run uses
    inference     loading a model folder and classifying recordings
    classify      classifying a folder: one output per recording, errors and warnings reported (driver.py)
    saliency      where in a window a class's output came from: Grad-CAM over leads and time
    report        one recording's report: the ECG on grid paper, the diagnoses by name, where they came from (report.py)
    split         multilabel-stratified validation split and k folds
    plots         training curves and per-class score plots
    crossval      k-fold cross-validation and its report
    files         atomic file writes
    cli           command-line options shared by the scripts (no torch)
    logs          logging set-up of the scripts
"""

__version__ = "1.1.0"
