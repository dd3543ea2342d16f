"""A training run's set-up, worked out once: the labels of the cache, the process's place, runs into other folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from trained_model import TrainedModel

from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.devices import DeviceError
from ecg12.distributed import SINGLE_PROCESS, Rank
from ecg12.signal_cache import load_or_build_cache
from ecg12.training_run import TrainingRun, where_to_train


def test_a_run_holds_the_caches_labels_and_a_run_into_another_folder_shares_them(
    shared: TrainedModel, tmp_path: Path
) -> None:
    cache = load_or_build_cache(shared.data, shared.cache)
    config = TrainConfig(model_size="tiny", device="cpu")
    run = TrainingRun.of(cache, config, tmp_path / "model", SINGLE_PROCESS, torch.device("cpu"))
    assert (run.labels == scored_classes().encode(cache.codes)).all() and run.labels.any()
    assert run.folder == tmp_path / "model" and not run.resume
    member = run.into(tmp_path / "model" / "members" / "member1", resume=True)
    assert member.folder.name == "member1" and member.resume
    assert member.labels is run.labels and member.cache is run.cache and member.config is run.config


def test_each_process_of_torchrun_has_its_rank_and_an_unusable_device_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert where_to_train(TrainConfig(device="cpu")) == (SINGLE_PROCESS, torch.device("cpu"))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert where_to_train(TrainConfig(device="cpu")) == (Rank(1, 2, 1), torch.device("cpu"))  # the CPU is shared
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            where_to_train(TrainConfig(device="cuda"))
