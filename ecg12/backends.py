"""Which backend runs the classifying network: torch, or ONNX Runtime from the model folder's export.

The driver's ``--backend auto`` (its default) takes ONNX Runtime where it gives torch's outputs in less time: on a
CPU, from a current export in the model folder (training writes one, ecg12.runs; export_model.py another), where
nothing asked for is torch's alone. Its probabilities are torch's float32 ones within float32 rounding
(tests/test_export_model.py), and the whole command is faster: torch is never imported (a second of a 2-core
machine's start-up) and ONNX Runtime's float32 convolutions are faster than torch's on the CPUs measured
(docs/performance.md). Torch runs everything else: a GPU, bfloat16, torch.compile, drawing reports, and a model
folder without a usable export (a line says why when there was an export).

Nothing here imports torch: deciding must not cost what ONNX Runtime saves.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from ecg12.scoring import MODEL_FILE, ONNX_FILE, ModelFolderError, RecordingClassifier

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")
BACKEND_CHOICES = (
    "auto: ONNX Runtime where the model folder holds a current export and no GPU is used (no torch imported; "
    "the same outputs, faster), torch otherwise; torch; onnxruntime (docs/deployment.md)"
)


def load_model(
    folder: str | os.PathLike[str],
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    onnx: str | os.PathLike[str] | None = None,
    onnx_threads: int | None = None,
) -> RecordingClassifier:
    """The classifier of the model folder ``folder`` on ``backend`` (one of :data:`BACKENDS`; ``onnx``, an export
    to run, means onnxruntime); ``onnx_threads``: ONNX Runtime's (default: one per core). ModelFolderError, in one
    line that says what to do, where the folder or the export asked for cannot be used."""
    folder = Path(folder)
    asked = "onnxruntime" if onnx is not None else backend
    torch_only = torch_only_options(device, "auto", precision, None)
    if asked == "onnxruntime" or (asked == "auto" and onnx_backend_fits(folder, device, torch_only)):
        from ecg12.onnx_classifier import load_onnx_classifier  # here: neither backend imports the other

        try:
            return load_onnx_classifier(folder, onnx, onnx_threads or os.cpu_count() or 1)
        except ModelFolderError as error:
            if asked == "onnxruntime":
                raise
            log.warning("Classifying with torch: %s", error)
    from ecg12.inference import load_classifier

    return load_classifier(folder, device, precision)


def torch_only_options(device: str, compile_mode: str, precision: str, plots: str | None) -> list[str]:
    """The driver's options, among those given, that only the torch backend can do."""
    asked = {
        "--device": device not in ("auto", "cpu"),
        "--compile always": compile_mode == "always",
        "--precision bfloat16": precision == "bfloat16",
        "--plots": plots is not None,
    }
    return [option for option, given in asked.items() if given]


def gpu_visible() -> bool:
    """Whether this process would see an NVIDIA GPU (its device files, unless CUDA_VISIBLE_DEVICES hides them)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


def onnx_backend_fits(folder: Path, device: str, torch_only: list[str]) -> bool:
    """Whether ``--backend auto`` should try ONNX Runtime on the model folder ``folder``'s default export."""
    if torch_only or (device == "auto" and gpu_visible()):
        return False
    if importlib.util.find_spec("onnxruntime") is None:
        log.info("Classifying with torch: onnxruntime is not installed (requirements.txt pins it)")
        return False
    if not (folder / MODEL_FILE).is_file():
        return False  # torch's loading says what is wrong with the folder
    if not (folder / ONNX_FILE).is_file():
        log.info("Classifying with torch: %s has no ONNX export (python export_model.py %s writes one)", folder, folder)
        return False
    return True
