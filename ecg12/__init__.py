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
    network       the head every architecture shares: record features standardised, the light filter
    model         the paper's network (msse), the network of any architecture (build_network), fold ensembles
    comparators   the Table 1 comparators: one-dimensional ResNeXt and ResNeSt backbones
    measurement_model  a logistic regression on the record features, averaged with the network at inference
    augment       training-time augmentation: noise, gains, baseline wander, mains interference
    devices       CPU or GPU: choosing one, mixed precision, reproducibility, the device's random state
    loss          class-weighted BCE with hard example mining
    feature_names the record features' names and counts (no SciPy: the configuration sizes the head with them)
    features      record features: age, sex and rhythm/morphology measurements
    delineation   the median beat and its global fiducial points (P, QRS, T end)
    measurements  what a cardiograph prints: rate, intervals, axes, voltages (NaN where not measurable)
    signal_cache  the training recordings preprocessed once into a memory-mapped file: built, reused, evicted (no torch)
    batches       the training loader's windows and batches of them, and each rank's share of a batch
    training_run  one training run's set-up, worked out once: the cache's labels, the recipe, folder, rank, device
    training      one network's training: the epoch loop, one optimiser step, validation, early stopping
    checkpoints   a run's model folder: checks before a run, the checkpoint and resume, metrics/split files
    ensemble      fold ensembles (--members K)
    distributed   several processes training one model (torchrun, DistributedDataParallel)
    runs          a training run from a data folder to a model folder (train_model.py)
    thresholds    decision rules (max/5, tuned fraction, per-class thresholds, per patch) and which one a run uses
    inference     loading a model folder and classifying recordings
    classify      classifying a folder: one output per recording, errors and warnings reported (driver.py)
    saliency      where in a window a class's output came from: Grad-CAM over leads and time
    recording_analysis  one recording classified and explained: each window's vote, thresholds, saliency (no drawing)
    report        one recording's report drawn: the ECG on grid paper, the diagnoses by name, where they came from
    split         multilabel-stratified validation split and k folds
    plots         training curves and per-class score plots
    fold_plan     the folds of a cross-validation: random (stratified) or one per source database
    crossval      k-fold and leave-one-source-out cross-validation: folds trained, outputs pooled and scored
    crossval_report  a cross-validation's table of scores (its row names) and its Markdown report
    table1        the paper's Table 1: one cross-validation per architecture, beside the paper's numbers (table1.py)
    gpu_check     the whole product on a CUDA GPU in minutes, with numbers (gpu_check.py, make gpu-check)
    synthetic     synthetic Challenge-format records for tests, benchmarks and the GPU check
    files         atomic file writes
    cli           command-line options shared by the scripts (no torch)
    logs          logging set-up of the scripts
"""

__version__ = "1.1.0"
