"""ONNX export and the onnxruntime backend: the torch path's outputs without torch, and exports that are refused."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from networks import with_batch_norm_statistics
from trained_model import REPOSITORY, TrainedModel, subprocess_env

import driver
import export_model
from ecg12 import backends, inference, onnx_classifier, onnx_export
from ecg12.classify import classify_folder
from ecg12.config import MODEL_SIZES
from ecg12.inference import load_classifier, save_model_folder
from ecg12.model import FoldEnsemble, MultiScaleSENet
from ecg12.onnx_classifier import load_onnx_classifier
from ecg12.outputs import load_outputs
from ecg12.scoring import ONNX_DESCRIPTION_FILE, ONNX_FILE, ModelFolderError
from ecg12.thresholds import DecisionRule

# ONNX Runtime's float32 kernels sum in another order than oneDNN's: the probabilities agree within this.
TOLERANCE = 1e-4
SAMPLE = REPOSITORY / "data" / "sample" / "test"


@pytest.fixture
def model(shared: TrainedModel, tmp_path: Path) -> Path:
    """A copy of the shared trained model folder (the shared one stays as it is)."""
    return Path(shutil.copytree(shared.model, tmp_path / "model"))


@pytest.fixture
def ensemble(tmp_path: Path) -> Path:
    members = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        members.append(with_batch_norm_statistics(MultiScaleSENet(MODEL_SIZES["tiny"]), seed).eval())
    folder = tmp_path / "ensemble"
    save_model_folder(folder, FoldEnsemble(members), DecisionRule(), 5000, {"note": "test"})
    return folder


def outputs_of(folder: Path) -> dict[str, tuple[list[bool], np.ndarray]]:
    rows = {}
    for path in sorted(folder.glob("*.csv")):
        if path.name not in ("errors.csv", "warnings.csv"):
            _, labels, probabilities = load_outputs(path)
            rows[path.name] = (labels, np.array(probabilities))
    return rows


@pytest.mark.parametrize("which", ["model", "ensemble"])
def test_the_onnx_path_gives_the_torch_paths_outputs(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    folder = request.getfixturevalue(which)
    torch_classifier = load_classifier(folder, "cpu", "float32")
    before = classify_folder(torch_classifier, SAMPLE, tmp_path / "torch-before", show_progress=False)
    assert export_model.main([str(folder)]) == 0
    described = json.loads((folder / "model.json").read_text())
    assert described["members"] == (2 if which == "ensemble" else 1) and len(described["classes"]) == 24
    classify_folder(torch_classifier, SAMPLE, tmp_path / "torch-after", show_progress=False)
    onnx = classify_folder(load_onnx_classifier(folder), SAMPLE, tmp_path / "onnx", show_progress=False)
    assert before.done == onnx.done == 10
    after, exported, reference = (outputs_of(tmp_path / name) for name in ("torch-after", "onnx", "torch-before"))
    assert after.keys() == exported.keys() == reference.keys()
    for name, (labels, probabilities) in reference.items():
        np.testing.assert_array_equal(after[name][1], probabilities)  # the export left the torch network in eval
        np.testing.assert_allclose(exported[name][1], probabilities, rtol=0, atol=TOLERANCE)
        assert exported[name][0] == labels, name


def test_the_driver_classifies_with_onnxruntime_without_importing_torch(model: Path, tmp_path: Path) -> None:
    assert export_model.main([str(model), str(tmp_path / "export" / "tiny.onnx")]) == 0
    script = (
        "import sys, driver\n"
        f"code = driver.main([{str(model)!r}, {str(SAMPLE)!r}, {str(tmp_path / 'out')!r}, '--backend', "
        f"'onnxruntime', '--onnx', {str(tmp_path / 'export' / 'tiny.onnx')!r}, '--threads', '1'])\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPOSITORY, env=subprocess_env(), capture_output=True)
    assert done.stdout.decode().split()[-2:] == ["0", "False"], done.stderr.decode()
    assert len(outputs_of(tmp_path / "out")) == 10


def test_training_leaves_a_current_export_that_the_default_backend_runs_without_torch(
    model: Path, tmp_path: Path
) -> None:
    assert {ONNX_FILE, ONNX_DESCRIPTION_FILE} <= {path.name for path in model.iterdir()}
    script = (
        "import sys, driver\n"
        f"code = driver.main([{str(model)!r}, {str(SAMPLE)!r}, {str(tmp_path / 'auto')!r}, '--threads', '1'])\n"
        "print(code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPOSITORY, env=subprocess_env(), capture_output=True)
    assert done.stdout.decode().split()[-2:] == ["0", "False"], done.stderr.decode()
    assert "Classifying with ONNX Runtime" in done.stderr.decode()
    options = ["--backend", "torch", "--precision", "float32", "--threads", "1"]
    assert driver.main([str(model), str(SAMPLE), str(tmp_path / "torch"), *options]) == 0
    exported, reference = outputs_of(tmp_path / "auto"), outputs_of(tmp_path / "torch")
    assert exported.keys() == reference.keys() and len(reference) == 10
    for name, (labels, probabilities) in reference.items():
        np.testing.assert_allclose(exported[name][1], probabilities, rtol=0, atol=TOLERANCE)
        assert exported[name][0] == labels, name


@pytest.mark.parametrize(
    ("why", "tried"),
    [
        ("no export", ["torch"]),
        ("stale export", ["onnx", "torch"]),
        ("torch's option", ["torch"]),
        ("a GPU", ["torch"]),
        ("a GPU, --device cpu", ["onnx"]),
        ("a large folder, bfloat16 units", ["torch"]),
        ("a large folder, bfloat16 units, --precision float32", ["onnx"]),
        ("a large folder, no bfloat16 units", ["onnx"]),
    ],
)
def test_the_default_backend_takes_torch_where_onnx_runtime_cannot_serve_or_is_slower(
    why: str,
    tried: list[str],
    model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = ["--threads", "1"]
    if why == "no export":
        (model / ONNX_FILE).unlink()
    elif why == "stale export":
        bundle = torch.load(model / "model.pt", weights_only=True)
        bundle["training"] = {"retrained": True}
        torch.save(bundle, model / "model.pt")
    elif why == "torch's option":
        options += ["--precision", "bfloat16"]
    elif why.startswith("a large folder"):
        monkeypatch.setattr(backends, "TORCH_FROM_RECORDINGS", 10)  # SAMPLE's 10 recordings
        monkeypatch.setattr(backends, "cpu_has_bfloat16_units", lambda: "no bfloat16" not in why)
        options += ["--precision", "float32"] if why.endswith("float32") else []
    else:
        monkeypatch.setattr(backends, "gpu_visible", lambda: True)  # torch finds none: it classifies on the CPU
        options += ["--device", "cpu"] if why.endswith("cpu") else []
    loaded: list[str] = []
    real_onnx, real_torch = onnx_classifier.load_onnx_classifier, inference.load_classifier
    monkeypatch.setattr(onnx_classifier, "load_onnx_classifier", lambda *a: loaded.append("onnx") or real_onnx(*a))
    monkeypatch.setattr(inference, "load_classifier", lambda *a: loaded.append("torch") or real_torch(*a))
    with caplog.at_level(logging.INFO):
        assert driver.main([str(model), str(SAMPLE), str(tmp_path / "out"), *options]) == 0
    assert loaded == tried
    said = {"no export": "has no ONNX export", "stale export": "another model.pt"}
    if why in said:
        line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Classifying with torch"))
        assert said[why] in line and "export_model.py" in line
    assert len(outputs_of(tmp_path / "out")) == 10


def test_an_export_that_fails_after_training_keeps_the_model_and_says_how_to_retry(
    model: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    before = (model / "model.pt").read_bytes()

    def full_disk(folder: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_export, "export_model", full_disk)
    with caplog.at_level(logging.WARNING):
        onnx_export.export_trained_model(model)
    assert "No space left on device" in caplog.text and f"python export_model.py {model}" in caplog.text
    assert (model / "model.pt").read_bytes() == before


def test_an_export_of_another_model_or_none_is_refused_with_what_to_do(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / ONNX_FILE).unlink()  # training wrote one
    with pytest.raises(ModelFolderError, match=r"export_model\.py"):
        load_onnx_classifier(model)
    assert export_model.main([str(model)]) == 0
    bundle = torch.load(model / "model.pt", weights_only=True)
    bundle["window_stride"] = 2500  # retrained, say: model.pt is not what was exported
    torch.save(bundle, model / "model.pt")
    assert driver.main([str(model), str(SAMPLE), str(tmp_path / "out"), "--backend", "onnxruntime"]) == 2
    line = capsys.readouterr().err.strip()
    assert "another model.pt" in line and "export_model.py" in line and len(line.splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.csv"))
    assert export_model.main([str(model)]) == 0
    (model / ONNX_FILE).write_bytes(b"damaged")
    with pytest.raises(ModelFolderError, match="changed since"):
        load_onnx_classifier(model)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--backend", "onnxruntime", "--plots", "reports"], "--plots: torch's only"),
        (["--backend", "onnxruntime", "--precision", "bfloat16"], "--precision bfloat16: torch's only"),
        (["--backend", "onnxruntime", "--device", "cuda"], "--device: torch's only"),
        (["--backend", "torch", "--onnx", "x.onnx"], "drop --backend torch"),
        (["--onnx", "x.onnx", "--plots", "reports"], "--plots: torch's only"),
    ],
)
def test_options_the_backend_cannot_do_are_one_line(
    options: list[str], expected: str, model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert driver.main([str(model), str(SAMPLE), str(tmp_path / "out"), *options]) == 2
    assert expected in capsys.readouterr().err.strip().splitlines()[0]


def test_export_model_refuses_a_missing_model_and_a_name_that_is_not_onnx(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export_model.main([str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert export_model.main([str(model), str(tmp_path / "model.pt")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert not (tmp_path / "model.json").exists()
