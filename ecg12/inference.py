"""Model folders and the torch classifier: saving and loading a trained model, its network arranged to classify.

How recordings become scores (windows in batches, maxima over them, the decision rule) is ecg12.scoring's, which
this classifier shares with the ONNX Runtime one (ecg12.onnx_classifier).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ecg12 import __version__
from ecg12.classes import ScoredClasses, scored_classes
from ecg12.devices import resolve_device
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.files import atomic_write, atomic_write_text
from ecg12.measurement_model import MeasuredNetwork
from ecg12.model import FoldEnsemble, ModelConfig, build_network, fold_batch_norms
from ecg12.network import NUM_LEADS, ECGNetwork
from ecg12.precision import describe, resolve_precision
from ecg12.preprocess import WINDOW_SAMPLES
from ecg12.scoring import (
    MODEL_FILE,
    ModelFolderError,
    PreparedRecording,
    RecordingClassifier,
    RecordingScores,
    score_recordings,
)
from ecg12.thresholds import DecisionRule

log = logging.getLogger(__name__)

# Bump when the contents of model.pt change so that an older ecg12 would misread them. 2: a list of member state
# dicts; 3: the architecture and the record path in model_config (absent in format 2: msse, with the path); 4: the
# measurement model, its tensors beside the network's in each member's state dict (absent in formats 2 and 3: none).
MODEL_FORMAT = 4
READABLE_FORMATS = (2, 3, 4)
_REQUIRED_KEYS = ("format", "model_config", "classes", "decision_rule", "state_dicts", "window_stride")
# What a model folder holds: a network, a network with its measurement model (ecg12.measurement_model), or a fold
# ensemble of either.
SavedModel = ECGNetwork | MeasuredNetwork | FoldEnsemble


def predict_scores(
    model: torch.nn.Module,
    records: Iterable[PreparedRecording],
    device: torch.device,
    stride: int = WINDOW_SAMPLES,
    batch_size: int = 64,
) -> RecordingScores:
    """Scores of recordings given as ((12, N) mV at 500 Hz, record features): :func:`~ecg12.scoring.score_recordings`
    with ``model`` on ``device``."""
    model.eval()

    @torch.inference_mode()
    def window_probabilities(windows: np.ndarray, features: np.ndarray) -> np.ndarray:
        signals, side = torch.from_numpy(windows).to(device), torch.from_numpy(features).to(device)
        # Full precision out of every device, so that a GPU gives the CPU's probabilities (within float rounding).
        return torch.sigmoid(model(signals, side).float()).cpu().numpy()

    return score_recordings(window_probabilities, records, _num_classes(model), stride, batch_size)


def predict_probabilities(
    model: torch.nn.Module,
    records: Iterable[PreparedRecording],
    device: torch.device,
    stride: int = WINDOW_SAMPLES,
    batch_size: int = 64,
) -> np.ndarray:
    """(n, classes) probabilities of recordings: the ``probabilities`` of :func:`predict_scores`."""
    return predict_scores(model, records, device, stride, batch_size).probabilities


def _num_classes(model: torch.nn.Module) -> int:
    return model.config.num_classes  # type: ignore[union-attr,return-value]


def inference_network(model: SavedModel, device: torch.device, precision: torch.dtype = torch.float32) -> SavedModel:
    """A copy of ``model`` arranged to classify fast on ``device``: its probabilities within float32 rounding, or
    with ``precision`` bfloat16, its backbones' convolutions in bfloat16 (:mod:`ecg12.precision`).

    Batch norms that follow a convolution are folded into it (:func:`~ecg12.model.fold_batch_norms`). On a CPU the
    weights are also stored channels-last, so that oneDNN runs every convolution on (batch, time, channels)
    blocks instead of converting the feature maps around each one: measured twice as fast on this model
    (docs/performance.md, "Model speed and memory"). ``model`` itself stays as it is, to be saved or trained.
    """
    network = copy.deepcopy(model).eval()
    fold_batch_norms(network)
    for module in network.modules():
        if isinstance(module, ECGNetwork):
            module.backbone_dtype = precision
    if device.type == "cpu":
        network = network.to(memory_format=torch.channels_last)
    return network


class CompiledNetwork(torch.nn.Module):
    """A network compiled by ``torch.compile`` for batches of any size from 2 windows (one graph, dynamic batch).

    Compiled for sizes 0 and 1 apart: torch specialises on them, so a batch of one window would compile a second
    graph (13 s on the tiny model); it goes through as a pair and keeps one row.
    """

    def __init__(self, network: SavedModel) -> None:
        super().__init__()
        self.network = network
        self.config = network.config
        self.compiled = torch.compile(network, dynamic=True)

    def forward(self, signals: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        if len(signals) == 1:
            return self.compiled(signals.repeat(2, 1, 1), record_features.repeat(2, 1))[:1]
        return self.compiled(signals, record_features)


def compiled_network(network: SavedModel, device: torch.device, largest_batch: int) -> CompiledNetwork | SavedModel:
    """``network`` compiled now, or ``network`` itself, with a warning, where that fails.

    Compiled by passing batches of 2 and of ``largest_batch`` windows through it: torch specialises the graph on
    the batch size's range as well (measured: below 16 windows and from 16 on), and a range met for the first time
    while classifying would compile again then (1-2 s; 30 s with torch's compile cache empty). Compiling needs a
    C++ compiler on a CPU and Triton on a GPU; without them, or whatever else goes wrong, the eager network
    classifies as well, only slower.
    """
    started = time.perf_counter()
    try:
        compiled = CompiledNetwork(network)
        with torch.inference_mode():
            for batch in sorted({2, max(largest_batch, 2)}):
                windows = torch.zeros(batch, NUM_LEADS, WINDOW_SAMPLES, device=device)
                compiled(windows, torch.zeros(batch, NUM_RECORD_FEATURES, device=device))
    except Exception as error:  # torch raises many types from its compilers
        message = " ".join(str(error).split())[:300]
        log.warning("Cannot compile the network (%s: %s); the eager one classifies", type(error).__name__, message)
        return network
    log.info("Compiled the network in %.1f s", time.perf_counter() - started)
    return compiled


@dataclass
class Classifier(RecordingClassifier):
    """A loaded model folder: the model (:data:`SavedModel`), its decision rule and the class list.

    ``model`` is the model as saved; ``network`` the copy that classifies (:func:`inference_network`).
    """

    backend: ClassVar[str] = "torch"
    model: SavedModel
    decision_rule: DecisionRule
    classes: ScoredClasses
    device: torch.device
    window_stride: int = WINDOW_SAMPLES
    batch_size: int = 64
    precision: torch.dtype = torch.float32
    network: SavedModel | CompiledNetwork = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.network = inference_network(self.model, self.device, self.precision)

    def scores(self, records: Iterable[PreparedRecording]) -> RecordingScores:
        """Scores (n, 24) of prepared recordings ((12, N) mV at 500 Hz, record features)."""
        return predict_scores(self.network, records, self.device, self.window_stride, self.batch_size)

    @property
    def compiles_by_default(self) -> bool:
        """On a CPU (on a GPU the network's time is small beside the rest)."""
        return self.device.type == "cpu"

    def compile(self) -> bool:
        """Classify with the network compiled (:func:`compiled_network`) from now on; False where it could not be."""
        if not isinstance(self.network, CompiledNetwork):
            self.network = compiled_network(self.network, self.device, self.batch_size)
        return isinstance(self.network, CompiledNetwork)


def save_model_folder(
    folder: str | os.PathLike[str],
    model: SavedModel,
    decision_rule: DecisionRule,
    window_stride: int,
    training: dict[str, object],
) -> None:
    """Write ``model.pt`` (everything inference needs, atomically) and readable JSON copies beside it."""
    members = list(model.members) if isinstance(model, FoldEnsemble) else [model]
    folder = Path(folder)
    classes = scored_classes()
    # Everything but the tensors as plain JSON types: a NumPy scalar among them (a threshold, a score) would
    # make model.pt unreadable for torch.load(weights_only=True).
    readable = plain(
        {
            "format": MODEL_FORMAT,
            "version": __version__,
            "model_config": model.config.to_dict(),
            "classes": list(classes.codes),
            "decision_rule": decision_rule.to_dict(),
            "window_stride": int(window_stride),
            "members": len(members),
            "training": training,
        }
    )
    state_dicts = [{name: tensor.detach().cpu() for name, tensor in _saved_state(m).items()} for m in members]
    bundle = {**readable, "state_dicts": state_dicts}
    atomic_write(folder / MODEL_FILE, lambda handle: torch.save(bundle, handle))
    atomic_write_text(folder / "config.json", json.dumps(readable, indent=2) + "\n")
    atomic_write_text(
        folder / "thresholds.json",
        json.dumps({"classes": list(classes.codes), **decision_rule.to_dict()}, indent=2) + "\n",
    )


def load_classifier(folder: str | os.PathLike[str], device: str = "cpu", precision: str = "float32") -> Classifier:
    """Load a model folder, checking everything before any recording is read; ``precision`` is one of
    :data:`~ecg12.precision.PRECISIONS` (``auto``: bfloat16 where the CPU has units for it)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist")
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelFolderError(f"model folder {folder} has no {MODEL_FILE} (train a model into it first)")
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise ModelFolderError(
            f"{path} is not a readable model file ({unreadable_reason(path, error)}): copy it again or retrain"
        ) from error
    if not isinstance(bundle, dict):
        raise ModelFolderError(f"{path} is not an ecg12 model file")
    missing = [key for key in _REQUIRED_KEYS if key not in bundle]
    if missing:
        raise ModelFolderError(f"{path} is incomplete: missing {', '.join(missing)}")
    if not isinstance(bundle["format"], int) or bundle["format"] not in READABLE_FORMATS:
        newer = isinstance(bundle["format"], int) and bundle["format"] > MODEL_FORMAT
        raise ModelFolderError(
            f"{path} has model format {bundle['format']!r} (written by ecg12 {bundle.get('version', '?')}); "
            f"this ecg12 {__version__} reads formats {', '.join(map(str, READABLE_FORMATS))}: "
            + ("update ecg12" if newer else "retrain the model")
        )
    classes = scored_classes()
    if not isinstance(bundle["classes"], list) or bundle["classes"] != list(classes.codes):
        raise ModelFolderError(f"{path} was trained on other classes than this weights.csv defines")
    try:
        rule = DecisionRule.from_dict(bundle["decision_rule"], len(classes.codes))
    except ValueError as error:
        raise ModelFolderError(f"{path} has an unusable decision rule ({error}): copy it again or retrain") from error
    try:
        config = ModelConfig.from_dict(bundle["model_config"])
        if config.num_classes != len(classes.codes):
            raise ValueError(f"the network has {config.num_classes} outputs for {len(classes.codes)} classes")
        if not isinstance(bundle["state_dicts"], list) or not bundle["state_dicts"]:
            raise ValueError("state_dicts must be a non-empty list")
        members = [_saved_member(config, state_dict) for state_dict in bundle["state_dicts"]]
        model = members[0] if len(members) == 1 else FoldEnsemble(members)
        window_stride = bundle["window_stride"]
        if not isinstance(window_stride, int) or isinstance(window_stride, bool) or window_stride < 1:
            raise ValueError(f"window_stride must be a positive number of samples, not {window_stride!r}")
    except Exception as error:  # whatever a malformed entry raises, the user gets one line about it
        detail = " ".join(str(error).split())  # load_state_dict lists missing keys over several lines
        raise ModelFolderError(
            f"{path} does not match this version's model ({type(error).__name__}: {detail})"
        ) from error
    problems = [problem for member in members if (problem := unusable_weights(member)) is not None]
    if problems:
        raise ModelFolderError(f"{path} holds weights no network can classify with: {problems[0]}; retrain")
    torch_device = resolve_device(device)
    dtype = resolve_precision(precision, torch_device)
    if dtype != torch.float32:
        log.info("Classifying with the convolutions in %s (--precision float32 for float32)", describe(dtype))
    return Classifier(
        model=model.to(torch_device).eval(),
        decision_rule=rule,
        classes=classes,
        device=torch_device,
        window_stride=window_stride,
        precision=dtype,
    )


def _saved_state(member: ECGNetwork | MeasuredNetwork) -> dict[str, torch.Tensor]:
    """The tensors of one member as model.pt keeps them (the network's, with its measurement model's beside them)."""
    return member.saved_state() if isinstance(member, MeasuredNetwork) else member.state_dict()


def _saved_member(config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> ECGNetwork | MeasuredNetwork:
    """One member, loaded from its saved tensors: the network, with its measurement model where it has one."""
    if "criteria.share" in state_dict:  # saved between 44b2440 and the criterion-led layer (ecg12.criteria)
        raise ValueError(
            "it was trained with the criteria's first rule (a share of the logit), since replaced: retrain it"
        )
    network = build_network(config)
    if config.measurement_model:
        return MeasuredNetwork.from_saved_state(network, state_dict)
    network.load_state_dict(state_dict)
    return network


def unusable_weights(member: ECGNetwork | MeasuredNetwork) -> str | None:
    """What in a member's saved tensors makes every recording's probabilities NaN or meaningless; None if nothing.

    Non-finite values (a diverged training, a damaged file), negative batch-norm variances (their square root is
    NaN), record feature scales that are not positive and a measurement model's share outside [0, 1].
    """
    state = _saved_state(member)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return f"{name} holds non-finite values"
        if name.endswith("running_var") and (tensor < 0).any():
            return f"{name} holds negative variances"
    if not (state["feature_scale"] > 0).all():
        return "feature_scale holds values that are not positive"
    share = state.get("measurement_share")
    if share is not None and not 0 <= float(share) <= 1:
        return f"measurement_share is {float(share)!r}, not in [0, 1]"
    return None


def unreadable_reason(path: Path, error: Exception, what: str = "model") -> str:
    """Why torch could not load ``path`` (a ``what``), in words: torch's own messages run to paragraphs of advice,
    some of it wrong here (loading with ``weights_only=False`` would run whatever code a foreign file holds)."""
    if path.stat().st_size == 0:
        return "the file is empty"
    if isinstance(error, pickle.UnpicklingError):
        return f"not a {what} written by ecg12"
    return f"truncated or damaged ({type(error).__name__})"


def plain(value: object) -> object:
    """``value`` with NumPy scalars and arrays, tuples and non-string keys turned into plain JSON types."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value
