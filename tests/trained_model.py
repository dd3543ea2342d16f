"""A tiny model trained once per test session, shared by the robustness tests (classify, training, inference).

It is trained in-process by ``train_model.main`` with :func:`train_arguments` on a small learnable
synthetic data set, with epochs of :data:`EPOCH_WINDOWS` windows (``--epoch-windows``) so that an
epoch takes a second. The kill-and-resume test starts the real ``train_model.py`` with the same
arguments and compares its resumed run with this uninterrupted one.

Built lazily and memoised in this module, so every test module gets the same folders however the
tests are selected or ordered.

Torch runs on one CPU thread in these tests (:func:`one_torch_thread`, and :func:`subprocess_env`
for the scripts they start): on the shared 2-core machine the tiny model's two-thread kernels were
up to 20 times slower than one thread, and runs that are compared number for number then use the
same thread count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import train_model
from ecg12.synthetic import make_learnable_dataset

REPOSITORY = Path(__file__).resolve().parents[1]
EPOCHS = 4
EPOCH_WINDOWS = 8  # training windows per epoch (one pass over the 8 training recordings)
DATA_RECORDS = 10  # 8 for training, 2 for validation
DATA_SEED = 5


def train_arguments(data: Path, model: Path, cache: Path, epochs: int = EPOCHS) -> list[str]:
    """train_model.py arguments of the shared run: tiny model, batches of 4, CPU, fixed seed."""
    return [
        str(data),
        str(model),
        "--model-size",
        "tiny",
        "--epochs",
        str(epochs),
        "--epoch-windows",
        str(EPOCH_WINDOWS),
        "--batch-size",
        "4",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--cache-dir",
        str(cache),
    ]


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, restoring the previous setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def subprocess_env() -> dict[str, str]:
    """The environment for driver.py / train_model.py subprocesses: one torch thread, as in-process."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class TrainedModel:
    data: Path  # the learnable data folder it was trained on
    model: Path  # the model folder (read-only for tests: copy it before changing anything)
    cache: Path  # the signal cache root of the run


_memo: dict[str, object] = {}


def learnable_data(factory: pytest.TempPathFactory) -> Path:
    """The small learnable data set (10 records of 10 s), written once per session."""
    if "data" not in _memo:
        folder = factory.mktemp("learnable")
        make_learnable_dataset(folder, DATA_RECORDS, DATA_SEED)
        _memo["data"] = folder
    return _memo["data"]  # type: ignore[return-value]


def trained_model(factory: pytest.TempPathFactory) -> TrainedModel:
    """The tiny model trained for EPOCHS epochs on :func:`learnable_data`, uninterrupted, once per session."""
    if "model" not in _memo:
        data = learnable_data(factory)
        root = factory.mktemp("trained")
        trained = TrainedModel(data, root / "model", root / "cache")
        with one_torch_thread():
            code = train_model.main(train_arguments(trained.data, trained.model, trained.cache))
        assert code == 0, "training the shared tiny model failed"
        _memo["model"] = trained
    return _memo["model"]  # type: ignore[return-value]
