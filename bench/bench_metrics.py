"""Benchmark of the Challenge scoring: the metrics in memory and the evaluate_model.py command.

    .venv/bin/python bench/bench_metrics.py [--recordings 43101] [--files 5000] [--subset 2000]

1. All metrics (ecg12.metrics.score) on synthetic labels, binary outputs and scores for
   ``--recordings`` recordings x 24 classes (the size of the 2020 training set), best and median
   of several runs; then a plain loop implementation shaped like the official scorer on the first
   ``--subset`` recordings, against the vectorised code on the same subset, for a speed ratio
   measured in the same run; and ChallengeMetric's repeated calls and class sweep (threshold tuning).
2. ``--files`` synthetic header + output file pairs written to a temporary folder, and the whole
   ``python evaluate_model.py LABELS OUTPUTS scores.csv class_scores.csv`` command timed end to end
   (a fresh interpreter each time, so imports count), next to a bare ``python -c "import numpy"``,
   and the in-process time of its phases (finding files, labels, outputs, metrics).
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from ecg12.classes import scored_classes  # noqa: E402
from ecg12.evaluation import find_challenge_files, load_label_matrix, load_output_matrices  # noqa: E402
from ecg12.metrics import ChallengeMetric, score  # noqa: E402
from ecg12.outputs import format_outputs  # noqa: E402


def synthetic(num_recordings: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with skewed class frequencies (1-3 per recording), noisy scores on a 1e-3 grid (ties)."""
    rng = np.random.default_rng(seed)
    num_classes = len(scored_classes().codes)
    frequency = rng.dirichlet(np.full(num_classes, 0.7))
    labels = np.zeros((num_recordings, num_classes), dtype=bool)
    counts = rng.choice([1, 1, 1, 2, 2, 3], num_recordings)
    for extra in range(3):
        chosen = rng.choice(num_classes, num_recordings, p=frequency)
        labels[np.arange(num_recordings)[counts > extra], chosen[counts > extra]] = True
    scores = np.clip(0.35 * labels + rng.normal(0.3, 0.2, labels.shape), 0, 1).round(3)
    return labels, scores >= 0.5, scores


# A plain implementation with the official scorer's structure (loops over recordings, classes and
# thresholds), to measure what vectorising buys. It is not used for correctness here: the tests
# compare the library with their own loop reference.


def loop_scores(labels: np.ndarray, binary: np.ndarray, scores: np.ndarray, weights: np.ndarray, normal: int) -> tuple:
    n, c = labels.shape
    auroc, auprc = np.zeros(c), np.zeros(c)
    for k in range(c):
        thresholds = np.append(np.unique(scores[:, k]), np.max(scores[:, k]) + 1)[::-1]
        tp, fp = np.zeros(len(thresholds)), np.zeros(len(thresholds))
        order = np.argsort(scores[:, k])[::-1]
        i = 0
        for j in range(1, len(thresholds)):
            tp[j], fp[j] = tp[j - 1], fp[j - 1]
            while i < n and scores[order[i], k] >= thresholds[j]:
                if labels[order[i], k]:
                    tp[j] += 1
                else:
                    fp[j] += 1
                i += 1
        positives, negatives = labels[:, k].sum(), n - labels[:, k].sum()
        tpr = tp / positives if positives else np.full(len(tp), math.nan)
        tnr = (negatives - fp) / negatives if negatives else np.full(len(tp), math.nan)
        ppv = np.divide(tp, tp + fp, out=np.full(len(tp), math.nan), where=tp + fp > 0)
        for j in range(len(thresholds) - 1):
            auroc[k] += 0.5 * (tpr[j + 1] - tpr[j]) * (tnr[j + 1] + tnr[j])
            auprc[k] += (tpr[j + 1] - tpr[j]) * ppv[j + 1]
    correct = sum(np.all(labels[i] == binary[i]) for i in range(n)) / n
    counts = np.zeros((c, 2, 2))
    normalized = np.zeros((c, 2, 2))
    for i in range(n):
        share = 1.0 / max(labels[i].sum(), 1)
        for k in range(c):
            counts[k, int(binary[i, k]), int(labels[i, k])] += 1
            normalized[k, int(binary[i, k]), int(labels[i, k])] += share

    def challenge(outputs: np.ndarray) -> float:
        matrix = np.zeros((c, c))
        for i in range(n):
            share = 1.0 / max(np.any((labels[i], outputs[i]), axis=0).sum(), 1)
            for j in range(c):
                if labels[i, j]:
                    for k in range(c):
                        if outputs[i, k]:
                            matrix[j, k] += share
        return float(np.nansum(weights * matrix))

    inactive_outputs = np.zeros_like(labels)
    inactive_outputs[:, normal] = True
    observed, best, inactive = challenge(binary), challenge(labels), challenge(inactive_outputs)
    return auroc, auprc, correct, counts, normalized, (observed - inactive) / (best - inactive)


def timed(function: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def describe(times: list[float]) -> str:
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s over {len(times)} runs"


def write_files(folder: Path, labels: np.ndarray, binary: np.ndarray, scores: np.ndarray) -> tuple[Path, Path]:
    classes = scored_classes()
    label_dir, output_dir = folder / "labels", folder / "outputs"
    label_dir.mkdir()
    output_dir.mkdir()
    leads = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    for i in range(len(labels)):
        name = f"B{i:05d}"
        dx = ",".join(classes.codes[j] for j in np.flatnonzero(labels[i]))
        lead_lines = "".join(f"{name}.mat 16+24 1000/mV 16 0 {i % 97} {i % 31} 0 {lead}\n" for lead in leads)
        comments = f"#Age: 60\n#Sex: Female\n#Dx: {dx}\n#Rx: Unknown\n#Hx: Unknown\n#Sx: Unknown\n"
        (label_dir / f"{name}.hea").write_text(f"{name} 12 500 5000\n{lead_lines}{comments}")
        text = format_outputs(
            name,
            classes.output_codes,
            classes.expand(binary[i]).tolist(),
            classes.expand(scores[i]).tolist(),
        )
        (output_dir / f"{name}.csv").write_text(text)
    return label_dir, output_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=43101)
    parser.add_argument("--subset", type=int, default=2000, help="recordings for the loop comparison")
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    classes = scored_classes()

    labels, binary, scores = synthetic(args.recordings)
    print(f"In memory: {args.recordings} recordings x {labels.shape[1]} classes")
    score(labels, binary, scores, classes)  # warm-up
    times = timed(lambda: score(labels, binary, scores, classes), args.repeats)
    print(f"  all metrics (ecg12.metrics.score): {describe(times)}")

    n = min(args.subset, args.recordings)
    sub = (labels[:n], binary[:n], scores[:n])
    start = time.perf_counter()
    auroc, auprc, accuracy, _, _, metric_value = loop_scores(*sub, classes.weights, classes.normal_index)
    loop_time = time.perf_counter() - start
    vector_time = min(timed(lambda: score(*sub, classes), args.repeats))
    vectorised = score(*sub, classes)
    difference = max(
        np.nanmax(np.abs(auroc - vectorised.auroc_classes)),
        np.nanmax(np.abs(auprc - vectorised.auprc_classes)),
        abs(accuracy - vectorised.accuracy),
        abs(metric_value - vectorised.challenge_metric),
    )
    print(f"  loop and vectorised results differ by at most {difference:.1e}")
    print(f"  first {n} recordings: loop like the official scorer {loop_time:.3f} s, vectorised {vector_time:.4f} s")
    print(f"  speed ratio on the same {n} recordings: {loop_time / vector_time:.0f}x")
    # The loop's cost grows linearly with the recordings; the vectorised code's fixed costs weigh
    # more on a small subset, so the ratio at full size is the more telling one.
    extrapolated = loop_time * args.recordings / n
    print(
        f"  loop extrapolated to {args.recordings} recordings: about {extrapolated:.0f} s, "
        f"{extrapolated / min(times):.0f}x the vectorised time"
    )

    metric = ChallengeMetric(labels, classes.weights, classes.normal_index)
    call = min(timed(lambda: metric(binary), args.repeats))
    thresholds = np.round(np.arange(0.02, 0.99, 0.01), 2)
    candidates = scores[:, 0][None, :] >= thresholds[:, None]
    sweep = min(timed(lambda: metric.sweep_class(binary, 0, candidates), args.repeats))
    print(f"  ChallengeMetric: call {call * 1e3:.1f} ms, sweep of {len(thresholds)} thresholds {sweep * 1e3:.1f} ms")

    labels, binary, scores = synthetic(args.files, seed=1)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        label_dir, output_dir = write_files(folder, labels, binary, scores)
        command = [
            sys.executable,
            str(REPOSITORY / "evaluate_model.py"),
            str(label_dir),
            str(output_dir),
            str(folder / "scores.csv"),
            str(folder / "class_scores.csv"),
        ]

        def run() -> None:
            subprocess.run(command, check=True, cwd=REPOSITORY)

        run()  # warm the file cache
        print(f"Command: evaluate_model.py on {args.files} label + output files")
        print(f"  whole command: {describe(timed(run, args.repeats))}")
        bare = timed(lambda: subprocess.run([sys.executable, "-c", "import numpy"], check=True), args.repeats)
        print(f"  for comparison, python -c 'import numpy': {describe(bare)}")
        found = find_challenge_files(label_dir, output_dir)
        phases = {
            "find files": lambda: find_challenge_files(label_dir, output_dir),
            "labels": lambda: load_label_matrix(found[0], classes),
            "outputs": lambda: load_output_matrices(found[1], classes),
            "metrics": lambda: score(labels, binary, scores, classes),
        }
        best = {name: min(timed(phase, args.repeats)) for name, phase in phases.items()}
        print("  in-process phases (best): " + ", ".join(f"{name} {t:.3f} s" for name, t in best.items()))
        print("  scores.csv:", (folder / "scores.csv").read_text().splitlines()[1])


if __name__ == "__main__":
    main()
