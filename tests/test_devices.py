"""Devices: every tensor on the right device (with a stand-in accelerator, tests/stand_in_device.py), device
errors before any work, resume across devices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stand_in_device import DeviceMismatch, StandInTensor, cpu_generator_for_stand_in, stand_in_device
from trained_model import learnable_data, one_torch_thread, train_arguments

import driver
import train_model
from ecg12 import checkpoints, ensemble, runs, training
from ecg12.classes import scored_classes
from ecg12.classify import classify_folder
from ecg12.config import MODEL_SIZES, TrainConfig
from ecg12.crossval import cross_validate
from ecg12.devices import DeviceError, resolve_device
from ecg12.inference import load_classifier
from ecg12.loss import HardExampleBCELoss
from ecg12.model import MultiScaleSENet
from ecg12.outputs import load_outputs
from ecg12.signal_cache import load_or_build_cache


def stand_in_config(cache: Path, **changes: object) -> TrainConfig:
    """A tiny, quick recipe on the stand-in device."""
    settings: dict[str, object] = {
        "model_size": "tiny",
        "epochs": 2,
        "batch_size": 4,
        "min_epoch_windows": 8,
        "device": "meta",
        "workers": 0,
        "seed": 1,
        "cache_dir": str(cache),
    }
    return TrainConfig(**{**settings, **changes})  # type: ignore[arg-type]


@pytest.fixture
def on_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "random_generator", cpu_generator_for_stand_in)


# --- the stand-in itself ----------------------------------------------------------------------------------------


def test_the_stand_in_catches_a_host_tensor_in_a_device_operation() -> None:
    criterion = HardExampleBCELoss(np.ones(24), 1.0)
    with stand_in_device() as device:
        criterion = criterion.to(device)
        logits = torch.zeros(3, 24).to(device)
        targets = torch.ones(3, 24).to(device)
        loss = criterion(logits, targets)  # all on the device: fine, with real values
        assert isinstance(loss, StandInTensor) and loss.device == device
        assert loss.item() == pytest.approx(np.log(2.0))
        assert isinstance(loss.cpu(), torch.Tensor) and not isinstance(loss.cpu(), StandInTensor)
        with pytest.raises(DeviceMismatch, match="host tensors"):
            criterion.per_sample(torch.zeros(3, 24), torch.ones(3, 24))  # the validation bug of issue 11
        with pytest.raises(DeviceMismatch):
            logits + torch.ones(3, 24)
        assert (logits + torch.tensor(1.0)).cpu().sum().item() == 72  # a host scalar is allowed, as on CUDA
        with pytest.raises((TypeError, RuntimeError)):  # CUDA raises TypeError, the stand-in RuntimeError
            logits.numpy()  # a device tensor must be copied back first


def test_a_network_left_on_the_host_is_caught() -> None:
    network = MultiScaleSENet(MODEL_SIZES["tiny"])
    with stand_in_device() as device, pytest.raises(DeviceMismatch):
        network(torch.zeros(2, 12, 5000).to(device), torch.zeros(2, 40).to(device))


# --- training, ensembles, cross-validation and classification on the device ----------------------------------


@pytest.mark.slow
def test_training_runs_with_every_tensor_on_the_device(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, on_stand_in: None
) -> None:
    data = learnable_data(tmp_path_factory)
    config = stand_in_config(tmp_path / "cache")
    load_or_build_cache(data, tmp_path / "cache")
    with one_torch_thread(), stand_in_device():
        best = runs.train(data, tmp_path / "model", config)
    assert best["epoch"] in (1, 2) and np.isfinite(best["validation_loss"])
    # What it wrote is plain CPU data: the model loads and classifies on the CPU.
    checkpoint = torch.load(tmp_path / "model" / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    assert all(type(t) is torch.Tensor and t.device.type == "cpu" for t in checkpoint["model"].values())
    classifier = load_classifier(tmp_path / "model", "cpu")
    cache = load_or_build_cache(data, tmp_path / "cache")
    probabilities = classifier.probabilities([(cache.signal(0), cache.features[0])])
    assert probabilities.shape == (1, len(scored_classes().codes)) and np.isfinite(probabilities).all()


@pytest.mark.slow
def test_fold_ensembles_and_cross_validation_run_on_the_device(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, on_stand_in: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = learnable_data(tmp_path_factory)
    load_or_build_cache(data, tmp_path / "cache")
    devices: list[str] = []
    original = ensemble.load_classifier

    def recording_load_classifier(folder: Path, device: str = "cpu"):  # type: ignore[no-untyped-def]
        devices.append(device)
        return original(folder, device)

    monkeypatch.setattr(ensemble, "load_classifier", recording_load_classifier)
    with one_torch_thread(), stand_in_device():
        runs.train(data, tmp_path / "ensemble", stand_in_config(tmp_path / "cache", epochs=1, members=2))
        rows = cross_validate(data, tmp_path / "cv", stand_in_config(tmp_path / "cache", epochs=1), folds=2)
    assert devices == ["meta", "meta"]  # both members' held-out recordings were classified on the device
    assert np.isfinite(rows["pooled out-of-fold"]["challenge_metric"])
    assert len(list((tmp_path / "cv" / "outputs").glob("*.csv"))) == len(list(data.glob("*.hea")))


@pytest.mark.slow
def test_cross_validation_classifies_held_out_folds_on_the_training_device(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = learnable_data(tmp_path_factory)
    import ecg12.crossval as crossval

    devices: list[str] = []
    original = crossval.load_classifier

    def recording_load_classifier(folder: Path, device: str = "cpu"):  # type: ignore[no-untyped-def]
        devices.append(device)
        return original(folder, "cpu")

    monkeypatch.setattr(crossval, "load_classifier", recording_load_classifier)
    config = stand_in_config(tmp_path / "cache", epochs=1, device="auto")
    with one_torch_thread():
        cross_validate(data, tmp_path / "cv", config, folds=2)
    assert devices == ["auto", "auto"]  # resolved by load_classifier exactly as training resolved it


def test_the_driver_classifies_on_the_device(shared, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with stand_in_device():
        on_device = load_classifier(shared.model, "meta")
        assert all(isinstance(p, StandInTensor) for p in on_device.model.parameters())
        result = classify_folder(on_device, shared.data, tmp_path / "device", show_progress=False)
    on_host = classify_folder(load_classifier(shared.model, "cpu"), shared.data, tmp_path / "host", show_progress=False)
    assert result.failed == on_host.failed == 0 and result.done == on_host.done > 0
    for output in sorted((tmp_path / "host").glob("*.csv")):
        if output.name != "errors.csv":
            codes, labels, probabilities = load_outputs(tmp_path / "device" / output.name)
            host_codes, host_labels, host_probabilities = load_outputs(output)
            assert (codes, labels) == (host_codes, host_labels), output.name
            # The device runs every operation through a dispatch of its own: float32 rounding may differ (1 ulp).
            np.testing.assert_allclose(probabilities, host_probabilities, rtol=0, atol=1e-6, err_msg=output.name)


# --- device errors ------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize(("name", "expected"), [("cuda", "CUDA is not available"), ("gpu", "unknown device 'gpu'")])
def test_an_unusable_device_is_one_line_before_any_cache_work(
    name: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with pytest.raises(DeviceError, match=expected):
        resolve_device(name)
    arguments = train_arguments(learnable_data(tmp_path_factory), tmp_path / "model", tmp_path / "cache")
    arguments[arguments.index("--device") + 1] = name
    assert train_model.main(arguments) == 1
    message = capsys.readouterr().err
    assert message.startswith("train_model.py: ") and message.count("\n") == 1 and expected in message
    assert not (tmp_path / "cache").exists()  # refused before the signal cache was built


@pytest.mark.parametrize("name", ["meta", "mps", "xla"])  # known to torch by name; none computes here
def test_a_device_that_cannot_compute_is_refused_in_one_line_before_the_first_recording(
    name: str,
    shared,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    if name == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has an MPS device")
    with pytest.raises(DeviceError, match=f"device '{name}' cannot compute here"):
        resolve_device(name)
    outputs = tmp_path / "outputs"
    assert driver.main([str(shared.model), str(shared.data), str(outputs), "--device", name]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and f"driver.py: device '{name}' cannot compute here" in captured.err
    assert captured.out == "" and not outputs.exists()


# --- resume across devices ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_without_loss_scaling_resumes_with_loss_scaling(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CPU (or bfloat16) checkpoint holds an empty scaler state; a float16 GPU's enabled scaler must cope."""
    data = learnable_data(tmp_path_factory)
    model = tmp_path / "model"
    arguments = train_arguments(data, model, tmp_path / "cache", epochs=1)
    with one_torch_thread():
        assert train_model.main(arguments) == 0
        checkpoint = torch.load(model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
        assert checkpoint["scaler"] == {}
        scalers: list[torch.amp.GradScaler] = []

        def enabled_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
            scalers.append(torch.amp.GradScaler("cpu", enabled=True))  # what a float16 GPU gets
            return scalers[-1]

        monkeypatch.setattr(training, "gradient_scaler", enabled_scaler)
        assert train_model.main([*train_arguments(data, model, tmp_path / "cache", epochs=2), "--resume"]) == 0
    assert scalers and scalers[0].is_enabled()
    resumed = torch.load(model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    assert resumed["epoch"] == 2 and resumed["scaler"]  # the resumed run scaled its losses and saved the scale
