"""Cross-validation, k-fold or leave-one-source-out: per-fold and pooled out-of-fold scores, and a report.

The recordings are split into folds (:func:`ecg12.fold_plan.plan_folds`): ``group_by="random"``, k
multilabel-stratified folds; ``group_by="source"``, one fold per source database, so that each fold
scores a database the model never saw. For each fold a model is trained on the other folds (which it
splits again for early stopping and, with the per-class rule, threshold tuning) and classifies the
held-out fold. Every recording so gets exactly one out-of-fold output; these are written as Challenge
output files and scored per fold, pooled and per source database (:func:`pool_folds`). Alongside the
recipe's own decision rule the scores give max/5 on the recordings' probabilities, the paper's max/5
on each patch with the union taken, per-class thresholds cross-fitted on the other folds' outputs,
and per-class thresholds tuned on the pooled out-of-fold outputs themselves (an optimistic bound:
tuned and scored on the same outputs). The table and the report are ecg12.crossval_report's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ecg12.checkpoints import SKIPPED_FILE, has_checkpoint, report_skipped
from ecg12.classes import ScoredClasses, scored_classes
from ecg12.config import TrainConfig
from ecg12.crossval_report import (
    CLASS_SCORES_FILE,
    CROSSFITTED_ROW,
    MAX_FRACTION_ROW,
    MEAN_ROW,
    PATCH_FRACTION_ROW,
    POOLED_ROW,
    REPORT_FILE,
    SCORES_FILE,
    SD_ROW,
    TUNED_ROW,
    CrossValidationResults,
    source_row,
    write_markdown_report,
    write_scores_table,
)
from ecg12.distributed import Rank
from ecg12.files import atomic_write, atomic_write_text, one_run, printable
from ecg12.fold_plan import DEFAULT_FOLDS, FoldPlan, GroupBy, check_group_by, plan_folds, title
from ecg12.inference import load_classifier
from ecg12.metrics import score
from ecg12.outputs import save_outputs
from ecg12.runs import fit, load_cache
from ecg12.signal_cache import SignalCache
from ecg12.thresholds import DecisionRule, tune_class_thresholds
from ecg12.training import score_columns
from ecg12.training_run import TrainingRun, where_to_train

log = logging.getLogger(__name__)


HELD_OUT_FILE = "held_out.npz"  # in each fold folder: the fold's out-of-fold outputs, for the pooling step
GROUPING_FILE = "grouping.json"  # how the folds were made, so that folds of another grouping are not mixed in
OUT_OF_FOLD_FILE = "oof.npz"  # every recording's out-of-fold outputs, labels and fold
OUTPUTS_FOLDER = "outputs"  # the out-of-fold outputs as Challenge output files
_FOLD_ENTRY = re.compile(r"fold(\d+)|\.fold(\d+)\.lock")  # a fold's folder, or the lock file of a run of it
RESULT_FILES = (
    OUTPUTS_FOLDER,
    SCORES_FILE,
    OUT_OF_FOLD_FILE,
    REPORT_FILE,
    CLASS_SCORES_FILE,
    SKIPPED_FILE,
    GROUPING_FILE,
)


@dataclass(frozen=True)
class CrossValidation:
    """A cross-validation into ``folder``, worked out once for all its steps: the data folder's signal cache, its
    scored labels (every recording's, in the cache's order) and the fold plan."""

    folder: Path
    config: TrainConfig
    cache: SignalCache
    classes: ScoredClasses
    labels: np.ndarray
    plan: FoldPlan

    @classmethod
    def open(
        cls,
        data_folder: str | os.PathLike[str],
        output_folder: Path,
        config: TrainConfig,
        folds: int | None,
        group_by: str,
    ) -> CrossValidation:
        """The cross-validation of ``data_folder`` (its signal cache built if needed) into ``output_folder``;
        ``folds`` and ``group_by`` as for :func:`cross_validate`."""
        cache = load_cache(data_folder, config)
        classes = scored_classes()
        labels = classes.encode(cache.codes)
        plan = plan_folds(cache.names, labels, config.seed, folds, group_by)
        return cls(output_folder, config, cache, classes, labels, plan)

    def fold_folder(self, fold: int) -> Path:
        """The folder of fold ``fold`` (1 to the number of folds): its model and its out-of-fold outputs."""
        return self.folder / f"fold{fold}"

    def fold_run(self, fold: int, rank: Rank, device: torch.device, resume: bool) -> TrainingRun:
        """The training run of fold ``fold`` into its folder, by the process ecg12.training_run.where_to_train
        placed (on this cross-validation's data: the fold's recordings are chosen by the caller)."""
        folder = self.fold_folder(fold)
        return TrainingRun(self.cache, self.config, folder, rank, device, self.classes, self.labels, resume)


def cross_validate(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int | None = None,
    overwrite: bool = False,
    *,
    group_by: GroupBy = "random",
    resume: bool = False,
) -> dict[str, dict[str, float]]:
    """Run a cross-validation; writes fold models, out-of-fold outputs, tables and a report.

    ``group_by``: ``"random"``, ``folds`` multilabel-stratified folds (default 5), or ``"source"``,
    leave-one-source-out (one fold per source database; ``folds`` left out, or that number). The
    same as :func:`run_fold` for every fold, then :func:`pool_folds`. An output folder that holds an
    earlier run's results is refused, or with ``overwrite`` emptied of them first: fold folders of a
    run with more folds must not sit beside the new report. ``resume`` continues an interrupted
    cross-validation instead: its finished folds are kept, the others continued or run. The run holds
    every fold's lock (see :func:`run_fold`) from before anything is removed to its end, so that a
    ``--fold K`` run in progress refuses it and none starts meanwhile. Returns the table's rows
    (ecg12.crossval_report).
    """
    check_group_by(group_by)
    place = where_to_train(config)  # an unusable device is reported before the (long) cache build
    output_folder = Path(output_folder)
    earlier = [] if resume else earlier_results(output_folder)
    _refuse(output_folder, earlier, overwrite, "an earlier cross-validation")
    if resume:
        _check_grouping(output_folder, group_by, folds)
    # Once for all folds: listing and opening the cache costs seconds at full size.
    cv = CrossValidation.open(data_folder, output_folder, config, folds, group_by)
    # Every fold's lock before anything is removed: a --fold K run in progress keeps its fold, and none starts.
    with _fold_locks(output_folder, _every_fold(cv)):
        _clear(output_folder, earlier, overwrite, "an earlier cross-validation")  # only once the folds are possible
        if group_by == "source":
            log.info("Leave-one-source-out folds: %s", cv.plan.describe())
        for fold in range(1, cv.plan.count + 1):
            _run_fold(cv, fold, place, overwrite=False, resume=resume)
        return _pool(cv)


def run_fold(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int | None,
    fold: int,
    overwrite: bool = False,
    *,
    group_by: GroupBy = "random",
    resume: bool = False,
) -> FoldPlan:
    """Train fold ``fold`` (1 to the number of folds) into ``output_folder/foldK`` and classify its held-out recordings.

    ``folds`` and ``group_by`` as for :func:`cross_validate`; with ``group_by="source"`` fold K holds
    out the K-th source (the folds are logged). Folds are independent: a machine with several GPUs
    runs one per GPU at once (``cross_validate.py --fold K --device cuda:K``), then :func:`pool_folds`
    scores them together; one run at a time runs a fold (it holds ``output_folder/.foldK.lock``). A
    fold of another grouping (or number of folds) than the folds already in ``output_folder`` is
    refused, and a fold already there unless ``overwrite`` (run it again) or ``resume``: a finished
    fold is kept, an interrupted one continued from its checkpoint (or run again, without one), and
    one whose out-of-fold outputs cannot be read classifies them again. Returns the fold plan.
    """
    check_group_by(group_by)
    if group_by == "random" and not 1 <= fold <= (DEFAULT_FOLDS if folds is None else folds):
        raise ValueError(f"fold {fold} does not exist: choose 1 to {DEFAULT_FOLDS if folds is None else folds}")
    output_folder = Path(output_folder)
    _check_grouping(output_folder, group_by, folds)
    place = where_to_train(config)
    fold_folder = output_folder / f"fold{fold}"
    if not resume:
        _refuse(output_folder, [fold_folder] if fold_folder.exists() else [], overwrite, f"fold {fold}")
    with _fold_locks(output_folder, [fold]):
        cv = CrossValidation.open(data_folder, output_folder, config, folds, group_by)
        if group_by == "source":
            log.info("Leave-one-source-out folds: %s", cv.plan.describe())
        if not 1 <= fold <= cv.plan.count:
            raise ValueError(f"fold {fold} does not exist: choose 1 to {cv.plan.count} ({cv.plan.describe()})")
        _run_fold(cv, fold, place, overwrite, resume)
    return cv.plan


@contextmanager
def _fold_locks(output_folder: Path, folds: Iterable[int]) -> Iterator[None]:
    """The locks of ``folds`` in ``output_folder``, held by the one run that runs (or pools) them; FolderInUse names
    the first fold that another run holds."""
    with ExitStack() as held:
        for fold in folds:
            held.enter_context(one_run(output_folder, [f".fold{fold}.lock"], f"fold {fold} in {output_folder}"))
        yield


def _every_fold(cv: CrossValidation) -> list[int]:
    """The folds that a run over all of ``cv``'s folds, or their pooling, holds: its own, and every other that a fold
    folder or a fold's lock file in its folder names (a ``--fold K`` run of another plan, done or in progress)."""
    named = {int(found[1] or found[2]) for path in cv.folder.glob("*") if (found := _FOLD_ENTRY.fullmatch(path.name))}
    return sorted(named | set(range(1, cv.plan.count + 1)))


def _run_fold(cv: CrossValidation, fold: int, place: tuple[Rank, torch.device], overwrite: bool, resume: bool) -> None:
    """Fold ``fold`` of ``cv``, its lock held, as :func:`run_fold` tells; ``place``: where_to_train's."""
    plan, fold_folder = cv.plan, cv.fold_folder(fold)
    _check_grouping(cv.folder, plan.group_by, plan.count)
    if resume and _readable_held_out(fold_folder / HELD_OUT_FILE):
        log.info("%s is done: kept", plan.fold_label(fold - 1))
        return
    started = time.time()
    continuing = resume and has_checkpoint(fold_folder)
    if not continuing:  # nothing to continue from: the fold starts over
        _clear(cv.folder, [fold_folder] if fold_folder.exists() else [], overwrite or resume, f"fold {fold}")
    _record_grouping(cv.folder, plan)
    held_out = np.flatnonzero(plan.fold_of == fold - 1)
    log.info("%s: training on %d recordings", plan.fold_label(fold - 1), len(cv.cache) - len(held_out))
    fit(cv.fold_run(fold, *place, resume=continuing), np.flatnonzero(plan.fold_of != fold - 1))
    classifier = load_classifier(fold_folder, cv.config.device)  # on the device it was trained on
    scores = classifier.scores((cv.cache.signal(int(i)), cv.cache.features[int(i)]) for i in held_out)
    _save_arrays(
        fold_folder / HELD_OUT_FILE,
        names=np.array([cv.cache.names[i] for i in held_out]),
        probabilities=scores.probabilities,
        patch_fractions=scores.patch_fractions,
        binary=scores.labels(classifier.decision_rule),
        seconds=time.time() - started,
    )


def pool_folds(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int | None = None,
    *,
    group_by: GroupBy = "random",
) -> dict[str, dict[str, float]]:
    """Score the out-of-fold outputs per fold, pooled and per source; write the outputs, tables and report.

    ``folds`` and ``group_by`` as for :func:`cross_validate`; folds of another grouping are refused, and so
    is pooling while another run holds a fold's lock (a fold being run, or another pooling). Returns the
    table's rows (ecg12.crossval_report).
    """
    check_group_by(group_by)
    output_folder = Path(output_folder)
    _check_grouping(output_folder, group_by, folds)
    cv = CrossValidation.open(data_folder, output_folder, config, folds, group_by)
    with _fold_locks(output_folder, _every_fold(cv)):  # no fold is run, and no other pooling writes, meanwhile
        return _pool(cv)


def _pool(cv: CrossValidation) -> dict[str, dict[str, float]]:
    _check_grouping(cv.folder, cv.plan.group_by, cv.plan.count)
    outputs = load_out_of_fold(cv)
    results = score_out_of_fold(cv, outputs)
    write_results(cv, outputs, results)
    return results.rows


@dataclass(frozen=True)
class OutOfFold:
    """Every recording's out-of-fold outputs (in the cache's order), as its fold classified it."""

    probabilities: np.ndarray
    patch_fractions: np.ndarray | None  # None: a fold run before they were kept (ecg12 1.0)
    binary: np.ndarray  # the labels the fold's model gave, by its own decision rule
    seconds: tuple[float, ...]  # each fold's time, wherever it ran


def load_out_of_fold(cv: CrossValidation) -> OutOfFold:
    """The folds' out-of-fold outputs (HELD_OUT_FILE), pooled; refused where a fold is not done, cannot be read,
    or held out other recordings than the plan's."""
    plan, folder = cv.plan, cv.folder
    missing = [k for k in range(1, plan.count + 1) if not (cv.fold_folder(k) / HELD_OUT_FILE).is_file()]
    if missing:
        raise ValueError(
            f"{folder}: folds {', '.join(map(str, missing))} of {plan.count} are not done: run them first (--fold K)"
        )
    index = {name: position for position, name in enumerate(cv.cache.names)}
    probabilities = np.zeros(cv.labels.shape)
    fractions: np.ndarray | None = np.zeros(cv.labels.shape)
    binary = np.zeros(cv.labels.shape, dtype=bool)
    seconds = []
    for fold in range(plan.count):
        saved = load_arrays(
            cv.fold_folder(fold + 1) / HELD_OUT_FILE,
            f"run the fold again with --fold {fold + 1} --resume (which keeps its model)",
        )
        held_out = np.array([index.get(str(name), -1) for name in saved["names"]], dtype=np.int64)
        if not np.array_equal(np.sort(held_out), np.flatnonzero(plan.fold_of == fold)):
            raise ValueError(f"{folder}/fold{fold + 1} was run on other data or with other folds: run it again")
        probabilities[held_out] = saved["probabilities"]
        if fractions is not None and "patch_fractions" in saved:
            fractions[held_out] = saved["patch_fractions"]
        else:
            fractions = None
        binary[held_out] = saved["binary"]
        seconds.append(float(saved["seconds"]))
    return OutOfFold(probabilities, fractions, binary, tuple(seconds))


def score_out_of_fold(cv: CrossValidation, outputs: OutOfFold) -> CrossValidationResults:
    """The table's rows: each fold, their mean and standard deviation, the pooled outputs by the folds' own rule
    and by the others, and each source database's pooled outputs."""
    classes, labels, plan = cv.classes, cv.labels, cv.plan
    probabilities, binary = outputs.probabilities, outputs.binary
    rows: dict[str, dict[str, float]] = {}
    for fold in range(plan.count):
        mine = plan.fold_of == fold
        fold_scores = score(labels[mine], binary[mine], probabilities[mine], classes)
        rows[plan.fold_name(fold)] = {**score_columns(fold_scores), "seconds": outputs.seconds[fold]}
        log.info("%s: Challenge metric %.4f", plan.fold_label(fold), fold_scores.challenge_metric)
    fold_rows = list(rows.values())
    rows[MEAN_ROW] = {key: float(np.mean([r[key] for r in fold_rows])) for key in fold_rows[0]}
    rows[SD_ROW] = {key: float(np.std([r[key] for r in fold_rows], ddof=1)) for key in fold_rows[0]}
    pooled = score(labels, binary, probabilities, classes)
    rows[POOLED_ROW] = {**score_columns(pooled), "seconds": float(sum(outputs.seconds))}

    def scored(rule_binary: np.ndarray) -> dict[str, float]:
        return score_columns(score(labels, rule_binary, probabilities, classes))

    rows[MAX_FRACTION_ROW] = scored(DecisionRule("max-fraction").apply(probabilities))
    if outputs.patch_fractions is not None:
        rows[PATCH_FRACTION_ROW] = scored(DecisionRule("patch-fraction").apply(probabilities, outputs.patch_fractions))
    rows[CROSSFITTED_ROW] = scored(crossfitted_thresholds(labels, probabilities, plan.fold_of))
    tuned = tune_class_thresholds(labels, probabilities, classes.weights, classes.normal_index)
    rows[TUNED_ROW] = scored(DecisionRule("per-class", class_thresholds=tuple(tuned)).apply(probabilities))
    sources = np.array(plan.sources)
    for source in plan.source_names:  # the pooled outputs of each source, for either grouping
        mine = sources == source
        rows[source_row(source, mine.sum())] = score_columns(
            score(labels[mine], binary[mine], probabilities[mine], classes)
        )
    return CrossValidationResults(plan, cv.config, rows, pooled, labels, len(cv.cache.skipped))


def write_results(cv: CrossValidation, outputs: OutOfFold, results: CrossValidationResults) -> None:
    """Every result of a pooled cross-validation into its folder: the out-of-fold outputs as Challenge output files
    and OUT_OF_FOLD_FILE, the unreadable recordings, the table and the report."""
    folder, classes, plan = cv.folder, cv.classes, cv.plan
    shutil.rmtree(folder / OUTPUTS_FOLDER, ignore_errors=True)  # an earlier pooling's, maybe of other recordings
    _write_outputs(
        folder / OUTPUTS_FOLDER, cv.cache.names, classes.expand(outputs.binary), classes.expand(outputs.probabilities)
    )
    # Like the driver, every recording gets an output: the unreadable ones all-negative, listed with the reason.
    unreadable = tuple(name for name, _ in cv.cache.skipped)
    negative = np.zeros((len(unreadable), len(classes.output_codes)))
    _write_outputs(folder / OUTPUTS_FOLDER, unreadable, negative.astype(bool), negative)
    report_skipped(cv.cache, folder)
    write_scores_table(folder / SCORES_FILE, results.rows)
    _save_arrays(
        folder / OUT_OF_FOLD_FILE,
        names=np.array(cv.cache.names),
        labels=cv.labels,
        probabilities=outputs.probabilities,
        binary=outputs.binary,
        folds=plan.fold_of,
        sources=np.array(plan.sources),
        fold_names=np.array([plan.fold_name(fold) for fold in range(plan.count)]),
        group_by=np.array(plan.group_by),
    )
    write_markdown_report(folder, results)


def _save_arrays(path: Path, **arrays: np.ndarray | float) -> None:
    """Write ``arrays`` into the compressed ``.npz`` file ``path``, atomically: never a truncated zip."""
    atomic_write(path, lambda handle: np.savez_compressed(handle, **arrays))  # type: ignore[arg-type]


def load_arrays(path: Path, advice: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path``, read whole and without pickles (no code runs, whoever wrote it);
    ValueError naming the file, the problem and ``advice`` (what to do) if it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}
    except Exception as error:  # a truncated zip, an object array, not a zip at all: NumPy raises many types
        detail = " ".join(str(error).split())
        raise ValueError(f"{path} cannot be read ({type(error).__name__}: {detail}): {advice}") from None


def _readable_held_out(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        load_arrays(path, "")
    except ValueError as error:
        log.warning("%s: its fold classifies its held-out recordings again", error)
        return False
    return True


def _record_grouping(output_folder: Path, plan: FoldPlan) -> None:
    """Write how the folds were made into ``output_folder`` (read back by :func:`_check_grouping`)."""
    record = {
        "group_by": plan.group_by,
        "folds": plan.count,
        "title": plan.title,
        "fold_names": [plan.fold_name(fold) for fold in range(plan.count)],
    }
    atomic_write_text(output_folder / GROUPING_FILE, json.dumps(record, indent=2) + "\n")


def _check_grouping(output_folder: Path, group_by: str, folds: int | None) -> None:
    """Refuse to add to, or pool, the folds in ``output_folder`` with another grouping or number of folds.

    ``folds`` None: the number is not known yet (or not given); only the grouping is compared. A folder
    without a record (empty, or from before the record) passes.
    """
    try:
        recorded = json.loads((output_folder / GROUPING_FILE).read_text(encoding="utf-8"))
        theirs, their_folds = str(recorded["group_by"]), int(recorded["folds"])
    except FileNotFoundError:
        return
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise ValueError(f"{output_folder / GROUPING_FILE} cannot be read ({error}): choose another folder") from None
    if group_by == "random" and folds is None:
        folds = DEFAULT_FOLDS
    if theirs == group_by and (folds is None or folds == their_folds):
        return
    if theirs == group_by == "source":  # the same grouping, other sources: other data
        raise ValueError(
            f"{output_folder} holds the folds of a leave-one-source-out cross-validation of {their_folds} sources, "
            f"and these data have {folds}: give the same data, or use another folder"
        )
    options = "--group-by source" if theirs == "source" else f"--group-by random --folds {their_folds}"
    raise ValueError(
        f"{output_folder} holds the folds of a {title(theirs, their_folds)} ({options}), "
        f"not of a {title(group_by, folds or 0)}: give the same options, or use another folder"
    )


def _refuse(folder: Path, earlier: list[Path], overwrite: bool, what: str) -> None:
    """Refuse ``earlier`` results in ``folder`` unless ``overwrite``."""
    if earlier and not overwrite:
        raise ValueError(
            f"{folder} holds {what} ({', '.join(p.name for p in earlier)}): continue it with --resume (finished "
            "folds are kept), choose another folder, or replace it with --overwrite"
        )


def _clear(folder: Path, earlier: list[Path], overwrite: bool, what: str) -> None:
    """Refuse ``earlier`` results in ``folder`` unless ``overwrite``; then remove them."""
    _refuse(folder, earlier, overwrite, what)
    for path in earlier:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    folder.mkdir(parents=True, exist_ok=True)


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
