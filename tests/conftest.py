"""Shared fixtures: the real sample recordings and writers of small Challenge-format records.

``sample_dir`` is the folder of real recordings (``shared/data/cinc2020-sample`` beside the
repository, or ``$ECG12_SAMPLE_DIR``); tests that use it are skipped where it is absent.
``make_header`` builds header text and ``make_record`` writes ``NAME.hea`` + ``NAME.mat`` into
the test's temporary folder, so that each test states exactly the bytes it reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from trained_model import TrainedModel, one_torch_thread, trained_model

from ecg12.preprocess import STANDARD_LEADS

_SAMPLE_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "cinc2020-sample",
    Path(__file__).resolve().parents[1] / "shared" / "data" / "cinc2020-sample",
)


def _sample_dir() -> Path | None:
    override = os.environ.get("ECG12_SAMPLE_DIR")
    candidates = (Path(override),) if override else _SAMPLE_CANDIDATES
    return next((path for path in candidates if any(path.glob("*.hea"))), None)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The folder of real Challenge recordings; skips the test when it is absent."""
    path = _sample_dir()
    if path is None:
        pytest.skip("real sample recordings (shared/data/cinc2020-sample) are not available")
    return path


def make_header_text(
    name: str,
    num_leads: int,
    num_samples: int,
    *,
    frequency: float | str = 500,
    gain: str = "1000/mV",
    lead_names: Sequence[str] | None = None,
    file_name: str | None = None,
    record_name: str | None = None,
    date: str | None = None,
    comments: Sequence[str] = ("#Age: 50", "#Sex: Female", "#Dx: 426783006"),
) -> str:
    """Header text in the Challenge layout; every field can be overridden to build a variant."""
    names = list(lead_names) if lead_names is not None else list(STANDARD_LEADS[:num_leads])
    record = f"{record_name or name} {num_leads} {frequency} {num_samples}" + (f" {date}" if date else "")
    signal = file_name or f"{name}.mat"
    leads = [f"{signal} 16+24 {gain} 16 0 0 0 0 {lead}" for lead in names]
    return "\n".join([record, *leads, *comments]) + "\n"


def write_mat(path: Path, val: np.ndarray, *, fmt: str = "4") -> Path:
    """Write ``val`` as a MAT file (MATLAB v4 by default, like the real files)."""
    scipy.io.savemat(path, {"val": val}, format=fmt)  # type: ignore[arg-type]
    return path


def write_wfdb_dat(folder: Path, name: str, physical: np.ndarray, comments: Sequence[str] = ()) -> Path:
    """Write a 12-lead PTB-XL-style WFDB record (format 16, gain 1000/mV) with wfdb; returns the .hea path."""
    import wfdb  # slow to import; only the .dat tests need it

    wfdb.wrsamp(
        name,
        fs=500,
        units=["mV"] * 12,
        sig_name=list(STANDARD_LEADS),
        p_signal=physical,
        fmt=["16"] * 12,
        adc_gain=[1000.0] * 12,
        baseline=[0] * 12,
        write_dir=str(folder),
        comments=list(comments),
    )
    return folder / f"{name}.hea"


@pytest.fixture
def make_header() -> Callable[..., str]:
    """:func:`make_header_text`."""
    return make_header_text


@pytest.fixture
def make_record(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Write ``NAME.hea`` and ``NAME.mat`` into ``tmp_path``; returns (header path, MAT path).

    ``val`` defaults to int16 counts of shape (leads, samples); ``header`` (text or bytes) replaces
    the generated header; other keywords go to :func:`make_header_text`.
    """

    def write(
        name: str = "rec",
        val: np.ndarray | None = None,
        *,
        num_leads: int = 12,
        num_samples: int = 500,
        header: str | bytes | None = None,
        seed: int = 0,
        **header_fields: object,
    ) -> tuple[Path, Path]:
        if val is None:
            val = np.random.default_rng(seed).integers(-2000, 2000, (num_leads, num_samples)).astype(np.int16)
        if header is None:
            leads, samples = val.shape if val.ndim == 2 else (num_leads, num_samples)
            header = make_header_text(name, leads, samples, **header_fields)  # type: ignore[arg-type]
        header_path = tmp_path / f"{name}.hea"
        header_path.write_bytes(header.encode() if isinstance(header, str) else header)
        return header_path, write_mat(tmp_path / f"{name}.mat", val)

    return write


@pytest.fixture(scope="session", autouse=True)
def single_torch_thread() -> Iterator[None]:
    """Torch on one thread for the whole session (see tests/trained_model.py for why)."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """The tiny model trained once per session on synthetic records (tests/trained_model.py)."""
    return trained_model(tmp_path_factory)
