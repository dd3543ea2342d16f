"""Which backend runs the classifying network: torch, or ONNX Runtime from the model folder's export.

The driver's ``--backend auto`` (its default) takes ONNX Runtime where it gives torch's outputs in less time: on a
CPU, from a current export in the model folder (training writes one, ecg12.runs; export_model.py another), where
nothing asked for is torch's alone. Its probabilities are torch's float32 ones within float32 rounding
(tests/test_export_model.py), and the whole command is faster: torch is never imported (a second of a 2-core
machine's start-up) and ONNX Runtime's float32 convolutions are faster than torch's on the CPUs measured
(docs/performance.md). Torch runs everything else: a GPU, bfloat16, torch.compile, drawing reports, a model
folder without a usable export (a line says why when there was one), and large folders on a CPU with bfloat16
units, where torch's bfloat16 network (``--precision auto``) is faster than ONNX Runtime's float32 one by more
than torch's start-up costs.

Nothing here imports torch: deciding must not cost what ONNX Runtime saves.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from ecg12.scoring import MODEL_FILE, ONNX_FILE, ModelFolderError, RecordingClassifier

log = logging.getLogger(__name__)

# From this many recordings, on a CPU with bfloat16 units, torch's faster network pays for its start-up: measured
# on a 2-core Intel Xeon with AMX, ten-second recordings, the two cross at about 680 (docs/deployment.md); longer
# recordings, with more windows each, cross earlier.
TORCH_FROM_RECORDINGS = 500
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "amx_tile"})  # /proc/cpuinfo's names
BACKENDS = ("auto", "torch", "onnxruntime")
BACKEND_CHOICES = (
    "auto: ONNX Runtime where the model folder holds a current export and no GPU is used (no torch imported; "
    f"the same outputs, faster), except from {TORCH_FROM_RECORDINGS} recordings on a CPU with bfloat16 units; "
    "torch otherwise; torch; onnxruntime (docs/deployment.md)"
)


def load_model(
    folder: str | os.PathLike[str],
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    onnx: str | os.PathLike[str] | None = None,
    onnx_threads: int | None = None,
    recordings: int | None = None,
) -> RecordingClassifier:
    """The classifier of the model folder ``folder`` on ``backend`` (one of :data:`BACKENDS`; ``onnx``, an export
    to run, means onnxruntime); ``onnx_threads``: ONNX Runtime's (default: one per core); ``recordings``: how many
    it is to classify, where known. ModelFolderError, in one line that says what to do, where the folder or the
    export asked for cannot be used."""
    folder = Path(folder)
    asked = "onnxruntime" if onnx is not None else backend
    fits = asked == "auto" and onnx_backend_fits(folder, device, precision, recordings)
    if asked == "onnxruntime" or fits:
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


def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU computes bfloat16 in hardware, as Linux's /proc/cpuinfo lists it (False where there is none:
    ecg12.precision asks torch, which is not imported here)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return False
    return not BFLOAT16_FLAGS.isdisjoint(flags)


def onnx_backend_fits(folder: Path, device: str, precision: str, recordings: int | None) -> bool:
    """Whether ``--backend auto`` should try ONNX Runtime on the model folder ``folder``'s default export, for
    ``recordings`` recordings (None: unknown)."""
    if torch_only_options(device, "auto", precision, None) or (device == "auto" and gpu_visible()):
        return False
    large = recordings is not None and recordings >= TORCH_FROM_RECORDINGS
    if large and precision == "auto" and cpu_has_bfloat16_units():
        log.info(
            "Classifying with torch: %d recordings, and this CPU's bfloat16 units run its network faster", recordings
        )
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
