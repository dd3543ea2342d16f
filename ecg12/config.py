"""The recipe as data: signal settings, the network's architecture and the training configuration.

Nothing here imports torch or SciPy, so that the scripts' argument parsing (``--help``) is instant;
the modules that do the work read these settings.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ecg12.feature_names import NUM_DEMOGRAPHICS, NUM_MEASUREMENTS

TARGET_FREQUENCY = 500  # Hz: every recording is resampled to it
WINDOW_SAMPLES = 5000  # 10 s at 500 Hz: the network's input length

# How probabilities become labels (ecg12.thresholds.DecisionRule), under the names --decision-rule takes and a model
# folder stores: "patch-fraction" is the paper's max/5 rule applied to each patch and the union taken,
# "max-fraction" max/5 applied to the recording's probabilities (the maximum over its patches), "tuned-fraction"
# the latter with its fraction tuned on validation outputs, "per-class" thresholds tuned on them.
DECISION_RULES = ("per-class", "tuned-fraction", "max-fraction", "patch-fraction")
AUTO_RULE = "auto"  # --decision-rule auto: one of them, chosen by the validation set's size (thresholds.resolve_rule)
RULE_CHOICES = (AUTO_RULE, *DECISION_RULES)  # what TrainConfig.decision_rule may be
ARCHITECTURES = ("msse", "resnext", "resnest")  # the paper's network and its Table 1 comparators
DEVICE_CHOICES = "auto (CUDA when available), cpu, cuda or cuda:N"
# The arithmetic of a classifying network's convolutions (ecg12.precision).
PRECISIONS = ("auto", "float32", "bfloat16")
PRECISION_CHOICES = "auto: bfloat16 where the CPU has bfloat16 units (AVX512-BF16 or AMX), else float32 (GPUs too)"


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
    # At inference, average the network's probabilities with those of a logistic regression on the record features
    # fitted apart (ecg12.measurement_model; not the paper's). Off here, so that a network is what it is
    # until a training fits the regression (TrainConfig.measurement_model), and for models saved before it existed.
    measurement_model: bool = False
    # Subtract each lead's 1 s moving average from a window before the network: baseline wander removed, a light
    # filter (the paper has no denoising). Off for models saved before it existed.
    baseline_filter: bool = False
    # Each class that one measurement defines (heart rate < 60 bpm...) gets that measurement's evidence added to
    # its logit (ecg12.criteria; not the paper's). Off for models saved before it existed.
    criteria: bool = False
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


# The Table 1 comparators (ecg12.comparators) at each size: widths chosen so that their parameters and FLOPs per
# 10 s window match the msse network of the same size (within 6%; tests/test_comparators.py holds them to 25%).
# Each is msse's config of that size with the backbone fields replaced, so the head settings (hidden_units,
# dropout, ecg_measurements, record_path) are msse's and the networks differ in their backbones only. The head
# takes 2 * C_last pooled features instead of msse's 2 * 2 * 96 * 12 = 4608 (paper), so it is 7% of a comparator's
# parameters at "paper" and "small" and 15% at "tiny" (msse's: 70%, 60%, 73%).
# Matching both counts shapes these networks. msse keeps the 12 leads as separate rows, so it does 650 (paper) to
# 2000 (tiny) FLOPs per parameter; a Conv1d network that mixes the leads does 2 * L per weight at feature length
# L: 2500 in the first stem convolution, 1250 in the second, 626 in the first stage, half that in each next one.
# At msse's parameter count it reaches msse's FLOPs only with a wide stem: the two stem convolutions do 72-74% of
# the FLOPs at "paper" (30% of the parameters), 92% at "small" and 99% at "tiny", the bottleneck stages the rest.
# Both comparators share the stem and stage layout at each size. ResNeXt: 16 (paper), 8 (small), 2 (tiny) groups
# in the middle convolution (6 or 7 channels a group at "paper", 4 to 10 at "small"). ResNeSt: radix 2, one
# cardinal group and the attention reduction 4, as ResNeSt-50 (2s1x64d). se_reduction is unused by ResNeXt.
_COMPARATOR_LAYOUTS: dict[str, dict[str, object]] = {  # the stem and stages both comparators have at each size
    "paper": {"stem_channels": 112, "stage_channels": (192, 192, 224, 224), "blocks_per_stage": 2, "block_kernel": 9},
    "small": {"stem_channels": 96, "stage_channels": (64, 96, 128, 160), "blocks_per_stage": 1, "block_kernel": 9},
    "tiny": {"stem_channels": 11, "stage_channels": (8, 8), "blocks_per_stage": 1, "block_kernel": 7},
}
_RESNEXT_GROUPS = {"paper": 16, "small": 8, "tiny": 2}
COMPARATOR_SIZES: dict[str, dict[str, ModelConfig]] = {
    "resnext": {
        size: replace(MODEL_SIZES[size], architecture="resnext", cardinality=_RESNEXT_GROUPS[size], **layout)  # type: ignore[arg-type]
        for size, layout in _COMPARATOR_LAYOUTS.items()
    },
    "resnest": {
        size: replace(MODEL_SIZES[size], architecture="resnest", cardinality=1, radix=2, se_reduction=4, **layout)  # type: ignore[arg-type]
        for size, layout in _COMPARATOR_LAYOUTS.items()
    },
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


def check_class_count_floor(floor: float) -> None:
    """Class weights are 1/ln(max(N_c, floor)): a floor under 2 lets ln be 0 (one positive) or undefined (none)."""
    if not floor >= 2.0:
        raise ValueError(f"the class count floor (--class-count-floor) must be at least 2 (ln 1 = 0), not {floor}")


def check_metric_loss(weight: float) -> None:
    """The soft Challenge metric's weight in the loss: none (0) or some, never a reward for a worse metric."""
    if weight < 0.0:
        raise ValueError(f"the metric loss weight (--metric-loss) must not be negative, not {weight}")


# The command-line option of each TrainConfig field (ecg12.cli adds them by these names), so that a message about a
# setting names what was typed.
OPTIONS: dict[str, str] = {
    "recipe": "--recipe",
    "model_size": "--model-size",
    "architecture": "--architecture",
    "ecg_measurements": "--ecg-measurements",
    "record_path": "--record-path",
    "measurement_model": "--measurement-model",
    "baseline_filter": "--baseline-filter",
    "criteria": "--criteria",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "learning_rate": "--lr",
    "weight_decay": "--weight-decay",
    "warmup_epochs": "--warmup-epochs",
    "patience": "--patience",
    "validation_fraction": "--val-fraction",
    "members": "--members",
    "seed": "--seed",
    "hard_example_fraction": "--hard-examples",
    "mask_unlabelled_classes": "--mask-unlabelled-classes",
    "metric_loss": "--metric-loss",
    "class_count_floor": "--class-count-floor",
    "noise_std": "--noise",
    "gain_std": "--gain",
    "lead_gain_std": "--lead-gain",
    "baseline_wander": "--baseline-wander",
    "mains_noise": "--mains-noise",
    "max_shift": "--max-shift",
    "min_epoch_windows": "--epoch-windows",
    "window_stride": "--window-stride",
    "decision_rule": "--decision-rule",
    "device": "--device",
    "workers": "--workers",
    "amp": "--amp",
    "deterministic": "--deterministic",
    "cache_dir": "--cache-dir",
}
MAX_SEED = 2**32 - 1  # the seeds of every generator a run draws from (torch, NumPy, seed * 100003 + epoch) fit

# TrainConfig fields that say where and how a run goes, not what it trains: not part of a recipe (departures), and
# free to change when a run is resumed (ecg12.checkpoints.check_same_run).
WHERE_TO_RUN = ("device", "workers", "deterministic", "cache_dir")

# Training recipes: what --recipe sets before the options given explicitly. "default" is this project's (the
# dataclass defaults below); "paper" is the paper's method and nothing else: age and sex as the only record
# features, no linear path from them, w_c = 1/ln N_c floored only where ln would be 0 or undefined, the mean of
# the largest 70% of each batch's losses and nothing beside it, and each patch decided on its own (docs/model.md,
# "Two recipes").
RECIPES: dict[str, dict[str, object]] = {
    "default": {},
    "paper": {
        "ecg_measurements": False,
        "record_path": False,
        "class_count_floor": 2.0,
        "hard_example_fraction": 0.7,
        "metric_loss": 0.0,
        "measurement_model": False,
        "baseline_filter": False,
        "criteria": False,
        "decision_rule": "patch-fraction",
    },
}


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; the defaults are the paper's where it gives them, unless cross-validation
    said otherwise (docs/model.md lists both). :meth:`for_recipe` gives the paper's exactly."""

    recipe: str = "default"  # the recipe the other values started from (RECIPES); a record, it sets nothing
    model_size: str = "paper"
    architecture: str = "msse"  # the paper's network; "resnext", "resnest": its Table 1 comparators
    ecg_measurements: bool = True  # the 19 ECG measurements beside age and sex (ecg12.features); paper: False
    record_path: bool = True  # a linear path from the record features to the logits; paper: False
    # A logistic regression on the record features averaged with the network at inference; paper: False. On the
    # sample recordings it raised leaving one source out on every seed and kept random 5-fold level
    # (docs/performance.md, "Quality on databases not trained on").
    measurement_model: bool = True
    # The light filter before the network (ModelConfig.baseline_filter); paper: False. On the sample recordings it
    # raised leaving one source out on every seed but not random 5-fold, so it is an option (docs/performance.md,
    # "Quality on databases not trained on").
    baseline_filter: bool = False
    # The textbook criteria's evidence in the logits of the classes they define (ModelConfig.criteria); paper:
    # False. The measurement alone ranks some of these classes better than 261 recordings teach a network to
    # (docs/model.md, "Criteria").
    criteria: bool = True
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
    # Leave out of the loss, and of the measurement model's fit, the classes a recording's 2020 database was not
    # annotated with (the official class table's counts, ecg12.split.unlabelled_classes): the databases were
    # labelled with different sets of diagnoses.
    mask_unlabelled_classes: bool = False
    # Weight of (1 - the batch's soft Challenge metric) beside the weighted BCE (ecg12.loss.TrainingLoss); 0: off.
    # 0.5 raised the pooled out-of-fold metric on the sample recordings, with random folds for every seed and
    # leaving one source out on average (docs/performance.md, "Quality on databases not trained on").
    metric_loss: float = 0.5
    # Class weights are 1/ln(max(N_c, floor)): classes with fewer than 30 training positives are weighted alike.
    # Every scored class of the full 2020 data has at least 188, so this only acts on small sets (docs/model.md).
    class_count_floor: float = 30.0
    noise_std: float = 0.05  # mV, Gaussian noise added to training windows
    # Perturbations that tell databases apart (ecg12.augment), off at 0: log-normal gain of the window and of
    # each lead, baseline wander (mV) and mains interference (mV).
    gain_std: float = 0.0
    lead_gain_std: float = 0.0
    baseline_wander: float = 0.0
    mains_noise: float = 0.0
    max_shift: int = 500  # samples a window may start before/after the recording (random shift)
    min_epoch_windows: int = 320  # small training sets are passed over several times per epoch
    window_stride: int = WINDOW_SAMPLES  # between windows at validation and inference
    decision_rule: str = AUTO_RULE  # see RULE_CHOICES
    device: str = "auto"
    workers: int = -1  # DataLoader workers; -1: 0 on CPU, 4 on CUDA
    amp: bool = True  # mixed precision on CUDA: bfloat16 where the GPU has it, else float16 (ecg12.devices)
    deterministic: bool = False  # reproducible (slower) kernels on CUDA; the CPU is always reproducible
    cache_dir: str = ""  # signal cache root; empty: $ECG12_CACHE or ~/.cache/ecg12

    def __post_init__(self) -> None:
        for field in fields(self):  # every number of the recipe is finite: NaN passes every comparison below
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{OPTIONS[field.name]} must be a finite number, not {value}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed must be a whole number from 0 to {MAX_SEED}, not {self.seed}")
        if self.warmup_epochs < 0.0:
            raise ValueError(f"--warmup-epochs must not be negative, not {self.warmup_epochs}")
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown recipe {self.recipe!r} (choose from {', '.join(RECIPES)})")
        self.model_config()  # an unknown model size or architecture is refused here, with its choices
        if self.decision_rule not in RULE_CHOICES:
            raise ValueError(f"unknown decision rule {self.decision_rule!r} (choose from {', '.join(RULE_CHOICES)})")
        if self.measurement_model and self.decision_rule == "patch-fraction":
            raise ValueError(
                "the patch-fraction rule decides each 10 s patch on the network's outputs, and the measurement model "
                "describes the whole recording: add --no-measurement-model, or choose another --decision-rule"
            )
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
        augmentation = (self.noise_std, self.gain_std, self.lead_gain_std, self.baseline_wander, self.mains_noise)
        if not self.learning_rate > 0.0 or self.weight_decay < 0.0 or min(augmentation) < 0.0 or self.max_shift < 0:
            raise ValueError(
                "the learning rate must be positive; weight decay, shift, noise, gains, wander and mains must not be "
                "negative"
            )
        if self.min_epoch_windows < 1 or self.window_stride < 1 or self.workers < -1:
            raise ValueError("epoch windows and window stride must be >= 1, workers >= -1")
        check_keep_fraction(self.hard_example_fraction)
        check_metric_loss(self.metric_loss)
        check_class_count_floor(self.class_count_floor)

    @classmethod
    def for_recipe(cls, recipe: str, **options: object) -> TrainConfig:
        """The recipe ``recipe`` of RECIPES, with ``options`` (field values) replacing its values."""
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r} (choose from {', '.join(RECIPES)})")
        return cls(**{**RECIPES[recipe], **options, "recipe": recipe})  # type: ignore[arg-type]

    def departures(self) -> dict[str, object]:
        """The values that differ from the recipe's own (options given on top of it), by field name; where to run
        (WHERE_TO_RUN: device, loader workers, reproducible kernels, cache folder) is not part of a recipe and not
        listed."""
        recipe = TrainConfig.for_recipe(self.recipe)
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in WHERE_TO_RUN and getattr(self, f.name) != getattr(recipe, f.name)
        }

    def model_config(self) -> ModelConfig:
        """The network this recipe trains: its size and architecture, with its record features and path."""
        return replace(
            network_config(self.model_size, self.architecture),
            ecg_measurements=self.ecg_measurements,
            record_path=self.record_path,
            measurement_model=self.measurement_model,
            baseline_filter=self.baseline_filter,
            criteria=self.criteria,
        )

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> TrainConfig:
        """The configuration saved with a model or checkpoint; a key this version does not know is an error
        (it would be a setting silently ignored), a key it lacks is a setting added since: it takes the value
        that reproduces what the version that wrote it did (SETTINGS_ADDED_SINCE), else its default."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown training configuration keys: {', '.join(unknown)}")
        return cls(**{**SETTINGS_ADDED_SINCE, **values})  # type: ignore[arg-type]


# Settings whose default is not what versions before them did: a configuration saved without the key (a checkpoint
# of ecg12 1.0, resumed) keeps that behaviour. Settings added with a default that changes nothing are not listed.
SETTINGS_ADDED_SINCE: dict[str, object] = {"metric_loss": 0.0, "measurement_model": False, "criteria": False}
