"""The recipe as data: signal settings, the network's architecture and the training configuration.

Nothing here imports torch or SciPy, so that the scripts' argument parsing (``--help``) is instant;
the modules that do the work read these settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

TARGET_FREQUENCY = 500  # Hz: every recording is resampled to it
WINDOW_SAMPLES = 5000  # 10 s at 500 Hz: the network's input length

# How probabilities become labels (ecg12.thresholds): "max-fraction" is the paper's max/5 rule, "tuned-fraction"
# the same rule with its fraction tuned on validation outputs, "auto" chooses (ecg12.thresholds.resolve_rule).
DECISION_RULES = ("auto", "per-class", "tuned-fraction", "max-fraction")
ARCHITECTURES = ("msse", "resnext", "resnest")  # the paper's network and its Table 1 comparators
DEVICE_CHOICES = "auto (CUDA when available), cpu, cuda or cuda:N"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyper-parameters; the paper leaves all of these open (see docs/model.md)."""

    num_classes: int = 24
    stem_channels: int = 16
    stem_kernels: tuple[int, int] = (50, 15)
    stem_strides: tuple[int, int] = (4, 2)  # 500 Hz in, 62.5 Hz feature rate into the branches
    branch_kernels: tuple[int, ...] = (3, 5)
    stage_channels: tuple[int, ...] = (32, 48, 64, 96)  # one stage per entry, each halves the time axis
    blocks_per_stage: int = 1
    se_reduction: int = 8
    hidden_units: int = 128
    dropout: float = 0.5
    ecg_measurements: bool = True  # rhythm and morphology measurements beside age and sex (ecg12.features)
    record_path: bool = True  # a linear path from the record features straight to the logits (not the paper's)
    architecture: str = "msse"  # the paper's network; "resnext", "resnest": the Table 1 comparators
    # Comparators only (ecg12.comparators): the block convolutions' kernel, ResNeXt's groups, ResNeSt's splits.
    block_kernel: int = 7
    cardinality: int = 8
    radix: int = 2

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r} (choose from {', '.join(ARCHITECTURES)})")

    @property
    def num_record_features(self) -> int:
        """How many leading entries of the record feature vector the head takes."""
        from ecg12.features import NUM_DEMOGRAPHICS, NUM_MEASUREMENTS  # here: scipy is slow to import for --help

        return NUM_DEMOGRAPHICS + (NUM_MEASUREMENTS if self.ecg_measurements else 0)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> ModelConfig:
        tuples = {name: tuple(v) for name, v in values.items() if isinstance(v, list)}  # JSON turns tuples into lists
        return cls(**{**values, **tuples})  # type: ignore[arg-type]


MODEL_SIZES: dict[str, ModelConfig] = {
    # the default: the paper's design at a width that classifies > 20 recordings/s on a 2-core CPU
    "paper": ModelConfig(),
    # half the FLOPs of "paper", for quick experiments on a CPU
    "small": ModelConfig(stage_channels=(24, 32, 48, 64), hidden_units=64),
    # for tests and demos: a few thousand parameters, seconds per epoch on a CPU
    "tiny": ModelConfig(stem_channels=4, stage_channels=(8, 8), se_reduction=4, hidden_units=16, dropout=0.2),
}


# The Table 1 comparators (ecg12.comparators) at each size: widths chosen so that their parameters and FLOPs
# per 10 s window match the msse network of the same size (the table in docs/model.md).
COMPARATOR_SIZES: dict[str, dict[str, ModelConfig]] = {
    architecture: {size: replace(config, architecture=architecture) for size, config in MODEL_SIZES.items()}
    for architecture in ("resnext", "resnest")
}


def network_config(model_size: str, architecture: str = "msse") -> ModelConfig:
    """The architecture of ``architecture`` at ``model_size`` (a key of MODEL_SIZES)."""
    if model_size not in MODEL_SIZES:
        raise ValueError(f"unknown model size {model_size!r} (choose from {', '.join(MODEL_SIZES)})")
    if architecture == "msse":
        return MODEL_SIZES[model_size]
    if architecture not in COMPARATOR_SIZES:
        raise ValueError(f"unknown architecture {architecture!r} (choose from {', '.join(ARCHITECTURES)})")
    return COMPARATOR_SIZES[architecture][model_size]


def check_keep_fraction(keep_fraction: float) -> None:
    """Hard example mining keeps a fraction of each batch's samples: more than none, at most all."""
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(
            f"the hard example keep_fraction (hard_example_fraction, --hard-examples) must be in (0, 1], "
            f"not {keep_fraction}"
        )


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; the defaults are the paper's where it gives them, unless cross-validation
    said otherwise (docs/model.md lists both)."""

    model_size: str = "paper"
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    patience: int = 10  # epochs without a better validation Challenge metric before stopping
    validation_fraction: float = 0.2  # with members > 1 each member holds out 1/members instead
    members: int = 1  # fold models averaged at inference; 1: a single network (the paper's)
    seed: int = 0
    # Largest per-sample losses of a batch kept (hard example mining); the paper's 0.7 scored lower in
    # cross-validation on the sample recordings for every seed and both network sizes (docs/model.md).
    hard_example_fraction: float = 1.0
    # Class weights are 1/ln(max(N_c, floor)): classes with fewer than 30 training positives are weighted alike.
    # Every scored class of the full 2020 data has at least 188, so this only acts on small sets (docs/model.md).
    class_count_floor: float = 30.0
    noise_std: float = 0.05  # mV, Gaussian noise added to training windows
    max_shift: int = 500  # samples a window may start before/after the recording (random shift)
    min_epoch_windows: int = 320  # small training sets are passed over several times per epoch
    window_stride: int = WINDOW_SAMPLES  # between windows at validation and inference
    decision_rule: str = "auto"  # see DECISION_RULES and resolve_rule
    device: str = "auto"
    workers: int = -1  # DataLoader workers; -1: 0 on CPU, 4 on CUDA
    amp: bool = True  # mixed precision on CUDA: bfloat16 where the GPU has it, else float16 (ecg12.devices)
    deterministic: bool = False  # reproducible (slower) kernels on CUDA; the CPU is always reproducible
    cache_dir: str = ""  # signal cache root; empty: $ECG12_CACHE or ~/.cache/ecg12

    def __post_init__(self) -> None:
        if self.model_size not in MODEL_SIZES:
            raise ValueError(f"unknown model size {self.model_size!r} (choose from {', '.join(MODEL_SIZES)})")
        if self.decision_rule not in DECISION_RULES:
            raise ValueError(f"unknown decision rule {self.decision_rule!r} (choose from {', '.join(DECISION_RULES)})")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        if self.members < 1:
            raise ValueError("members must be >= 1")
        if self.patience < 1:
            raise ValueError(f"patience (--patience) must be at least 1 epoch, not {self.patience}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError(
                f"the validation fraction (--val-fraction) must be in (0, 1), not {self.validation_fraction}"
            )
        if not self.learning_rate > 0.0 or self.weight_decay < 0.0 or self.noise_std < 0.0 or self.max_shift < 0:
            raise ValueError("the learning rate must be positive; weight decay, noise and shift must not be negative")
        if self.min_epoch_windows < 1 or self.window_stride < 1 or self.workers < -1:
            raise ValueError("epoch windows and window stride must be >= 1, workers >= -1")
        check_keep_fraction(self.hard_example_fraction)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> TrainConfig:
        """The configuration saved with a model or checkpoint; a key this version does not know is an error
        (it would be a setting silently ignored), a key it lacks takes its default (a setting added since)."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown training configuration keys: {', '.join(unknown)}")
        return cls(**values)  # type: ignore[arg-type]
