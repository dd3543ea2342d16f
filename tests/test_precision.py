"""Precision: bfloat16 where the CPU has the units (detected), the backbone only, and probabilities that stay close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from networks import with_batch_norm_statistics

from ecg12 import precision
from ecg12.config import MODEL_SIZES
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.inference import inference_network, load_classifier, save_model_folder
from ecg12.model import MultiScaleSENet
from ecg12.precision import PrecisionError, cpu_has_bfloat16_units, resolve_precision
from ecg12.thresholds import DecisionRule

CPU = torch.device("cpu")
# The largest change of a probability that bfloat16 convolutions may make (measured on the shared recordings with
# a trained paper network: docs/performance.md); the tiny random network here moves them far less.
BFLOAT16_TOLERANCE = 0.01


def set_units(monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"), [(False, False, False), (True, False, True), (False, True, True)]
)
def test_auto_takes_bfloat16_only_where_the_cpu_has_units(
    monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool, expected: bool
) -> None:
    set_units(monkeypatch, avx512_bf16, amx)
    assert cpu_has_bfloat16_units() is expected
    assert resolve_precision("auto", CPU) == (torch.bfloat16 if expected else torch.float32)


def test_a_torch_without_the_detection_counts_as_no_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert not cpu_has_bfloat16_units()
    assert resolve_precision("auto", CPU) == torch.float32


def test_auto_keeps_float32_on_a_gpu_and_explicit_names_are_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    set_units(monkeypatch, True, True)
    assert resolve_precision("auto", torch.device("cuda")) == torch.float32
    set_units(monkeypatch, False, False)
    assert resolve_precision("bfloat16", CPU) == torch.bfloat16
    assert resolve_precision("float32", CPU) == torch.float32
    with pytest.raises(PrecisionError, match="unknown precision 'int4'"):
        resolve_precision("int4", CPU)


@pytest.fixture(scope="module")
def network() -> MultiScaleSENet:
    torch.manual_seed(0)
    return with_batch_norm_statistics(MultiScaleSENet(MODEL_SIZES["tiny"]), seed=1).eval()


def batch(seed: int, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(size, 12, 5000, generator=generator), torch.rand(size, NUM_RECORD_FEATURES, generator=generator)


def test_bfloat16_runs_the_backbone_in_bfloat16_and_the_head_in_float32(network: MultiScaleSENet) -> None:
    seen: dict[str, torch.dtype] = {}

    def record(name: str):  # type: ignore[no-untyped-def]
        def hook(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
            seen.setdefault(name, output.dtype)

        return hook

    reduced = inference_network(network, CPU, torch.bfloat16)
    stem = reduced.stem[0].register_forward_hook(record("stem"))
    head = reduced.head[0].register_forward_hook(record("head"))
    signals, features = batch(0)
    with torch.inference_mode():
        logits = reduced(signals, features)
    stem.remove()
    head.remove()
    assert seen == {"stem": torch.bfloat16, "head": torch.float32}
    assert logits.dtype == torch.float32
    assert network.backbone_dtype == torch.float32  # the model as saved is untouched
    assert "backbone_dtype" not in "".join(reduced.state_dict())


def test_bfloat16_probabilities_stay_within_the_stated_tolerance(network: MultiScaleSENet) -> None:
    signals, features = batch(1, 32)
    with torch.inference_mode():
        full = torch.sigmoid(inference_network(network, CPU)(signals, features))
        reduced = torch.sigmoid(inference_network(network, CPU, torch.bfloat16)(signals, features))
    difference = (full - reduced).abs().max().item()
    assert 0 < difference < BFLOAT16_TOLERANCE  # not 0: the convolutions did run in bfloat16


def test_load_classifier_takes_the_precision_asked_for(network: MultiScaleSENet, tmp_path: Path) -> None:
    save_model_folder(tmp_path / "model", network, DecisionRule(), 5000, {})
    assert load_classifier(tmp_path / "model").precision == torch.float32
    classifier = load_classifier(tmp_path / "model", "cpu", "bfloat16")
    assert classifier.precision == torch.bfloat16
    assert classifier.network.backbone_dtype == torch.bfloat16
    signals, features = batch(2, 2)
    recordings = [(signals[0].numpy(), features[0].numpy()), (signals[1].numpy(), features[1].numpy())]
    full = load_classifier(tmp_path / "model").probabilities(recordings)
    np.testing.assert_allclose(classifier.probabilities(recordings), full, rtol=0, atol=BFLOAT16_TOLERANCE)


def test_the_precision_module_names_dtypes_as_the_options_do() -> None:
    assert precision.describe(torch.bfloat16) == "bfloat16"
    assert precision.describe(torch.float32) == "float32"
