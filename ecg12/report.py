"""A per-recording report: the ECG as a clinician reads it, the diagnoses by name, and where they came from.

:func:`write_recording_report` does one recording (``report.py``):
:func:`~ecg12.recording_analysis.analyse_recording` classifies it as the driver does and explains it,
:func:`report_pages` draws it, :func:`save_pages` writes a PNG or a PDF.

Page 1 is the ECG at true size on an A4 landscape page (printed at 100 %): grid paper with 1 mm and 5 mm
lines, 25 mm/s, 10 mm/mV, the standard 3 x 4 layout (I, II, III | aVR, aVL, aVF | V1, V2, V3 | V4, V5, V6,
2.5 s each) above a 10 s lead II rhythm strip, a 1 mV calibration pulse at the start of every row; above the
paper the recording (name, age, sex, sampling rate, length, the labels in its header, the repairs it needed)
and the predicted diagnoses by abbreviation and SNOMED CT term, with probability and decision threshold.

The following pages say where each decision came from. The classifier reads 10 s windows and takes, per
class, the largest probability over them: a strip of every window's probability along the recording shows
which windows voted for each class (reached its threshold). For each explained class (the predicted ones,
most probable first, at most :data:`~ecg12.recording_analysis.MAX_EXPLAINED`; the most probable class when none
is predicted) its deciding window, the one with its largest probability, is drawn with the Grad-CAM saliency of
the model's output (:mod:`ecg12.saliency`; a fold ensemble's own output) under the tracing of every lead.

What is drawn is the signal the network reads: resampled to 500 Hz, leads in the standard order (missing
ones zero, marked), not filtered. Each 2.5 s segment (and the rhythm strip) is only shifted to centre on
its median, so that baseline offsets do not push the traces off their rows; amplitudes are as recorded.
"""

from __future__ import annotations

import logging
import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, PowerNorm
from matplotlib.figure import Figure

from ecg12.classes import class_abbreviations, class_name, class_terms
from ecg12.config import TARGET_FREQUENCY, WINDOW_SAMPLES
from ecg12.criteria import fired
from ecg12.files import atomic_write, printable
from ecg12.headers import Header, RecordError
from ecg12.inference import Classifier
from ecg12.logs import Progress
from ecg12.measurements import Measurements
from ecg12.preprocess import STANDARD_LEADS, match_standard_lead
from ecg12.recording_analysis import ClassEvidence, RecordingAnalysis, analyse_recording
from ecg12.recordings import Recording
from ecg12.thresholds import DecisionRule

log = logging.getLogger(__name__)

CLASSES_PER_PAGE = 2  # saliency panels per evidence page
REPORT_FORMATS = (".png", ".pdf")

# ECG paper, in mm: the clinical standard speeds and grid.
MM_PER_SECOND = 25.0
MM_PER_MV = 10.0
MINOR_MM, MAJOR_MM = 1.0, 5.0
CALIBRATION_MM = 10.0  # room for the 1 mV calibration pulse before time 0 of every row
CALIBRATION_PULSE_S = 0.2  # the pulse's width: 5 mm at 25 mm/s
SEGMENT_S = 2.5  # one column of the 3 x 4 layout
LAYOUT_ROWS: tuple[tuple[str, ...], ...] = (
    ("I", "aVR", "V1", "V4"),
    ("II", "aVL", "V2", "V5"),
    ("III", "aVF", "V3", "V6"),
)
RHYTHM_LEAD = "II"

# The page: A4 landscape, everything placed in mm so that page 1 prints at true scale.
PAGE_MM = (297.0, 210.0)
WINDOW_SECONDS = WINDOW_SAMPLES / TARGET_FREQUENCY
PAPER_WIDTH_MM = CALIBRATION_MM + WINDOW_SECONDS * MM_PER_SECOND  # 260 mm: 10 s and the calibration pulse
PAPER_HEIGHT_MM = 150.0  # four rows of 37.5 mm (a QRS of up to about 2 mV stays in its row)
PAPER_LEFT_MM = (PAGE_MM[0] - PAPER_WIDTH_MM) / 2
PAPER_BOTTOM_MM = 14.0
ROW_PITCH_MM = PAPER_HEIGHT_MM / 4
BASELINE_ABOVE_ROW_BOTTOM_MM = 15.0  # QRS complexes go up more than down: the baseline sits low in its row

GRID_MINOR_COLOUR = "#f5c4c4"
GRID_MAJOR_COLOUR = "#e07a7a"
TRACE_COLOUR = "black"
SALIENCY_COLOURS = ("white", "#fcbba1", "#fb6a4a", "#de2d26")  # white where nothing raised the output; the trace
# stays readable on the darkest
SALIENCY_GAMMA = 0.5  # colours follow the square root of the saliency: evidence a quarter of the largest is half-dark
FAINT_SALIENCY = 0.02  # a class whose largest saliency is below this share of that scale says so
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf")

# Above the paper on page 1: the recording's facts and the diagnoses' table (3 decimals: a probability just under its
# threshold must not read as equal to it).
HEADER_BOTTOM_MM = PAPER_BOTTOM_MM + PAPER_HEIGHT_MM + 2.0
LINE_MM = 3.4  # a line of 7.5 pt text
TABLE_LEFT_MM = 104.0  # the diagnoses' table, from the paper's left edge; the recording's facts left of it
TABLE_COLUMNS_MM = {"class": 0.0, "term": 25.0, "code": 102.0, "probability": 136.0, "threshold": 154.0}
MAX_TABLE_PREDICTED = 5  # rows of predicted classes; more are named on one line
MAX_TABLE_OTHERS = 2  # rows of the most probable classes that were not predicted
NBSP = "\u00a0"  # keeps a number and its unit on one line where the text is wrapped

# The evidence pages.
EVIDENCE_NOTE = (
    "The classifier reads 10 s windows; a class's probability is its largest over the windows. Saliency: Grad-CAM of "
    "the model's output (the last convolutional stage weighted by the gradient of the class's logit, per lead and "
    "time), on one scale for all classes of the recording (the darkest red: its largest value; colours follow the "
    "square root, so that weaker evidence shows): the darker, the more that part of the window raised the class's "
    "output. Age, sex and the rhythm and QRS measurements of the whole "
    "recording feed the output beside the signal and are not in the map. Traces at 2 mm/mV, 25 mm/s."
)
EVIDENCE_PANEL_HEIGHT_MM = 54.0  # 12 leads of 4.5 mm
EVIDENCE_PANEL_BOTTOMS_MM = (81.0, 12.0)  # the first class above the second, each with 9 mm of title above it
EVIDENCE_MM_PER_MV = 2.0  # traces in the saliency panels: a 4.5 mm row holds about +-1.1 mV
STRIP_BOTTOM_MM, STRIP_HEIGHT_MM = 153.0, 22.0


# --------------------------------------------------------------------------------------------------------------
# Drawing


def report_pages(analysis: RecordingAnalysis) -> list[Figure]:
    """The report's pages: the ECG (page 1), then the evidence, :data:`CLASSES_PER_PAGE` classes a page."""
    pages = [_ecg_page(analysis)]
    evidence = analysis.evidence
    for first in range(0, len(evidence), CLASSES_PER_PAGE):
        pages.append(_evidence_page(analysis, evidence[first : first + CLASSES_PER_PAGE], with_strip=first == 0))
    return pages


def page_count(analysis: RecordingAnalysis) -> int:
    """How many pages :func:`report_pages` draws for ``analysis``."""
    return 1 + math.ceil(len(analysis.evidence) / CLASSES_PER_PAGE)


def _new_page() -> Figure:
    return Figure(figsize=(PAGE_MM[0] / 25.4, PAGE_MM[1] / 25.4))


def _axes_mm(figure: Figure, left: float, bottom: float, width: float, height: float) -> Axes:
    """Axes at a place on the page given in mm, with data limits equal to its size in mm (1 unit = 1 mm)."""
    page_width, page_height = PAGE_MM
    axes = figure.add_axes((left / page_width, bottom / page_height, width / page_width, height / page_height))
    axes.set_xlim(0, width)
    axes.set_ylim(0, height)
    axes.set_axis_off()
    return axes


def _ecg_page(analysis: RecordingAnalysis) -> Figure:
    """Page 1: the recording and the diagnoses above the ECG paper, a note on scales and the rule under it."""
    figure = _new_page()
    paper = _axes_mm(figure, PAPER_LEFT_MM, PAPER_BOTTOM_MM, PAPER_WIDTH_MM, PAPER_HEIGHT_MM)
    draw_grid(paper, PAPER_WIDTH_MM, PAPER_HEIGHT_MM)
    _draw_leads(paper, analysis)
    _draw_page_header(figure, analysis)
    note = (
        f"25 mm/s, 10 mm/mV, grid 1 mm / 5 mm (true size printed at 100 % on A4). {_window_note(analysis)} "
        "The signal as the classifier reads it (500 Hz, unfiltered), each segment centred on its median. "
        f"Decision rule: {_rule_text(analysis.decision_rule)}."
    )
    bottom = (PAPER_BOTTOM_MM - 3.0) / PAGE_MM[1]
    figure.text(
        PAPER_LEFT_MM / PAGE_MM[0], bottom, "\n".join(textwrap.wrap(note, 190)), fontsize=6.5, color="0.3", va="top"
    )
    return figure


def _draw_leads(paper: Axes, analysis: RecordingAnalysis) -> None:
    """The shown window in the 3 x 4 layout and the rhythm strip, each row after its calibration pulse."""
    shown = analysis.shown
    visible = visible_samples(analysis, shown)
    missing = _missing_leads(analysis.header)
    for row, leads in enumerate(LAYOUT_ROWS):
        baseline = row_baseline(row)
        _draw_calibration(paper, baseline)
        for column, lead in enumerate(leads):
            first = int(column * SEGMENT_S * TARGET_FREQUENCY)
            last = min(int((column + 1) * SEGMENT_S * TARGET_FREQUENCY), visible)
            x0 = CALIBRATION_MM + column * SEGMENT_S * MM_PER_SECOND
            label = f"{lead} (missing)" if lead in missing else lead
            _lead_label(paper, x0 + 1.0, baseline + 8.0, label)
            if column:  # the mark between two leads of a row
                paper.plot([x0, x0], [baseline - 3.0, baseline + 3.0], color=TRACE_COLOUR, linewidth=0.6)
            if last > first:
                _draw_trace(paper, shown.window[STANDARD_LEADS.index(lead), first:last], first, baseline)
    baseline = row_baseline(3)
    _draw_calibration(paper, baseline)
    _lead_label(paper, CALIBRATION_MM + 1.0, baseline + 8.0, RHYTHM_LEAD)
    _draw_trace(paper, shown.window[STANDARD_LEADS.index(RHYTHM_LEAD), :visible], 0, baseline)


def _lead_label(axes: Axes, x: float, y: float, text: str) -> None:
    """A lead's name, on a white patch: a tall QRS of the lead above may run through it."""
    box = {"facecolor": "white", "edgecolor": "none", "pad": 0.8, "alpha": 0.85}
    axes.text(x, y, text, fontsize=7, color=TRACE_COLOUR, bbox=box, zorder=4)


def row_baseline(row: int) -> float:
    """Height (mm above the paper's bottom) of row ``row``'s 0 mV line; row 0 is the top, row 3 the rhythm strip."""
    return PAPER_HEIGHT_MM - (row + 1) * ROW_PITCH_MM + BASELINE_ABOVE_ROW_BOTTOM_MM


def draw_grid(axes: Axes, width: float, height: float) -> None:
    """ECG paper: a line every 1 mm, a bolder one every 5 mm, over ``width`` x ``height`` mm from (0, 0)."""
    for step, colour, linewidth, skip_majors in (
        (MINOR_MM, GRID_MINOR_COLOUR, 0.3, True),
        (MAJOR_MM, GRID_MAJOR_COLOUR, 0.7, False),
    ):
        xs = np.arange(0.0, width + 1e-9, step)
        ys = np.arange(0.0, height + 1e-9, step)
        if skip_majors:  # the bolder lines are drawn over them anyway; leaving them out keeps their colour clean
            xs = xs[np.abs(np.remainder(xs + 1e-9, MAJOR_MM)) > 1e-6]
            ys = ys[np.abs(np.remainder(ys + 1e-9, MAJOR_MM)) > 1e-6]
        segments = [[(x, 0.0), (x, height)] for x in xs] + [[(0.0, y), (width, y)] for y in ys]
        axes.add_collection(LineCollection(segments, colors=colour, linewidths=linewidth, zorder=0))


def _draw_calibration(axes: Axes, baseline: float) -> None:
    """The 1 mV, 0.2 s calibration pulse in the first :data:`CALIBRATION_MM` of a row."""
    rise = (CALIBRATION_MM - CALIBRATION_PULSE_S * MM_PER_SECOND) / 2
    fall = rise + CALIBRATION_PULSE_S * MM_PER_SECOND
    top = baseline + MM_PER_MV
    axes.plot(
        [0.0, rise, rise, fall, fall, CALIBRATION_MM],
        [baseline, baseline, top, top, baseline, baseline],
        color=TRACE_COLOUR,
        linewidth=0.6,
        solid_joinstyle="miter",
    )


def _draw_trace(axes: Axes, samples: np.ndarray, first_sample: int, baseline: float) -> None:
    """Samples of one lead from ``first_sample`` of the window on, at 25 mm/s and 10 mm/mV, centred on their
    median."""
    seconds = (first_sample + np.arange(len(samples))) / TARGET_FREQUENCY
    x = CALIBRATION_MM + seconds * MM_PER_SECOND
    y = baseline + (samples - np.median(samples)) * MM_PER_MV
    axes.plot(x, y, color=TRACE_COLOUR, linewidth=0.6)


def _missing_leads(header: Header) -> set[str]:
    """Standard leads that the header does not name (zero-filled in the signal)."""
    found = {match[0] for match in map(match_standard_lead, header.lead_names) if match is not None}
    return {lead for index, lead in enumerate(STANDARD_LEADS) if index not in found}


def _draw_page_header(figure: Figure, analysis: RecordingAnalysis) -> None:
    """The recording's facts (left) and the diagnoses' table (right), above the paper."""
    height = PAGE_MM[1] - 5.0 - HEADER_BOTTOM_MM
    block = _axes_mm(figure, PAPER_LEFT_MM, HEADER_BOTTOM_MM, PAPER_WIDTH_MM, height)
    header = analysis.header
    block.text(0.0, height, printable(header.record_name), fontsize=13, weight="bold", va="top", parse_math=False)
    facts = [
        f"{_age_text(header.age)}, {_sex_text(header.sex)}",
        *measurement_lines(analysis.measurements),
        *criteria_lines(analysis),
        f"{header.num_leads} leads{_lead_order_note(header)}, recorded at {_number(header.frequency)}{NBSP}Hz, "
        f"{header.num_samples / header.frequency:.1f}{NBSP}s",
        "Labels in the header: " + (", ".join(_label_text(code) for code in header.labels) or "none"),
        # The warnings name the file, which the page names already.
        *(f"Repaired: {repair.removeprefix(f'{header.source}: ')}" for repair in analysis.repairs),
    ]
    lines = _wrap(facts, 64)
    # Text from the file is drawn as it is: a $ in it must not start matplotlib's mathematics.
    text = "\n".join(printable(line) for line in lines[:8])
    block.text(0.0, height - 7.0, text, fontsize=7.5, va="top", linespacing=1.25, parse_math=False)
    _draw_diagnoses_table(block, analysis, TABLE_LEFT_MM, height)


def measurement_lines(measurements: Measurements) -> list[str]:
    """What a cardiograph prints above the tracing: rate, PR, QRS, QT/QTc (Bazett) and the P, QRS and T axes; a
    dash where a measurement cannot be made (no PR without P waves, say)."""

    def value(name: str) -> str:
        number = getattr(measurements, name)
        return f"{number:.0f}" if math.isfinite(number) else "\u2013"

    return [
        f"Rate {value('heart_rate')}{NBSP}bpm, PR {value('pr')}{NBSP}ms, QRS {value('qrs')}{NBSP}ms, "
        f"QT/QTc {value('qt')}/{value('qtc')}{NBSP}ms",
        f"P-R-T axes {value('p_axis')} {value('qrs_axis')} {value('t_axis')}",
    ]


def criteria_lines(analysis: RecordingAnalysis) -> list[str]:
    """The textbook criteria the recording meets (ecg12.criteria), those of predicted classes first: which class
    each would define and the measurement that met it."""
    predicted = {code for code, on in zip(analysis.classes.codes, analysis.predicted, strict=True) if on}
    met = fired(analysis.measurements)
    lines = []
    for label, group in (
        ("Criteria met", [item for item in met if item[0].code in predicted]),
        ("Criteria met, class not predicted", [item for item in met if item[0].code not in predicted]),
    ):
        if group:
            lines.append(f"{label}: " + "; ".join(f"{criterion.name}, {text}" for criterion, text in group))
    return lines


def _draw_diagnoses_table(axes: Axes, analysis: RecordingAnalysis, left: float, top: float) -> None:
    """Predicted classes (bold), then the most probable others (grey): name, term, code, probability, threshold."""
    order = [int(index) for index in np.argsort(-analysis.probabilities, kind="stable")]
    predicted = [index for index in order if analysis.predicted[index]]
    others = [index for index in order if not analysis.predicted[index]][:MAX_TABLE_OTHERS]
    columns = {name: left + offset for name, offset in TABLE_COLUMNS_MM.items()}
    axes.text(columns["class"], top, "Diagnoses", fontsize=10, weight="bold", va="top")
    y = top - 5.5
    for name, title in (("class", "class"), ("term", "SNOMED CT term"), ("code", "code")):
        axes.text(columns[name], y, title, fontsize=6.5, color="0.4", va="top")
    for name in ("probability", "threshold"):
        axes.text(columns[name], y, name, fontsize=6.5, color="0.4", va="top", ha="right")
    y -= LINE_MM
    shown = predicted[:MAX_TABLE_PREDICTED]
    for index in shown:
        _draw_table_row(axes, analysis, index, columns, y, predicted=True)
        y -= LINE_MM
    if len(predicted) > len(shown):
        rest = ", ".join(_abbreviation(analysis, index) for index in predicted[len(shown) :])
        axes.text(columns["class"], y, _shorten(f"also predicted: {rest}", 125), fontsize=7, va="top")
        y -= LINE_MM
    if not predicted:
        axes.text(columns["class"], y, "no class predicted", fontsize=7.5, weight="bold", va="top")
        y -= LINE_MM
    if others:
        axes.text(columns["class"], y, "not predicted, the most probable:", fontsize=6.5, color="0.4", va="top")
        y -= LINE_MM
    for index in others:
        _draw_table_row(axes, analysis, index, columns, y, predicted=False)
        y -= LINE_MM


def _draw_table_row(
    axes: Axes, analysis: RecordingAnalysis, index: int, columns: dict[str, float], y: float, predicted: bool
) -> None:
    abbreviation, term = class_name(analysis.classes.codes[index])
    style: dict[str, object] = {"fontsize": 7.5, "va": "top", "color": "black" if predicted else "0.35"}
    axes.text(columns["class"], y, abbreviation, weight="bold" if predicted else "normal", **style)
    axes.text(columns["term"], y, _shorten(term, 52), **style)
    axes.text(columns["code"], y, analysis.classes.codes[index], **style)
    axes.text(columns["probability"], y, f"{analysis.probabilities[index]:.3f}", ha="right", **style)
    axes.text(columns["threshold"], y, f"{analysis.thresholds[index]:.3f}", ha="right", **style)


def _abbreviation(analysis: RecordingAnalysis, index: int) -> str:
    return class_name(analysis.classes.codes[index])[0]


def _rule_text(rule: DecisionRule) -> str:
    if rule.mode == "per-class":
        return "per-class thresholds tuned on validation recordings"
    if rule.mode == "patch-fraction":
        return (
            f"a class is predicted when, in some 10 s window, its probability is at least {rule.fraction:g} x that "
            "window's largest"
        )
    return f"a class is predicted when its probability is at least {rule.fraction:g} x the largest"


def _window_note(analysis: RecordingAnalysis) -> str:
    shown = analysis.shown
    if len(analysis.window_starts) == 1:
        length = analysis.num_samples / TARGET_FREQUENCY
        return "The whole recording." if length >= WINDOW_SECONDS else f"The whole recording ({length:.1f} s)."
    start = shown.window_start / TARGET_FREQUENCY
    return (
        f"Shown: {start:.1f}-{start + WINDOW_SECONDS:.1f} s of {analysis.num_samples / TARGET_FREQUENCY:.1f} s, "
        f"the window with the largest {_abbreviation(analysis, shown.class_index)} probability."
    )


def _lead_order_note(header: Header) -> str:
    """A note when the header's leads are not the twelve standard ones in the standard order."""
    return "" if tuple(header.lead_names) == STANDARD_LEADS else " (drawn in the standard order)"


def _label_text(code: str) -> str:
    abbreviation, term = class_abbreviations().get(code), class_terms().get(code)
    return f"{abbreviation} ({term})" if abbreviation else f"{code} (not scored)"


def _age_text(age: float) -> str:
    return "age unknown" if math.isnan(age) else f"{_number(age)} years"


def _sex_text(sex: str) -> str:
    return "sex unknown" if sex == "Unknown" else sex.lower()


def _number(value: float) -> str:
    return f"{value:g}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _wrap(lines: Sequence[str], width: int) -> list[str]:
    return [wrapped for line in lines for wrapped in textwrap.wrap(line, width, subsequent_indent="    ")]


def _evidence_page(analysis: RecordingAnalysis, evidence: Sequence[ClassEvidence], with_strip: bool) -> Figure:
    """Window votes along the recording (on the first evidence page) and a saliency panel per class."""
    figure = _new_page()
    left = PAPER_LEFT_MM / PAGE_MM[0]
    figure.text(
        left,
        1.0 - 8.0 / PAGE_MM[1],
        f"{printable(analysis.header.record_name)}: where the diagnoses came from",
        fontsize=13,
        weight="bold",
        va="top",
        parse_math=False,
    )
    figure.text(
        left,
        1.0 - 15.0 / PAGE_MM[1],
        "\n".join(textwrap.wrap(EVIDENCE_NOTE, 175)),
        fontsize=7,
        va="top",
    )
    if with_strip:
        _draw_window_votes(figure, analysis)
    for position, item in enumerate(evidence):
        bottom = EVIDENCE_PANEL_BOTTOMS_MM[position]
        _draw_saliency_panel(figure, analysis, item, bottom)
    return figure


def _draw_window_votes(figure: Figure, analysis: RecordingAnalysis) -> None:
    """Every window's probability of each explained class along the recording; filled: reached the threshold."""
    left = (PAPER_LEFT_MM + CALIBRATION_MM) / PAGE_MM[0]
    width = WINDOW_SECONDS * MM_PER_SECOND / PAGE_MM[0]
    if len(analysis.window_starts) == 1:
        figure.text(
            left,
            (STRIP_BOTTOM_MM + STRIP_HEIGHT_MM / 2) / PAGE_MM[1],
            "One window: the recording is at most 10 s long, its probabilities are those of this window.",
            fontsize=8,
        )
        return
    axes = figure.add_axes((left, STRIP_BOTTOM_MM / PAGE_MM[1], width, STRIP_HEIGHT_MM / PAGE_MM[1]))
    ends = np.minimum(analysis.window_starts + WINDOW_SAMPLES, max(analysis.num_samples, WINDOW_SAMPLES))
    centres = (analysis.window_starts + ends) / 2 / TARGET_FREQUENCY
    shown = analysis.shown.window_start / TARGET_FREQUENCY
    axes.axvspan(shown, shown + WINDOW_SECONDS, color="0.9", zorder=0, label="shown on page 1")
    for number, item in enumerate(analysis.evidence):
        colour = CLASS_COLOURS[number % len(CLASS_COLOURS)]
        probabilities = analysis.window_probabilities[:, item.class_index]
        threshold = analysis.thresholds[item.class_index]
        voted = probabilities >= threshold
        axes.plot(centres, probabilities, color=colour, linewidth=0.8, label=_abbreviation(analysis, item.class_index))
        axes.scatter(centres[voted], probabilities[voted], s=9, color=colour, zorder=3)
        axes.scatter(centres[~voted], probabilities[~voted], s=9, facecolors="white", edgecolors=colour, zorder=3)
        axes.axhline(threshold, color=colour, linewidth=0.6, linestyle="--")
    axes.set_xlim(0, analysis.num_samples / TARGET_FREQUENCY)
    drawn = [analysis.window_probabilities[:, item.class_index].max() for item in analysis.evidence]
    drawn += [analysis.thresholds[item.class_index] for item in analysis.evidence]
    # Room above the highest point for the legend; a scale of at least 0 to 0.2, at most 0 to 1.
    axes.set_ylim(0, min(1.0, max(0.2, math.ceil(13 * max(drawn)) / 10)))
    axes.set_xlabel("time in the recording (s)", fontsize=7, labelpad=1)
    axes.set_ylabel("probability", fontsize=7)
    axes.set_title(
        "Each 10 s window's probability, at its centre; filled where it reached the class's threshold (dashed): "
        "the windows that voted for the class",
        fontsize=7,
        loc="left",
    )
    axes.tick_params(labelsize=6.5, pad=1)
    axes.legend(fontsize=6, loc="upper right", ncol=len(analysis.evidence) + 1, framealpha=0.9, borderpad=0.3)


def saliency_scale(analysis: RecordingAnalysis) -> float:
    """The saliency drawn darkest: the largest of every explained class's map over the recording's samples (not the
    zero padding), one scale for the recording so that panels compare: a class whose output the signal hardly
    raised stays pale instead of being scaled up to look like evidence."""
    return max(
        float(item.saliency[:, : visible_samples(analysis, item)].max(initial=0.0)) for item in analysis.evidence
    )


def visible_samples(analysis: RecordingAnalysis, item: ClassEvidence) -> int:
    """Samples of ``item``'s window that are the recording's, not zero padding after its end."""
    return min(WINDOW_SAMPLES, analysis.num_samples - item.window_start)


def _draw_saliency_panel(figure: Figure, analysis: RecordingAnalysis, item: ClassEvidence, bottom: float) -> None:
    """The class's deciding window, lead by lead, over its saliency map, with its title and times."""
    axes = _axes_mm(figure, PAPER_LEFT_MM, bottom, PAPER_WIDTH_MM, EVIDENCE_PANEL_HEIGHT_MM)
    axes.set_ylim(-6.0, EVIDENCE_PANEL_HEIGHT_MM)  # room for the times under the panel
    scale = saliency_scale(analysis)
    _draw_saliency_map(axes, item.saliency / scale if scale > 0 else item.saliency)
    visible = visible_samples(analysis, item)
    _draw_panel_traces(axes, item.window[:, :visible], _missing_leads(analysis.header))
    if visible < WINDOW_SAMPLES:
        end = CALIBRATION_MM + visible / TARGET_FREQUENCY * MM_PER_SECOND
        axes.fill_between([end, PAPER_WIDTH_MM], 0.0, EVIDENCE_PANEL_HEIGHT_MM, color="0.85", zorder=1, linewidth=0)
        axes.text(end + 2.0, EVIDENCE_PANEL_HEIGHT_MM / 2, "past the end of the recording (zero padding)", fontsize=7)
    start = item.window_start / TARGET_FREQUENCY
    for second in range(int(WINDOW_SECONDS) + 1):
        x = CALIBRATION_MM + second * MM_PER_SECOND
        axes.plot([x, x], [0.0, -1.5], color="0.3", linewidth=0.5)
        axes.text(x, -2.0, f"{start + second:g} s", fontsize=6, ha="center", va="top")
    axes.add_patch(_frame(CALIBRATION_MM, 0.0, WINDOW_SECONDS * MM_PER_SECOND, EVIDENCE_PANEL_HEIGHT_MM))
    faint = float(item.saliency[:, :visible].max(initial=0.0)) <= FAINT_SALIENCY * scale
    _draw_panel_title(axes, analysis, item, faint)


def _draw_saliency_map(axes: Axes, scaled: np.ndarray) -> None:
    """(leads, samples) saliency, 1 the darkest, as the background of the panel's rows."""
    # A column per 10 ms is finer than the map's resolution (the last stage's steps are 32 ms or more).
    step = TARGET_FREQUENCY // 100
    axes.imshow(
        scaled[:, ::step],
        cmap=LinearSegmentedColormap.from_list("saliency", SALIENCY_COLOURS),
        norm=PowerNorm(SALIENCY_GAMMA, vmin=0.0, vmax=1.0),
        aspect="auto",
        interpolation="nearest",
        extent=(CALIBRATION_MM, PAPER_WIDTH_MM, 0.0, EVIDENCE_PANEL_HEIGHT_MM),
        zorder=0,
    )


def _draw_panel_traces(axes: Axes, window: np.ndarray, missing: set[str]) -> None:
    """Every lead of a (12, visible samples) window in its row of the panel, at 2 mm/mV, named on the left."""
    row_height = EVIDENCE_PANEL_HEIGHT_MM / len(STANDARD_LEADS)
    x = CALIBRATION_MM + np.arange(window.shape[1]) / TARGET_FREQUENCY * MM_PER_SECOND
    for lead_index, lead in enumerate(STANDARD_LEADS):
        centre = EVIDENCE_PANEL_HEIGHT_MM - (lead_index + 0.5) * row_height
        axes.text(1.0, centre, lead, fontsize=6, va="center")
        if lead in missing:
            axes.text(CALIBRATION_MM + 1.0, centre, "missing (zero-filled)", fontsize=5.5, va="center", color="0.4")
        elif window.shape[1]:
            samples = window[lead_index]
            y = centre + (samples - np.median(samples)) * EVIDENCE_MM_PER_MV
            axes.plot(x, y, color=TRACE_COLOUR, linewidth=0.35, zorder=2)


def _draw_panel_title(axes: Axes, analysis: RecordingAnalysis, item: ClassEvidence, faint: bool) -> None:
    """The class, its probability and threshold; which window; whether the window raised its output at all."""
    index = item.class_index
    abbreviation, term = class_name(analysis.classes.codes[index])
    verdict = "predicted" if analysis.predicted[index] else "not predicted"
    top = EVIDENCE_PANEL_HEIGHT_MM
    axes.text(
        CALIBRATION_MM,
        top + 5.0,
        f"{abbreviation}, {_shorten(term, 80)}: probability {analysis.probabilities[index]:.3f} "
        f"(threshold {analysis.thresholds[index]:.3f}), {verdict}",
        fontsize=8,
        weight="bold",
        va="bottom",
    )
    notes = []
    if len(analysis.window_starts) > 1:
        start = item.window_start / TARGET_FREQUENCY
        notes.append(f"the window {start:.1f}-{start + WINDOW_SECONDS:.1f} s, where its probability is largest")
    if faint:
        notes.append(
            "hardly any part of the window raised its output: the record features and the network's biases carry it"
        )
    axes.text(CALIBRATION_MM, top + 1.2, "; ".join(notes).capitalize(), fontsize=7, va="bottom")


def _frame(x: float, y: float, width: float, height: float) -> object:
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), width, height, fill=False, edgecolor="0.4", linewidth=0.5, zorder=3)


# --------------------------------------------------------------------------------------------------------------
# Writing


def save_pages(pages: Sequence[Figure], path: str | os.PathLike[str], dpi: float = 150) -> None:
    """Write the pages atomically: a PDF of one page each, or a PNG of them one under the other."""
    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise ValueError(f"{path}: a report is written as .png or .pdf, not {suffix or 'a file without a suffix'}")
    if suffix == ".pdf":
        from matplotlib.backends.backend_pdf import PdfPages

        def write_pdf(handle: object) -> None:
            with PdfPages(handle) as document:
                for page in pages:
                    document.savefig(page)

        atomic_write(path, write_pdf)
    else:
        image = np.concatenate([_rendered(page, dpi) for page in pages], axis=0)
        from matplotlib.image import imsave

        atomic_write(path, lambda handle: imsave(handle, image, format="png", dpi=dpi))


def _rendered(page: Figure, dpi: float) -> np.ndarray:
    """The page as an (height, width, 4) uint8 RGBA image at ``dpi``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    page.set_dpi(dpi)
    canvas = FigureCanvasAgg(page)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def write_recording_report(
    classifier: Classifier, header_path: str | os.PathLike[str], output_path: str | os.PathLike[str], dpi: float = 150
) -> RecordingAnalysis:
    """Analyse one recording and write its report to ``output_path`` (.png or .pdf); returns the analysis."""
    if Path(output_path).suffix.lower() not in REPORT_FORMATS:  # before the work, not after it
        raise ValueError(f"{output_path}: a report is written as .png or .pdf")
    analysis = analyse_recording(classifier, header_path)
    save_pages(report_pages(analysis), output_path, dpi)
    return analysis


def write_folder_reports(
    classifier: Classifier, recordings: Sequence[Recording], folder: str | os.PathLike[str], dpi: float = 150
) -> list[tuple[str, str]]:
    """A report of every readable recording into ``folder/NAME.pdf``; returns (recording, problem) of the others.

    ``driver.py --plots DIR`` calls this after the outputs are written, so that the plain driver does
    not wait for drawing; one recording that cannot be drawn does not stop the others.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    failures: list[tuple[str, str]] = []
    with Progress(len(recordings), "drawing reports", "recordings", log) as progress:
        for done, recording in enumerate(recordings, start=1):
            try:
                if recording.problem is not None:
                    raise RecordError(recording.header, recording.problem)
                write_recording_report(classifier, recording.header, folder / f"{recording.name}.pdf", dpi)
            except (RecordError, ValueError, OSError) as error:
                problem = error.problem if isinstance(error, RecordError) else str(error)
                failures.append((printable(recording.name), printable(str(problem))))
            progress.update(done)
    return failures
