"""Figures people would rather look at than tables: training curves and per-class results."""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from ecg12.files import atomic_write


def _pyplot() -> ModuleType:
    """matplotlib.pyplot on the headless Agg backend, imported on first use (it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")  # no display in containers or CI
    import matplotlib.pyplot

    return matplotlib.pyplot


def _save(figure: Any, path: str | os.PathLike[str]) -> None:
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=120))
    _pyplot().close(figure)


def plot_training_curves(history: Sequence[dict[str, object]], path: str | os.PathLike[str]) -> None:
    """Losses and validation metrics per epoch, the best epoch marked."""
    epochs = [int(row["epoch"]) for row in history]  # type: ignore[call-overload]
    figure, (losses, metrics) = _pyplot().subplots(1, 2, figsize=(11, 4))
    losses.plot(epochs, [row["train_loss"] for row in history], label="training")
    losses.plot(epochs, [row["validation_loss"] for row in history], label="validation")
    losses.set(xlabel="epoch", ylabel="weighted BCE", title="Loss")
    losses.legend()
    for key, name in [
        ("validation_challenge_metric", "Challenge metric"),
        ("validation_auroc", "AUROC"),
        ("validation_f_measure", "F-measure"),
        ("validation_g_beta", "G-beta"),
    ]:
        metrics.plot(epochs, [row[key] for row in history], label=name)
    best = max(history, key=lambda row: row["validation_challenge_metric"])  # type: ignore[arg-type,return-value]
    metrics.axvline(int(best["epoch"]), color="grey", linestyle=":", label=f"best (epoch {best['epoch']})")  # type: ignore[call-overload]
    metrics.set(xlabel="epoch", title="Validation")
    metrics.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def plot_class_scores(
    names: Sequence[str],
    auroc: np.ndarray,
    f_measure: np.ndarray,
    positives: np.ndarray,
    path: str | os.PathLike[str],
    title: str,
) -> None:
    """Per-class AUROC and F-measure bars; classes without enough examples to score are greyed."""
    figure, axis = _pyplot().subplots(figsize=(12, 4.5))
    x = np.arange(len(names))
    axis.bar(x - 0.2, np.nan_to_num(auroc), width=0.4, label="AUROC")
    axis.bar(x + 0.2, np.nan_to_num(f_measure), width=0.4, label="F-measure")
    axis.set_xticks(x, [f"{n}\n({int(p)})" for n, p in zip(names, positives, strict=True)], fontsize=7)
    for tick, count in zip(axis.get_xticklabels(), positives, strict=True):
        if count < 2:
            tick.set_color("grey")
    axis.set(ylim=(0, 1), ylabel="score", title=f"{title} (class (positives); grey: fewer than 2 positives)")
    axis.legend()
    figure.tight_layout()
    _save(figure, path)


def plot_credit_and_confusion(
    names: Sequence[str], weights: np.ndarray, confusion: np.ndarray, path: str | os.PathLike[str]
) -> None:
    """The Challenge metric's credit for each (label, output) pair beside where the outputs put each label.

    Left, the weights (weights.csv): the credit an output class earns for a recording labelled with a class.
    Right, the metric's modified confusion matrix (:func:`ecg12.metrics.modified_confusion_matrix`), each row as
    shares of its label's total, every cell that the outputs reached marked with the credit it earns: off the
    diagonal, a mistake the metric forgives as far as that number goes.
    """
    pyplot = _pyplot()
    count = len(names)
    figure, (credit_axis, confusion_axis) = pyplot.subplots(1, 2, figsize=(17, 8.2))
    credit_image = credit_axis.imshow(np.nan_to_num(weights), cmap="Greens", vmin=0, vmax=1)
    figure.colorbar(credit_image, ax=credit_axis, fraction=0.046, pad=0.02, label="credit")
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, confusion / totals, np.nan)
    confusion_image = confusion_axis.imshow(np.ma.masked_invalid(shares), cmap="Blues", vmin=0, vmax=1)
    confusion_axis.set_facecolor("0.93")  # rows of classes without labelled recordings
    figure.colorbar(confusion_image, ax=confusion_axis, fraction=0.046, pad=0.02, label="share of the label's row")
    credit = np.nan_to_num(weights)
    for row, column in zip(*np.nonzero(confusion > 0), strict=True):
        colour = "white" if shares[row, column] > 0.6 else "black"
        text = f"{credit[row, column]:.2f}".lstrip("0") if credit[row, column] < 1 else "1"
        confusion_axis.text(column, row, text, ha="center", va="center", fontsize=5.5, color=colour)
    for axis, title in (
        (credit_axis, "Credit the Challenge metric gives (weights.csv)"),
        (confusion_axis, "Where the outputs put each label (modified confusion matrix)"),
    ):
        axis.set_xticks(range(count), names, rotation=90, fontsize=7)
        axis.set_yticks(range(count), names, fontsize=7)
        axis.set(xlabel="output class", ylabel="label class", title=title)
    figure.suptitle(
        "Right: each recording adds 1 / |labels or outputs| to every (label, output) pair of its own, rows shown as "
        "shares; a number is the credit that cell earns (left): off the diagonal, how far a mistake is forgiven",
        fontsize=9,
    )
    figure.tight_layout()
    _save(figure, path)
