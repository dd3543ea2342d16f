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
