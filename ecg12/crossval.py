"""Cross-validation, k-fold or leave-one-source-out: per-fold and pooled out-of-fold scores, and a report.

The recordings are split into folds (:func:`plan_folds`): ``group_by="random"``, k
multilabel-stratified folds; ``group_by="source"``, one fold per source database, told by the
recording name's prefix (:func:`ecg12.split.source_of`), so that each fold scores a database the
model never saw. For each fold a model is trained on the other folds (which it splits again for
early stopping and, with the per-class rule, threshold tuning) and classifies the held-out fold.
Every recording so gets exactly one out-of-fold output; these are written as Challenge output
files and scored per fold, pooled and per source database. Alongside the recipe's own decision
rule the report gives max/5 on the recordings' probabilities, the paper's max/5 on each patch with
the union taken, per-class thresholds cross-fitted on the other folds' outputs, and per-class
thresholds tuned on the pooled out-of-fold outputs themselves (an optimistic bound: tuned and
scored on the same outputs).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ecg12.checkpoints import SKIPPED_FILE, has_checkpoint, report_skipped
from ecg12.classes import abbreviate, scored_classes
from ecg12.config import TrainConfig
from ecg12.data import SignalCache
from ecg12.files import atomic_write, atomic_write_text, one_run, printable
from ecg12.inference import load_classifier
from ecg12.metrics import ChallengeScores, score
from ecg12.outputs import save_outputs
from ecg12.plots import plot_class_scores
from ecg12.runs import fit, load_cache
from ecg12.split import k_folds, source_folds, source_label
from ecg12.thresholds import DecisionRule, tune_class_thresholds
from ecg12.training import score_columns
from ecg12.training_run import TrainingRun, where_to_train

log = logging.getLogger(__name__)


HELD_OUT_FILE = "held_out.npz"  # in each fold folder: the fold's out-of-fold outputs, for the pooling step
GROUPING_FILE = "grouping.json"  # how the folds were made, so that folds of another grouping are not mixed in
GroupBy = Literal["random", "source"]
GROUPINGS: tuple[str, ...] = ("random", "source")
DEFAULT_FOLDS = 5  # of the random grouping


@dataclass(frozen=True)
class FoldPlan:
    """How the recordings of a signal cache are split into folds (:func:`plan_folds`).

    ``count``: the number of folds; ``fold_of``: the fold (0-based) of every recording, in the cache's
    order; ``sources``: the source database of every recording (:func:`ecg12.split.source_of`),
    whatever the grouping; ``source_names``: the sources present, in their stable order;
    ``fold_sources``: with the source grouping, the source each fold holds out (empty with the
    random grouping).
    """

    group_by: GroupBy
    count: int
    fold_of: np.ndarray
    sources: tuple[str, ...]
    source_names: tuple[str, ...]
    fold_sources: tuple[str, ...]

    @property
    def title(self) -> str:
        """``"leave-one-source-out cross-validation"`` or ``"5-fold cross-validation"``."""
        return _title(self.group_by, self.count)

    def fold_name(self, fold: int) -> str:
        """The report's name of fold ``fold`` (0-based): ``"fold 3"``, or ``"held out: PTB (S), 7 recordings"``."""
        if self.group_by == "random":
            return f"fold {fold + 1}"
        return f"held out: {source_label(self.fold_sources[fold])}, {_recordings(np.sum(self.fold_of == fold))}"

    def fold_label(self, fold: int) -> str:
        """Fold ``fold`` (0-based) for a log line: ``"fold 3 of 5"``, or ``"fold 3 of 6 (held out: PTB (S), ...)"``."""
        label = f"fold {fold + 1} of {self.count}"
        return label if self.group_by == "random" else f"{label} ({self.fold_name(fold)})"

    def describe(self) -> str:
        """Every fold by number and name, on one line: ``"1: held out: CPSC 2018 (A, Q), 122 recordings; 2: ..."``."""
        return "; ".join(f"{fold + 1}: {self.fold_name(fold)}" for fold in range(self.count))


def plan_folds(
    names: Sequence[str], labels: np.ndarray, seed: int, folds: int | None = None, group_by: str = "random"
) -> FoldPlan:
    """The folds of a cross-validation: the one place that assigns recordings to folds, for every step.

    ``group_by="random"``: ``folds`` (default 5) multilabel-stratified folds of the (recordings,
    classes) ``labels``, drawn from ``seed``. ``group_by="source"``: one fold per source database
    of the recording ``names``, in :func:`ecg12.split.source_folds`' order; ``folds``, if given,
    must be that number. Refused: an unknown grouping, fewer than 2 sources (a source that holds
    every recording leaves nothing to train on), or a number of folds that does not fit.
    """
    _check_group_by(group_by)
    source_of_recording, source_names = source_folds(names)
    sources = tuple(source_names[int(i)] for i in source_of_recording)
    if group_by == "random":
        count = DEFAULT_FOLDS if folds is None else folds
        return FoldPlan("random", count, k_folds(labels, count, seed), sources, tuple(source_names), ())
    if not source_names:
        raise ValueError("there are no readable recordings to cross-validate")
    if len(source_names) < 2:
        raise ValueError(
            f"all {_recordings(len(names))} come from one source, {source_label(source_names[0])}: "
            "leave-one-source-out cross-validation needs at least 2 sources (holding it out leaves nothing to train on)"
        )
    if folds is not None and folds != len(source_names):
        listed = ", ".join(source_label(source) for source in source_names)
        raise ValueError(
            f"leave-one-source-out cross-validation has one fold per source, {len(source_names)} here ({listed}), "
            f"not {folds}: leave out --folds"
        )
    return FoldPlan("source", len(source_names), source_of_recording, sources, tuple(source_names), tuple(source_names))


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
    cross-validation instead: its finished folds are kept, the others continued or run.
    """
    _check_group_by(group_by)
    where_to_train(config)  # an unusable device is reported before the (long) cache build
    output_folder = Path(output_folder)
    earlier = [] if resume else earlier_results(output_folder)
    _refuse(output_folder, earlier, overwrite, "an earlier cross-validation")
    if resume:
        _check_grouping(output_folder, group_by, folds)
    cache = load_cache(data_folder, config)  # once for all folds: listing and opening it costs seconds at full size
    plan = plan_folds(cache.names, scored_classes().encode(cache.codes), config.seed, folds, group_by)
    _clear(output_folder, earlier, overwrite, "an earlier cross-validation")  # only once the folds are possible
    if group_by == "source":
        log.info("Leave-one-source-out folds: %s", plan.describe())
    for fold in range(1, plan.count + 1):
        run_fold(data_folder, output_folder, config, plan.count, fold, cache=cache, group_by=group_by, resume=resume)
    return pool_folds(data_folder, output_folder, config, plan.count, cache=cache, group_by=group_by)


def run_fold(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int | None,
    fold: int,
    overwrite: bool = False,
    *,
    cache: SignalCache | None = None,
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
    one whose out-of-fold outputs cannot be read classifies them again. ``cache``: the data folder's
    signal cache, when the caller has it open already. Returns the fold plan.
    """
    _check_group_by(group_by)
    if group_by == "random" and not 1 <= fold <= (DEFAULT_FOLDS if folds is None else folds):
        raise ValueError(f"fold {fold} does not exist: choose 1 to {DEFAULT_FOLDS if folds is None else folds}")
    output_folder = Path(output_folder)
    _check_grouping(output_folder, group_by, folds)
    rank, device = where_to_train(config)
    fold_folder = output_folder / f"fold{fold}"
    earlier = [fold_folder] if fold_folder.exists() else []
    if not resume:
        _refuse(output_folder, earlier, overwrite, f"fold {fold}")
    with one_run(output_folder, [f".fold{fold}.lock"], f"fold {fold} in {output_folder}"):
        started = time.time()
        alone = cache is None  # as cross_validate.py --fold K runs it, not one of cross_validate's folds
        if cache is None:
            cache = load_cache(data_folder, config)
        plan = plan_folds(cache.names, scored_classes().encode(cache.codes), config.seed, folds, group_by)
        if alone and group_by == "source":
            log.info("Leave-one-source-out folds: %s", plan.describe())
        if not 1 <= fold <= plan.count:
            raise ValueError(f"fold {fold} does not exist: choose 1 to {plan.count} ({plan.describe()})")
        _check_grouping(output_folder, group_by, plan.count)
        if resume and _readable_held_out(fold_folder / HELD_OUT_FILE):
            log.info("%s is done: kept", plan.fold_label(fold - 1))
            return plan
        continuing = resume and has_checkpoint(fold_folder)
        if not continuing:  # nothing to continue from: the fold starts over
            _clear(output_folder, earlier, overwrite or resume, f"fold {fold}")
        _record_grouping(output_folder, plan)
        held_out = np.flatnonzero(plan.fold_of == fold - 1)
        log.info("%s: training on %d recordings", plan.fold_label(fold - 1), len(cache) - len(held_out))
        run = TrainingRun.of(cache, config, fold_folder, rank, device, resume=continuing)
        fit(run, np.flatnonzero(plan.fold_of != fold - 1))
        classifier = load_classifier(fold_folder, config.device)  # on the device it was trained on
        scores = classifier.scores((cache.signal(int(i)), cache.features[int(i)]) for i in held_out)
        _save_arrays(
            fold_folder / HELD_OUT_FILE,
            names=np.array([cache.names[i] for i in held_out]),
            probabilities=scores.probabilities,
            patch_fractions=scores.patch_fractions,
            binary=scores.labels(classifier.decision_rule),
            seconds=time.time() - started,
        )
    return plan


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


def pool_folds(
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    config: TrainConfig,
    folds: int | None = None,
    *,
    cache: SignalCache | None = None,
    group_by: GroupBy = "random",
) -> dict[str, dict[str, float]]:
    """Score the out-of-fold outputs per fold, pooled and per source; write the outputs, tables and report.

    ``folds`` and ``group_by`` as for :func:`cross_validate`; folds of another grouping are refused.
    ``cache``: the data folder's signal cache, when the caller has it open already.
    """
    _check_group_by(group_by)
    output_folder = Path(output_folder)
    _check_grouping(output_folder, group_by, folds)
    classes = scored_classes()
    if cache is None:
        cache = load_cache(data_folder, config)
    labels = classes.encode(cache.codes)
    plan = plan_folds(cache.names, labels, config.seed, folds, group_by)
    _check_grouping(output_folder, group_by, plan.count)
    missing = [k for k in range(1, plan.count + 1) if not (output_folder / f"fold{k}" / HELD_OUT_FILE).is_file()]
    if missing:
        raise ValueError(
            f"{output_folder}: folds {', '.join(map(str, missing))} of {plan.count} are not done: "
            "run them first (--fold K)"
        )
    fold_of = plan.fold_of
    index = {name: position for position, name in enumerate(cache.names)}
    probabilities = np.zeros(labels.shape)
    fractions: np.ndarray | None = np.zeros(labels.shape)  # None: a fold run before they were kept (ecg12 1.0)
    binary = np.zeros(labels.shape, dtype=bool)
    rows: dict[str, dict[str, float]] = {}
    for fold in range(plan.count):
        saved = load_arrays(
            output_folder / f"fold{fold + 1}" / HELD_OUT_FILE,
            f"run the fold again with --fold {fold + 1} --resume (which keeps its model)",
        )
        held_out = np.array([index.get(str(name), -1) for name in saved["names"]], dtype=np.int64)
        if not np.array_equal(np.sort(held_out), np.flatnonzero(fold_of == fold)):
            raise ValueError(f"{output_folder}/fold{fold + 1} was run on other data or with other folds: run it again")
        probabilities[held_out] = saved["probabilities"]
        if fractions is not None and "patch_fractions" in saved:
            fractions[held_out] = saved["patch_fractions"]
        else:
            fractions = None
        binary[held_out] = saved["binary"]
        fold_scores = score(labels[held_out], binary[held_out], probabilities[held_out], classes)
        rows[plan.fold_name(fold)] = {**score_columns(fold_scores), "seconds": float(saved["seconds"])}
        log.info("%s: Challenge metric %.4f", plan.fold_label(fold), fold_scores.challenge_metric)

    fold_rows = list(rows.values())
    rows["mean of folds"] = {key: float(np.mean([r[key] for r in fold_rows])) for key in fold_rows[0]}
    rows["sd of folds"] = {key: float(np.std([r[key] for r in fold_rows], ddof=1)) for key in fold_rows[0]}
    pooled = score(labels, binary, probabilities, classes)
    seconds = float(sum(r["seconds"] for r in fold_rows))  # the folds' own times, wherever they ran
    rows["pooled out-of-fold"] = {**score_columns(pooled), "seconds": seconds}
    max_fraction = DecisionRule("max-fraction").apply(probabilities)
    rows["pooled, max/5 rule"] = score_columns(score(labels, max_fraction, probabilities, classes))
    if fractions is not None:
        patch_wise = DecisionRule("patch-fraction").apply(probabilities, fractions)
        rows["pooled, max/5 of each patch, the union (the paper's)"] = score_columns(
            score(labels, patch_wise, probabilities, classes)
        )
    crossfitted = crossfitted_thresholds(labels, probabilities, fold_of)
    rows["pooled, per-class thresholds cross-fitted on OOF"] = score_columns(
        score(labels, crossfitted, probabilities, classes)
    )
    tuned = tune_class_thresholds(labels, probabilities, classes.weights, classes.normal_index)
    tuned_binary = DecisionRule("per-class", class_thresholds=tuple(tuned)).apply(probabilities)
    rows["pooled, thresholds tuned on OOF (optimistic)"] = score_columns(
        score(labels, tuned_binary, probabilities, classes)
    )
    sources = np.array(plan.sources)
    for source in plan.source_names:  # the pooled outputs of each source, for either grouping
        mine = sources == source
        rows[f"{SOURCE_ROW}{source_label(source)}, {_recordings(mine.sum())}"] = score_columns(
            score(labels[mine], binary[mine], probabilities[mine], classes)
        )

    shutil.rmtree(output_folder / "outputs", ignore_errors=True)  # an earlier pooling's, maybe of other recordings
    _write_outputs(output_folder / "outputs", cache.names, classes.expand(binary), classes.expand(probabilities))
    # Like the driver, every recording gets an output: the unreadable ones all-negative, listed with the reason.
    unreadable = tuple(name for name, _ in cache.skipped)
    negative = np.zeros((len(unreadable), len(classes.output_codes)))
    _write_outputs(output_folder / "outputs", unreadable, negative.astype(bool), negative)
    report_skipped(cache, output_folder)
    _write_table(output_folder / "cv_scores.csv", rows)
    _save_arrays(
        output_folder / "oof.npz",
        names=np.array(cache.names),
        labels=labels,
        probabilities=probabilities,
        binary=binary,
        folds=fold_of,
        sources=sources,
        fold_names=np.array([plan.fold_name(fold) for fold in range(plan.count)]),
        group_by=np.array(plan.group_by),
    )
    write_report(output_folder, config, plan, rows, pooled, labels, len(unreadable), seconds)
    return rows


SOURCE_ROW = "source "  # how the per-source rows' names begin


def _recordings(count: int | np.integer) -> str:
    return f"{int(count)} recording{'' if count == 1 else 's'}"


def _title(group_by: str, folds: int) -> str:
    return "leave-one-source-out cross-validation" if group_by == "source" else f"{folds}-fold cross-validation"


def _check_group_by(group_by: str) -> None:
    if group_by not in GROUPINGS:
        raise ValueError(f"unknown grouping {group_by!r}: choose one of {', '.join(GROUPINGS)}")


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
        f"{output_folder} holds the folds of a {_title(theirs, their_folds)} ({options}), "
        f"not of a {_title(group_by, folds or 0)}: give the same options, or use another folder"
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


RESULT_FILES = ("outputs", "cv_scores.csv", "oof.npz", "report.md", "class_scores.png", SKIPPED_FILE, GROUPING_FILE)


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
    plan: FoldPlan,
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
        f"{plan.title}, pooled out-of-fold outputs",
    )
    headline = ["challenge_metric", "auroc", "auprc", "f_measure", "f_beta", "g_beta", "accuracy"]
    if plan.group_by == "source":
        how = (
            "Each fold holds out one source database (told by the recording names' prefix) and is classified by a "
            "model trained on the other sources only: its row scores a database the model never saw."
        )
    else:
        how = (
            f"{plan.count} multilabel-stratified random folds, regardless of source database: the models train on "
            "recordings of the databases they are scored on."
        )
    table = ["| run | " + " | ".join(headline) + " |", "|---|" + "---|" * len(headline)]

    def table_rows(names: list[str]) -> list[str]:
        return [
            f"| {name} | " + " | ".join(f"{rows[name].get(k, float('nan')):.3f}" for k in headline) + " |"
            for name in names
        ]

    lines = [
        f"# {plan.title[0].upper()}{plan.title[1:]}",
        "",
        how,
        "",
        f"{labels.shape[0]} recordings, {seconds / 60:.1f} min of fold time. Recipe: `{json.dumps(asdict(config))}`",
        "",
        f"{unreadable} recordings could not be read: listed with the reason in {SKIPPED_FILE}; their outputs are "
        "all-negative and they are not in the scores below."
        if unreadable
        else "Every recording could be read.",
        "",
        *table,
        *table_rows([name for name in rows if not name.startswith(SOURCE_ROW)]),
        "",
        "## Per source (pooled out-of-fold outputs)",
        "",
        "The pooled out-of-fold outputs of each source database (told by the recording names' prefix), "
        "with the recipe's decision rule. "
        + (
            "Here each is its held-out fold: the score on a database the model never saw."
            if plan.group_by == "source"
            else "Compare with a leave-one-source-out cross-validation (`--group-by source`), whose models never "
            "saw the source they classify."
        ),
        "",
        *table,
        *table_rows([name for name in rows if name.startswith(SOURCE_ROW)]),
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
