"""Fold ensembles: k networks, each validated on its own fold, averaged at inference (``--members K``)."""

from __future__ import annotations

import logging
from dataclasses import asdict

import numpy as np
import torch

from ecg12.checkpoints import CHECKPOINT_FILE, member_folder, remove_run_temporaries
from ecg12.inference import load_classifier, save_model_folder
from ecg12.metrics import score
from ecg12.model import FoldEnsemble
from ecg12.network import ECGNetwork
from ecg12.split import k_folds
from ecg12.thresholds import choose_decision_rule
from ecg12.training import fit_network, score_columns
from ecg12.training_run import TrainingRun

log = logging.getLogger(__name__)


def fit_fold_ensemble(run: TrainingRun, records: np.ndarray, only: int | None = None) -> dict[str, object]:
    """``run.config.members`` networks averaged at inference, as the rank-2 entry of 2020 ran its five fold models.

    The records are split into k = members multilabel-stratified folds; member i is validated (early
    stopping) on fold i and trained on the others, in ``MEMBERS_FOLDER/member{i}``. Every record is
    thus validated on once, and the decision rule is chosen on these pooled validation outputs: k
    times more recordings than one validation split gives. ``model.pt`` is written once, when all
    members are trained; ``run.resume`` resumes the member that was interrupted and skips finished
    ones. ``only`` trains member ``only`` (1 to k) and nothing else: members can train at once, one
    per GPU, and a run with ``resume`` then assembles them.
    """
    config, cache = run.config, run.cache
    # Under torchrun every rank trains each member; rank 0 alone assembles the ensemble. Runs of single members,
    # at once, leave the ensemble's folder alone.
    if run.rank.is_main and only is None:
        run.folder.mkdir(parents=True, exist_ok=True)
        remove_run_temporaries(run.folder)
    labels = run.labels[records]
    fold_of = k_folds(labels, config.members, config.seed)
    probabilities = np.zeros(labels.shape)
    fractions = np.zeros(labels.shape)
    members: list[ECGNetwork] = []
    member_rows: list[dict[str, object]] = []
    for member in range(config.members):
        if only is not None and member + 1 != only:
            continue
        folder = member_folder(run.folder, member + 1)
        held_out = fold_of == member
        log.info("Fold model %d/%d: validated on %d recordings", member + 1, config.members, int(held_out.sum()))
        member_run = run.into(folder, resume=run.resume and (folder / CHECKPOINT_FILE).is_file())
        member_rows.append(fit_network(member_run, records[~held_out], records[held_out]))
        if not run.rank.is_main:
            continue
        classifier = load_classifier(folder, config.device)
        inputs = ((cache.signal(int(r)), cache.features[int(r)]) for r in records[held_out])
        member_scores = classifier.scores(inputs)
        probabilities[held_out] = member_scores.probabilities
        fractions[held_out] = member_scores.patch_fractions
        members.append(classifier.model)  # type: ignore[arg-type]  # a member folder holds one network

    if only is not None or not run.rank.is_main:
        return {"members": config.members, **(member_rows[0] if only is not None else {})}
    rule = choose_decision_rule(labels, probabilities, config.decision_rule)
    pooled = score_columns(score(labels, rule.apply(probabilities, fractions), probabilities, run.classes))
    log.info("Fold ensemble: pooled validation Challenge metric %.4f", pooled["challenge_metric"])
    training_info = {
        "train_config": asdict(config),
        "cache": str(cache.folder),
        "recordings": len(records),
        "member_best_epochs": [row["epoch"] for row in member_rows],
        **{f"pooled_validation_{key}": value for key, value in pooled.items()},
        "torch": str(torch.__version__),
    }
    save_model_folder(run.folder, FoldEnsemble(members), rule, config.window_stride, training_info)
    return {"members": config.members, **{f"validation_{key}": value for key, value in pooled.items()}}
