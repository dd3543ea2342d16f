"""WFDB header (.hea) parsing for Challenge recordings.

A header is a record line (``NAME NLEADS FS NSAMPLES [date time]``), one line per lead
(``FILE FMT GAIN[(BASELINE)][/UNITS] RES ADCZERO FIRST CHECKSUM BLOCK LEADNAME``) and comment
lines such as ``#Age: 74``, ``#Sex: Female`` and ``#Dx: code,code``. The parser is strict about
the structure it needs (a clear :class:`RecordError` naming the file and the line) and lenient
about what real data varies in: units case, a record name written with ``.mat``, missing age or
sex, non-ASCII bytes (a line that is not UTF-8 is read as Latin-1, so that the micro sign of
``µV`` written as the byte 0xB5 survives).

Sanity limits (:data:`MIN_FREQUENCY_HZ`, :data:`MAX_FREQUENCY_HZ`, :data:`MAX_LEADS`,
:data:`MAX_DURATION_S`) make a header that no real recording could have a :class:`RecordError`,
before anything trusts its sizes (memory, the training cache). Multi-segment records
(``NAME/SEGMENTS`` on the record line) are refused: their signals live in other records.

This module needs only the standard library so that scoring starts fast.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

# WFDB: an ADC gain of 0 (or none) means "uncalibrated", read as 200 ADC units per physical unit.
DEFAULT_ADC_GAIN = 200.0

# Sanity limits on a record line, far beyond real ECGs: the Challenge's longest records are 30 min at 257 Hz (INCART);
# Holters record 1-7 days at 128-1000 Hz; high-resolution ECG samples at up to ~32 kHz; body-surface maps have up to
# ~256 leads. Beyond them a header is corrupt, and trusting it would mean allocating memory or cache space for it
# (a 10^15-sample header once asked the training cache for a 240 GB file). 7 days at 500 Hz, the cache's rate, is
# 7.3 GB of cache for 12 leads.
MIN_FREQUENCY_HZ = 1.0
MAX_FREQUENCY_HZ = 100_000.0
MAX_LEADS = 1024
MAX_DURATION_S = 7 * 24 * 3600  # seconds; the number of samples may be at most this times the sampling frequency

_GAIN_FIELD = re.compile(r"^(?P<gain>[-+0-9.eE]+)(?:\((?P<baseline>[-+0-9]+)\))?(?:/(?P<units>\S*))?$")


class RecordError(ValueError):
    """A recording or header that cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class Lead:
    """One signal line of a header."""

    file_name: str
    fmt: str
    adc_gain: float  # ADC units per physical unit
    baseline: int  # ADC value of 0 physical units (WFDB: the bracketed baseline, else the ADC zero)
    units: str
    adc_resolution: int
    adc_zero: int
    name: str
    uncalibrated: bool = False  # the header's gain was 0: adc_gain is WFDB's default, DEFAULT_ADC_GAIN


@dataclass(frozen=True)
class Header:
    """A parsed header; ``text`` keeps the original lines for the Challenge interface."""

    source: str
    record_name: str
    num_leads: int
    frequency: float
    num_samples: int
    leads: tuple[Lead, ...]
    age: float  # NaN when unknown
    sex: str  # "Male", "Female" or "Unknown"
    labels: tuple[str, ...]  # SNOMED CT codes from #Dx, in file order
    text: str

    @property
    def lead_names(self) -> tuple[str, ...]:
        return tuple(lead.name for lead in self.leads)


def read_header_text(path: str | os.PathLike[str]) -> str:
    """Read a header file as text, never failing on its bytes: each line is UTF-8, or else Latin-1.

    Latin-1 gives every byte a character, and it is what older WFDB tools wrote (``µV`` as the byte
    0xB5); deciding line by line keeps UTF-8 comments intact beside a Latin-1 one.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise RecordError(path, f"cannot read header: {error.strerror or error}") from error
    return "".join(_decode_line(line) for line in raw.splitlines(keepends=True))


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def parse_header(text: str, source: str | os.PathLike[str] = "<header>") -> Header:
    """Parse header text; ``source`` is the file name used in error messages."""
    # A byte-order mark (written by some Windows editors) is not part of the record name.
    text = text.removeprefix("\ufeff")
    lines = [line.strip() for line in text.splitlines()]
    body = [(number, line) for number, line in enumerate(lines, start=1) if line and not line.startswith("#")]
    if not body:
        raise RecordError(source, "header is empty (no record line)")

    record_line_number, record_line = body[0]
    record_name, num_leads, frequency, num_samples = _parse_record_line(record_line, record_line_number, source)
    lead_lines = body[1 : 1 + num_leads]
    if len(lead_lines) < num_leads:
        raise RecordError(
            source, f"record line declares {num_leads} leads but the header has {len(lead_lines)} lead lines"
        )
    leads = tuple(_parse_lead_line(line, number, source) for number, line in lead_lines)

    comments = _parse_comments(lines)
    return Header(
        source=str(source),
        record_name=record_name,
        num_leads=num_leads,
        frequency=frequency,
        num_samples=num_samples,
        leads=leads,
        age=_parse_age(comments.get("age")),
        sex=_parse_sex(comments.get("sex")),
        labels=_parse_codes(comments.get("dx")),
        text=text,
    )


def read_header(path: str | os.PathLike[str]) -> Header:
    """Read and parse one ``.hea`` file."""
    return parse_header(read_header_text(path), path)


def _parse_record_line(line: str, number: int, source: str | os.PathLike[str]) -> tuple[str, int, float, int]:
    fields = line.split()
    if len(fields) < 4:
        raise RecordError(source, f"line {number}: malformed record line {line!r} (expected NAME NLEADS FS NSAMPLES)")
    record_name = _parse_record_name(fields[0], number, source)
    try:
        num_leads = int(fields[1])
        # WFDB allows 'FS/COUNTERFREQ(BASECOUNT)'; only the sampling frequency matters here.
        frequency = float(fields[2].split("/")[0])
        num_samples = int(fields[3])
    except ValueError as error:
        raise RecordError(source, f"line {number}: malformed record line {line!r} ({error})") from error
    if num_leads < 1:
        raise RecordError(source, f"line {number}: record line declares {num_leads} leads")
    if num_leads > MAX_LEADS:
        raise RecordError(source, f"line {number}: record line declares {num_leads} leads (at most {MAX_LEADS})")
    # Written so that NaN fails too.
    if not MIN_FREQUENCY_HZ <= frequency <= MAX_FREQUENCY_HZ:
        raise RecordError(
            source,
            f"line {number}: invalid sampling frequency {fields[2]!r} "
            f"(accepted: {MIN_FREQUENCY_HZ:g} to {MAX_FREQUENCY_HZ:g} Hz)",
        )
    if num_samples < 0:
        raise RecordError(source, f"line {number}: invalid number of samples {fields[3]!r}")
    max_samples = math.floor(MAX_DURATION_S * frequency)
    if num_samples > max_samples:
        raise RecordError(
            source,
            f"line {number}: record line declares {num_samples} samples, more than {MAX_DURATION_S / 86400:g} days "
            f"at {frequency:g} Hz ({max_samples} samples)",
        )
    return record_name, num_leads, frequency, num_samples


def _parse_record_name(field: str, number: int, source: str | os.PathLike[str]) -> str:
    """The record name of a record line's first field, refusing multi-segment records (``NAME/SEGMENTS``)."""
    name, slash, segments = field.partition("/")
    if slash:
        if segments.isdigit():
            raise RecordError(
                source,
                f"line {number}: multi-segment records ({field!r}: {int(segments)} segments) are not supported",
            )
        raise RecordError(source, f"line {number}: malformed record name {field!r}")
    # Some Georgia headers write the record name as 'E00015.mat'; the name is what precedes the extension.
    return re.sub(r"\.(mat|dat|hea)$", "", name, flags=re.IGNORECASE)


def _parse_lead_line(line: str, number: int, source: str | os.PathLike[str]) -> Lead:
    fields = line.split()
    if len(fields) < 9:
        raise RecordError(
            source,
            f"line {number}: malformed lead line {line!r} "
            "(expected FILE FMT GAIN/UNITS RES BASELINE FIRST CHECKSUM BLOCK LEADNAME)",
        )
    match = _GAIN_FIELD.match(fields[2])
    try:
        if match is None:
            raise ValueError(f"unreadable gain {fields[2]!r}")
        adc_gain = float(match["gain"])
        adc_resolution = int(fields[3])
        adc_zero = int(fields[4])
        baseline = int(match["baseline"]) if match["baseline"] is not None else adc_zero
    except ValueError as error:
        raise RecordError(source, f"line {number}: malformed lead line {line!r} ({error})") from error
    if not math.isfinite(adc_gain) or adc_gain < 0:
        raise RecordError(source, f"line {number}: invalid ADC gain {fields[2]!r}")
    return Lead(
        file_name=fields[0],
        fmt=fields[1],
        adc_gain=adc_gain if adc_gain > 0 else DEFAULT_ADC_GAIN,
        baseline=baseline,
        units=match["units"] or "mV",
        adc_resolution=adc_resolution,
        adc_zero=adc_zero,
        # A WFDB description may contain spaces; the lead name is all of it.
        name=" ".join(fields[8:]),
        uncalibrated=adc_gain == 0,
    )


def _parse_comments(lines: list[str]) -> dict[str, str]:
    """Map lower-case keys of ``#Key: value`` comments to their values (first occurrence wins)."""
    comments: dict[str, str] = {}
    for line in lines:
        if line.startswith("#") and ":" in line:
            key, value = line[1:].split(":", 1)
            comments.setdefault(key.strip().lower(), value.strip())
    return comments


def _parse_age(value: str | None) -> float:
    try:
        age = float(value) if value is not None else math.nan
    except ValueError:
        return math.nan
    return age if math.isfinite(age) and age >= 0 else math.nan


_SEXES = {"male": "Male", "m": "Male", "female": "Female", "f": "Female"}


def _parse_sex(value: str | None) -> str:
    return _SEXES.get((value or "").strip().lower(), "Unknown")


def _parse_codes(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(code.strip() for code in value.split(",") if code.strip())
