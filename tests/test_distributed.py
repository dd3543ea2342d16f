"""Several processes training one model: one step equal to one process's, and torchrun end to end.

On the CPU the processes talk through gloo. BatchNorm then normalises each rank's share of a batch
by its own statistics (SyncBatchNorm, which pools them as one process would, needs a GPU and is used
there), so weights after a training epoch differ from a one-process run's by those statistics. The
exact equivalence is therefore checked for one step with the network in evaluation mode (running
statistics, no dropout): the same data, noise and averaged gradients must give the same weights.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as multiprocessing
from trained_model import REPOSITORY, learnable_data, subprocess_env, train_arguments

from ecg12.config import TrainConfig
from ecg12.distributed import Rank
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.inference import load_classifier
from ecg12.training import training_step

GLOBAL_BATCH = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_step(rank: int, world: int, port: int, folder: str) -> None:
    """One training step of rank ``rank`` of ``world`` on its share of a fixed global batch; saves the weights."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", rank=rank, world_size=world)
    place = Rank(rank, world)
    config = TrainConfig(model_size="tiny", batch_size=GLOBAL_BATCH, device="cpu", seed=7)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(16, NUM_RECORD_FEATURES)).astype(np.float32)
    step = training_step(features, np.ones(24), config, torch.device("cpu"), steps_per_epoch=10, rank=place)
    windows = torch.from_numpy(rng.integers(-2000, 2000, (GLOBAL_BATCH, 12, 5000)).astype(np.int16))
    batch_features = torch.from_numpy(features[:GLOBAL_BATCH])
    targets = torch.from_numpy((rng.random((GLOBAL_BATCH, 24)) < 0.2).astype(np.float32))
    step.model.eval()  # running statistics, no dropout: see the module docstring
    share = slice(rank, None, world)
    step(windows[share], batch_features[share], targets[share])
    torch.save(step.network.state_dict(), Path(folder) / f"world{world}-rank{rank}.pt")
    if world > 1:
        dist.destroy_process_group()


@pytest.mark.slow
def test_one_step_of_two_processes_equals_one_step_of_one(tmp_path: Path) -> None:
    one_step(0, 1, free_port(), str(tmp_path))
    multiprocessing.spawn(one_step, args=(2, free_port(), str(tmp_path)), nprocs=2)
    single = torch.load(tmp_path / "world1-rank0.pt")
    for rank in (0, 1):
        replica = torch.load(tmp_path / f"world2-rank{rank}.pt")
        for name, tensor in single.items():
            torch.testing.assert_close(replica[name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    assert any(not torch.equal(t, torch.zeros_like(t)) for t in single.values())


def torchrun_command(launcher: list[str], arguments: list[str]) -> list[str]:
    """torchrun with the ``launcher`` options, training with train_model.py ``arguments``."""
    return [sys.executable, "-m", "torch.distributed.run", *launcher, "train_model.py", *arguments]


def torchrun(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Two processes on this machine (one node)."""
    return subprocess.run(
        torchrun_command(["--nproc_per_node", "2", "--master_port", str(free_port())], list(arguments)),
        cwd=REPOSITORY,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def check_model_of_two_processes(model: Path, epochs: list[str]) -> None:
    """``model`` is one complete model folder of a 2-process run, with one metrics row per epoch."""
    with open(model / "metrics.csv", newline="") as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == epochs
    assert not [p.name for p in model.iterdir() if p.name.endswith(".tmp")]
    classifier = load_classifier(model)
    bundle = torch.load(model / "model.pt", map_location="cpu", weights_only=True)
    assert bundle["training"]["processes"] == 2
    assert not any(name.startswith("module.") for name in bundle["state_dicts"][0])  # the network, not its wrapper
    silence = (np.zeros((12, 5000), np.float32), np.zeros(NUM_RECORD_FEATURES, np.float32))
    assert classifier.probabilities([silence]).shape == (1, 24)


@pytest.mark.slow
def test_torchrun_trains_one_model_folder_and_resumes(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    data = learnable_data(tmp_path_factory)
    model = tmp_path / "model"
    arguments = train_arguments(data, model, tmp_path / "cache", epochs=1)
    first = torchrun(*arguments)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr.count("epoch 1: train loss") == 1  # rank 0 alone logs
    resumed = torchrun(*train_arguments(data, model, tmp_path / "cache", epochs=2), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    check_model_of_two_processes(model, ["1", "2"])


def test_two_nodes_train_one_model_written_by_rank_0_alone(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """Two "machines" of one process each, as docs/usage.md's several-machines command starts them: two torchrun
    launches meeting at a c10d rendezvous (here on this machine). Each is given its own model folder and
    signal cache, as on machines without a shared disk: the rendezvous makes one of the two processes rank 0,
    and only its folder may be written; the other launch must not even create its own."""
    data = learnable_data(tmp_path_factory)
    launcher = [
        *("--nnodes", "2", "--nproc_per_node", "1", "--local_addr", "127.0.0.1"),
        *("--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{free_port()}", "--rdzv_id", "two-nodes"),
    ]
    nodes, logs = [], []
    for node in (0, 1):
        machine = tmp_path / f"machine{node}"
        machine.mkdir()
        logs.append(machine / "torchrun.log")
        with open(logs[-1], "w") as log:  # a file, not a pipe: neither launch may block on a full pipe
            command = torchrun_command(launcher, train_arguments(data, machine / "model", machine / "cache", epochs=1))
            nodes.append(subprocess.Popen(command, cwd=REPOSITORY, env=subprocess_env(), stdout=log, stderr=log))
    try:
        codes = [node.wait(timeout=600) for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0], "\n\n".join(output[-3000:] for output in outputs)
    written = [node for node in (0, 1) if (tmp_path / f"machine{node}" / "model").exists()]
    assert len(written) == 1, f"model folders written: {written}"
    assert outputs[written[0]].count("epoch 1: train loss") == 1  # rank 0 alone logs
    assert outputs[1 - written[0]].count("epoch 1: train loss") == 0
    check_model_of_two_processes(tmp_path / f"machine{written[0]}" / "model", ["1"])
