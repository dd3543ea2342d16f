"""k-fold cross-validation: per-fold and pooled out-of-fold scores, and a report.

The recordings are split into k multilabel-stratified folds. For each fold a model is trained on
the other folds (which it splits again for early stopping and, with the per-class rule, threshold
tuning) and classifies the held-out fold. Every recording so gets exactly one out-of-fold output;
these are written as Challenge output files and scored per fold and pooled. Alongside the
recipe's own decision rule the report gives the paper's max/5 rule and per-class thresholds tuned
on the pooled out-of-fold outputs themselves (an optimistic bound: tuned and scored on the same
outputs).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ecg12.checkpoints import SKIPPED_FILE, report_skipped
from ecg12.classes import abbreviate, scored_classes
from ecg12.config import TrainConfig
from ecg12.data import SignalCache
from ecg12.devices import resolve_device
from ecg12.files import atomic_write_text, printable
from ecg12.inference import load_classifier
from ecg12.metrics import ChallengeScores, score
from ecg12.outputs import save_outputs
from ecg12.plots import plot_class_scores
from ecg12.runs import fit, load_cache
from ecg12.split import k_folds
from ecg12.thresholds import DecisionRule, tune_class_thresholds
from ecg12.training import score_columns

log = logging.getLogger(__name__)


HELD_OUT_FILE = "held_out.npz"  # in each fold folder: the fold's out-of-fold outputs, for the pooling step


def cross_validate(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int = 5,
    overwrite: bool = False,
) -> dict[str, dict[str, float]]:
    """Run k-fold cross-validation; writes fold models, out-of-fold outputs, tables and a report.

    The same as :func:`run_fold` for every fold, then :func:`pool_folds`. An output folder that holds
    an earlier run's results is refused, or with ``overwrite`` emptied of them first: fold folders
    of a run with more folds must not sit beside the new report.
    """
    resolve_device(config.device)  # an unusable device is reported before the (long) cache build
    output_folder = Path(output_folder)
    _clear(output_folder, earlier_results(output_folder), overwrite, "an earlier cross-validation")
    cache = load_cache(data_folder, config)  # once for all folds: listing and opening it costs seconds at full size
    for fold in range(1, folds + 1):
        run_fold(data_folder, output_folder, config, folds, fold, cache=cache)
    return pool_folds(data_folder, output_folder, config, folds, cache=cache)


def run_fold(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int,
    fold: int,
    overwrite: bool = False,
    *,
    cache: SignalCache | None = None,
) -> None:
    """Train fold ``fold`` (1 to ``folds``) into ``output_folder/foldK`` and classify its held-out recordings.

    Folds are independent: a machine with several GPUs runs one per GPU at once
    (``cross_validate.py --fold K --device cuda:K``), then :func:`pool_folds` scores them together.
    ``cache``: the data folder's signal cache, when the caller has it open already.
    """
    if not 1 <= fold <= folds:
        raise ValueError(f"fold {fold} does not exist: choose 1 to {folds}")
    resolve_device(config.device)
    fold_folder = Path(output_folder) / f"fold{fold}"
    _clear(fold_folder.parent, [fold_folder] if fold_folder.exists() else [], overwrite, f"fold {fold}")
    started = time.time()
    if cache is None:
        cache = load_cache(data_folder, config)
    fold_of = k_folds(scored_classes().encode(cache.codes), folds, config.seed)
    held_out = np.flatnonzero(fold_of == fold - 1)
    log.info("Fold %d/%d: training on %d recordings", fold, folds, len(cache) - len(held_out))
    fit(cache, np.flatnonzero(fold_of != fold - 1), fold_folder, config)
    classifier = load_classifier(fold_folder, config.device)  # on the device it was trained on
    probabilities = classifier.probabilities((cache.signal(int(i)), cache.features[int(i)]) for i in held_out)
    np.savez_compressed(
        fold_folder / HELD_OUT_FILE,
        names=np.array([cache.names[i] for i in held_out]),
        probabilities=probabilities,
        binary=classifier.decision_rule.apply(probabilities),
        seconds=time.time() - started,
    )


def pool_folds(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int = 5,
    *,
    cache: SignalCache | None = None,
) -> dict[str, dict[str, float]]:
    """Score the out-of-fold outputs of every fold, per fold and pooled; write the outputs, tables and report.

    ``cache``: the data folder's signal cache, when the caller has it open already.
    """
    output_folder = Path(output_folder)
    missing = [k for k in range(1, folds + 1) if not (output_folder / f"fold{k}" / HELD_OUT_FILE).is_file()]
    if missing:
        raise ValueError(
            f"{output_folder}: folds {', '.join(map(str, missing))} of {folds} are not done: run them first (--fold K)"
        )
    classes = scored_classes()
    if cache is None:
        cache = load_cache(data_folder, config)
    labels = classes.encode(cache.codes)
    fold_of = k_folds(labels, folds, config.seed)
    index = {name: position for position, name in enumerate(cache.names)}
    probabilities = np.zeros(labels.shape)
    binary = np.zeros(labels.shape, dtype=bool)
    rows: dict[str, dict[str, float]] = {}
    for fold in range(folds):
        saved = np.load(output_folder / f"fold{fold + 1}" / HELD_OUT_FILE)
        held_out = np.array([index[str(name)] for name in saved["names"]], dtype=np.int64)
        if not np.array_equal(np.sort(held_out), np.flatnonzero(fold_of == fold)):
            raise ValueError(f"{output_folder}/fold{fold + 1} was run on other data or with other folds: run it again")
        probabilities[held_out] = saved["probabilities"]
        binary[held_out] = saved["binary"]
        fold_scores = score(labels[held_out], binary[held_out], probabilities[held_out], classes)
        rows[f"fold {fold + 1}"] = {**score_columns(fold_scores), "seconds": float(saved["seconds"])}
        log.info("Fold %d: Challenge metric %.4f", fold + 1, fold_scores.challenge_metric)

    fold_rows = list(rows.values())
    rows["mean of folds"] = {key: float(np.mean([r[key] for r in fold_rows])) for key in fold_rows[0]}
    rows["sd of folds"] = {key: float(np.std([r[key] for r in fold_rows], ddof=1)) for key in fold_rows[0]}
    pooled = score(labels, binary, probabilities, classes)
    seconds = float(sum(r["seconds"] for r in fold_rows))  # the folds' own times, wherever they ran
    rows["pooled out-of-fold"] = {**score_columns(pooled), "seconds": seconds}
    max_fraction = DecisionRule("max-fraction").apply(probabilities)
    rows["pooled, max/5 rule"] = score_columns(score(labels, max_fraction, probabilities, classes))
    crossfitted = crossfitted_thresholds(labels, probabilities, fold_of)
    rows["pooled, per-class thresholds cross-fitted on OOF"] = score_columns(
        score(labels, crossfitted, probabilities, classes)
    )
    tuned = tune_class_thresholds(labels, probabilities, classes.weights, classes.normal_index)
    tuned_binary = DecisionRule("per-class", class_thresholds=tuple(tuned)).apply(probabilities)
    rows["pooled, thresholds tuned on OOF (optimistic)"] = score_columns(
        score(labels, tuned_binary, probabilities, classes)
    )

    shutil.rmtree(output_folder / "outputs", ignore_errors=True)  # an earlier pooling's, maybe of other recordings
    _write_outputs(output_folder / "outputs", cache.names, classes.expand(binary), classes.expand(probabilities))
    # Like the driver, every recording gets an output: the unreadable ones all-negative, listed with the reason.
    unreadable = tuple(name for name, _ in cache.skipped)
    negative = np.zeros((len(unreadable), len(classes.output_codes)))
    _write_outputs(output_folder / "outputs", unreadable, negative.astype(bool), negative)
    report_skipped(cache, output_folder)
    _write_table(output_folder / "cv_scores.csv", rows)
    np.savez_compressed(
        output_folder / "oof.npz",
        names=np.array(cache.names),
        labels=labels,
        probabilities=probabilities,
        binary=binary,
        folds=fold_of,
    )
    write_report(output_folder, config, folds, rows, pooled, labels, len(unreadable), seconds)
    return rows


def _clear(folder: Path, earlier: list[Path], overwrite: bool, what: str) -> None:
    """Refuse ``earlier`` results in ``folder`` unless ``overwrite``; then remove them."""
    if earlier and not overwrite:
        raise ValueError(
            f"{folder} holds {what} ({', '.join(p.name for p in earlier)}): "
            "choose another folder, or replace it with --overwrite"
        )
    for path in earlier:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    folder.mkdir(parents=True, exist_ok=True)


RESULT_FILES = ("outputs", "cv_scores.csv", "oof.npz", "report.md", "class_scores.png", SKIPPED_FILE)


def earlier_results(output_folder: Path) -> list[Path]:
    """What an earlier cross-validation left in ``output_folder``: fold folders and the result files."""
    if not output_folder.is_dir():
        return []
    folds = [path for path in output_folder.glob("fold*") if path.is_dir() and path.name[4:].isdigit()]
    return sorted(folds) + [output_folder / name for name in RESULT_FILES if (output_folder / name).exists()]


def crossfitted_thresholds(labels: np.ndarray, probabilities: np.ndarray, fold_of: np.ndarray) -> np.ndarray:
    """Binary outputs where each fold's thresholds are tuned on the other folds' out-of-fold outputs.

    No recording's own label takes part in choosing its thresholds, so unlike thresholds tuned on
    all out-of-fold outputs this is an honest estimate, at no extra training cost.
    """
    classes = scored_classes()
    binary = np.zeros(labels.shape, dtype=bool)
    for fold in np.unique(fold_of):
        others = fold_of != fold
        thresholds = tune_class_thresholds(labels[others], probabilities[others], classes.weights, classes.normal_index)
        binary[~others] = probabilities[~others] >= thresholds
    return binary


def _write_outputs(folder: Path, names: tuple[str, ...], binary: np.ndarray, probabilities: np.ndarray) -> None:
    codes = list(scored_classes().output_codes)
    for name, labels, scores in zip(names, binary, probabilities, strict=True):
        save_outputs(folder / f"{name}.csv", printable(name), codes, labels, scores)


def _write_table(path: Path, rows: dict[str, dict[str, float]]) -> None:
    columns = list(next(iter(rows.values())))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run", *columns])
    for name, row in rows.items():
        writer.writerow([name, *(f"{row[c]:.4f}" if c in row else "" for c in columns)])
    atomic_write_text(path, buffer.getvalue())


def write_report(
    folder: Path,
    config: TrainConfig,
    folds: int,
    rows: dict[str, dict[str, float]],
    pooled: ChallengeScores,
    labels: np.ndarray,
    unreadable: int,
    seconds: float,
) -> None:
    """report.md (tables) and class_scores.png (per-class AUROC and F-measure of the pooled outputs)."""
    classes = scored_classes()
    names = abbreviate(classes.codes)
    positives = labels.sum(axis=0)
    plot_class_scores(
        names,
        pooled.auroc_classes,
        pooled.f_measure_classes,
        positives,
        folder / "class_scores.png",
        f"{folds}-fold cross-validation, pooled out-of-fold outputs",
    )
    headline = ["challenge_metric", "auroc", "auprc", "f_measure", "f_beta", "g_beta", "accuracy"]
    lines = [
        f"# {folds}-fold cross-validation",
        "",
        f"{labels.shape[0]} recordings, {seconds / 60:.1f} min of fold time. Recipe: `{json.dumps(asdict(config))}`",
        "",
        f"{unreadable} recordings could not be read: listed with the reason in {SKIPPED_FILE}; their outputs are "
        "all-negative and they are not in the scores below."
        if unreadable
        else "Every recording could be read.",
        "",
        "| run | " + " | ".join(headline) + " |",
        "|---|" + "---|" * len(headline),
    ]
    lines += [
        f"| {name} | " + " | ".join(f"{row.get(k, float('nan')):.3f}" for k in headline) + " |"
        for name, row in rows.items()
    ]
    lines += [
        "",
        "## Per class (pooled out-of-fold outputs)",
        "",
        "![per-class scores](class_scores.png)",
        "",
        "| class | code | positives | AUROC | AUPRC | F-measure |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {code} | {int(n)} | {a:.3f} | {p:.3f} | {f:.3f} |"
        for name, code, n, a, p, f in zip(
            names,
            classes.codes,
            positives,
            pooled.auroc_classes,
            pooled.auprc_classes,
            pooled.f_measure_classes,
            strict=True,
        )
    ]
    too_few = [f"{name} ({int(n)})" for name, n in zip(names, positives, strict=True) if n < 2]
    lines += [
        "",
        "Classes with fewer than 2 positive recordings cannot be scored meaningfully "
        f"(AUROC needs positives, F-measure is all-or-nothing): {', '.join(too_few) or 'none'}.",
        "",
    ]
    atomic_write_text(folder / "report.md", "\n".join(lines))
