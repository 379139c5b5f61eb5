"""Structured configs: one dataclass per Hydra group, the single source of defaults.

YAML under ``conf/`` only selects and overrides; types come from these dataclasses
(OmegaConf rejects ``model.hidden_size=abc``) and value checks from ``__post_init__``
(which runs when :func:`to_config` turns the composed tree into objects). Every
message names the field, the value given and what would be valid, in one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf


class ConfigError(ValueError):
    """A configuration value that cannot run; the message is one line for the user."""


def _check_choice(group: str, name: str, value: Any, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"{group}.{name}={value!r} is not one of: {', '.join(choices)}")


def _check_range(
    group: str, name: str, value: float, low: float | None = None, high: float | None = None
) -> None:
    limits = [f">= {low}" if low is not None else "", f"<= {high}" if high is not None else ""]
    if (low is not None and value < low) or (high is not None and value > high):
        valid = " and ".join(limit for limit in limits if limit)
        raise ConfigError(f"{group}.{name}={value!r} is out of range; valid values are {valid}")


@dataclass
class SynthConfig:
    """How the embedded ``synth_commands`` corpus is generated (see ``rnnaudio.data.synth``)."""

    speakers: int = 64
    repeats: int = 3
    noise_seconds: float = 30.0
    workers: int = 2

    def __post_init__(self) -> None:
        _check_range("dataset.synth", "speakers", self.speakers, 2)
        _check_range("dataset.synth", "repeats", self.repeats, 1)
        _check_range("dataset.synth", "noise_seconds", self.noise_seconds, 1.0)
        _check_range("dataset.synth", "workers", self.workers, 1)


@dataclass
class DatasetConfig:
    """A corpus on disk and the classification task read from it."""

    # Corpus name -> its tasks. One loader per layout lives in rnnaudio/data/corpora/.
    TASKS: ClassVar[dict[str, tuple[str, ...]]] = {
        "synth_commands": ("12class", "all_words"),
        "speech_commands": ("12class", "all_words"),
        "esc50": ("all", "esc10"),
        "urbansound8k": ("all",),
        "fsdd": ("all",),
        "folder": ("all",),
    }
    CORPORA: ClassVar[tuple[str, ...]] = tuple(TASKS)
    _SPEECH_COMMANDS: ClassVar[str] = (
        "<word>/<speaker>_nohash_<n>.wav plus validation_list.txt and testing_list.txt"
    )
    LAYOUTS: ClassVar[dict[str, str]] = {
        "synth_commands": _SPEECH_COMMANDS,
        "speech_commands": _SPEECH_COMMANDS,
        "esc50": "meta/esc50.csv (filename, fold, target, category) and audio/<filename>",
        "urbansound8k": "metadata/UrbanSound8K.csv (slice_file_name, fsID, fold, classID, "
        "class) and audio/fold<fold>/<slice_file_name>",
        "fsdd": "recordings/<digit>_<speaker>_<index>.wav",
        "folder": "<root>/<label>/*.wav|flac|ogg, or a .csv file with columns "
        "path,label[,group][,fold] (paths relative to the csv)",
    }
    # What must exist under the root for the layout to be plausible (checked before any work).
    MARKERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "speech_commands": ("validation_list.txt", "testing_list.txt"),
        "esc50": ("meta/esc50.csv", "audio"),
        "urbansound8k": ("metadata/UrbanSound8K.csv", "audio"),
        "fsdd": ("recordings",),
    }
    LENGTHS: ClassVar[tuple[str, ...]] = ("fixed", "variable")

    name: str = "synth_commands"
    root: str = MISSING  # each corpus YAML sets it; real corpora need the user to
    task: str = "12class"
    sample_rate: int = 16000  # Hz; every clip is resampled to it before features
    # fixed: pad/trim every clip to clip_seconds. variable: trim to clip_seconds, keep each
    # clip's own length and hand it to the model so padding never reaches a prediction.
    length: str = "fixed"
    clip_seconds: float = 1.0
    # Predefined folds held out as the test part (never cross-validated), e.g. [5].
    test_folds: list[int] = field(default_factory=list)
    # Bad files (undecodable, empty, NaN, ...) are skipped; more than this fraction stops.
    max_bad_fraction: float = 0.01
    silence_fraction: float = 0.1
    unknown_fraction: float = 0.1
    synth: SynthConfig = field(default_factory=SynthConfig)

    def __post_init__(self) -> None:
        _check_choice("dataset", "name", self.name, self.CORPORA)
        if not self.root:
            raise ConfigError(f"dataset.root='' is empty; give the {self.name} corpus folder")
        _check_choice("dataset", "task", self.task, self.TASKS[self.name])
        _check_range("dataset", "sample_rate", self.sample_rate, 1000)
        _check_choice("dataset", "length", self.length, self.LENGTHS)
        _check_range("dataset", "clip_seconds", self.clip_seconds, 0.05)
        if len(set(self.test_folds)) != len(self.test_folds):
            raise ConfigError(f"dataset.test_folds={list(self.test_folds)} repeats a fold")
        _check_range("dataset", "max_bad_fraction", self.max_bad_fraction, 0.0, 1.0)
        _check_range("dataset", "silence_fraction", self.silence_fraction, 0.0, 1.0)
        _check_range("dataset", "unknown_fraction", self.unknown_fraction, 0.0, 1.0)

    def check_root(self) -> None:
        """Fails fast, before any work, on a corpus root that is absent or in another layout.

        The embedded corpus is exempt: it is generated there on first use.
        """
        root = Path(self.root)
        layout = self.LAYOUTS[self.name]
        if self.name == "synth_commands":
            return
        if self.name == "folder" and root.suffix.lower() == ".csv" and root.is_file():
            return
        if not root.is_dir():
            raise ConfigError(
                f"dataset.root={self.root!r} is not a directory; give the unpacked {self.name} "
                f"folder ({layout})"
            )
        absent = [m for m in self.MARKERS.get(self.name, ()) if not (root / m).exists()]
        if absent:
            raise ConfigError(
                f"dataset.root={self.root!r} is not in the {self.name} layout (no {absent[0]}); "
                f"expected {layout}"
            )


@dataclass
class FeatureConfig:
    """Frame-level features computed by torchaudio transforms, shape ``(time, n_features)``."""

    KINDS: ClassVar[tuple[str, ...]] = ("mfcc", "logmel")

    kind: str = "mfcc"
    n_mfcc: int = 40
    n_mels: int = 40
    win_ms: float = 30.0
    hop_ms: float = 10.0
    f_min: float = 20.0
    f_max: float | None = None
    cache_dir: str = "data/cache"

    def __post_init__(self) -> None:
        _check_choice("features", "kind", self.kind, self.KINDS)
        _check_range("features", "n_mels", self.n_mels, 1)
        _check_range("features", "n_mfcc", self.n_mfcc, 1, self.n_mels)
        _check_range("features", "win_ms", self.win_ms, 1.0)
        _check_range("features", "hop_ms", self.hop_ms, 1.0, self.win_ms)
        _check_range("features", "f_min", self.f_min, 0.0)

    @property
    def n_features(self) -> int:
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels


@dataclass
class AugmentConfig:
    """Augmentation of training-fold batches (never validation or test); all off by default.

    Each transform is switched on by one override (see ``rnnaudio.data.augment``).
    """

    spec_time_mask: int = 0  # widest SpecAugment time mask, in frames; 0 = off
    spec_freq_mask: int = 0  # widest SpecAugment frequency mask, in features; 0 = off
    spec_masks: int = 2  # masks of each kind per clip
    noise_snr_db: list[float] | None = None  # [low, high] dB, drawn per clip; None = off
    noise_prob: float = 0.8  # chance a clip gets noise when noise is on
    noise_dir: str | None = None  # noise files; default: the corpus's _background_noise_
    time_shift_ms: float = 0.0  # largest shift either way, in ms; 0 = off

    def __post_init__(self) -> None:
        _check_range("augment", "spec_time_mask", self.spec_time_mask, 0)
        _check_range("augment", "spec_freq_mask", self.spec_freq_mask, 0)
        _check_range("augment", "spec_masks", self.spec_masks, 1)
        if self.noise_snr_db is not None and (
            len(self.noise_snr_db) != 2 or self.noise_snr_db[0] > self.noise_snr_db[1]
        ):
            raise ConfigError(
                f"augment.noise_snr_db={list(self.noise_snr_db)} is not a range; "
                "give [low, high] in dB with low <= high, e.g. [0, 20]"
            )
        _check_range("augment", "noise_prob", self.noise_prob, 0.0, 1.0)
        _check_range("augment", "time_shift_ms", self.time_shift_ms, 0.0)


@dataclass
class ConvFrontendConfig:
    """2-D convolutions over (time, frequency) before the recurrent layers (``frontend=conv``).

    One layer per entry of ``channels``; each strides by ``freq_stride`` in frequency only, so
    the number of frames (and every padding mask) is unchanged.
    """

    channels: list[int] = field(default_factory=lambda: [16, 16])
    kernel_size: int = 3
    freq_stride: int = 2

    def __post_init__(self) -> None:
        if not self.channels:
            raise ConfigError("model.conv.channels=[] is empty; give one channel count per layer")
        for channels in self.channels:
            _check_range("model.conv", "channels", channels, 1)
        _check_range("model.conv", "kernel_size", self.kernel_size, 1)
        if self.kernel_size % 2 == 0:
            raise ConfigError(
                f"model.conv.kernel_size={self.kernel_size!r} is even; "
                "only an odd size keeps every frame"
            )
        _check_range("model.conv", "freq_stride", self.freq_stride, 1)


@dataclass
class ModelConfig:
    """(Conv front end), recurrent encoder, (attention), pooling over time, linear head.

    ``hidden_size`` is a positive int, or ``"auto"``: the size whose whole model comes closest
    to ``param_budget`` parameters. ``attention``: ``none`` reads the states by ``pooling``;
    ``additive`` and ``dot`` are attention pooling and replace it; ``mhsa`` is a self-attention
    block over the states, followed by ``pooling``. ``attention_query`` picks the state that
    ``dot`` projects into its query; ``attention_heads`` applies to ``mhsa``.
    """

    CELLS: ClassVar[tuple[str, ...]] = ("rnn", "lstm", "gru")
    POOLINGS: ClassVar[tuple[str, ...]] = ("last", "mean")
    ATTENTIONS: ClassVar[tuple[str, ...]] = ("none", "additive", "dot", "mhsa")
    QUERIES: ClassVar[tuple[str, ...]] = ("last", "middle")
    FRONTENDS: ClassVar[tuple[str, ...]] = ("none", "conv")

    cell: str = "lstm"
    hidden_size: Any = 128  # int or "auto"; OmegaConf cannot type a union
    param_budget: int | None = None
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.1
    pooling: str = "last"
    attention: str = "none"
    attention_query: str = "last"
    attention_heads: int = 4
    frontend: str = "none"
    conv: ConvFrontendConfig = field(default_factory=ConvFrontendConfig)

    def __post_init__(self) -> None:
        _check_choice("model", "cell", self.cell, self.CELLS)
        self._check_hidden_size()
        _check_range("model", "num_layers", self.num_layers, 1)
        _check_range("model", "dropout", self.dropout, 0.0, 0.95)
        _check_choice("model", "pooling", self.pooling, self.POOLINGS)
        _check_choice("model", "attention", self.attention, self.ATTENTIONS)
        _check_choice("model", "attention_query", self.attention_query, self.QUERIES)
        _check_range("model", "attention_heads", self.attention_heads, 1)
        _check_choice("model", "frontend", self.frontend, self.FRONTENDS)
        if self.attention == "mhsa" and self.hidden_size != "auto":
            size = self.hidden_size * (2 if self.bidirectional else 1)
            if size % self.attention_heads:
                raise ConfigError(
                    f"model.attention_heads={self.attention_heads} does not divide the encoder "
                    f"output size {size}; choose a hidden_size that it divides"
                )

    def _check_hidden_size(self) -> None:
        if self.hidden_size == "auto":
            if self.param_budget is None:
                raise ConfigError("model.param_budget is required when model.hidden_size=auto")
            _check_range("model", "param_budget", self.param_budget, 1)
            return
        if isinstance(self.hidden_size, bool) or not isinstance(self.hidden_size, int):
            raise ConfigError(
                f"model.hidden_size={self.hidden_size!r} is not a positive integer or 'auto'"
            )
        _check_range("model", "hidden_size", self.hidden_size, 1)
        if self.param_budget is not None:
            raise ConfigError(
                f"model.param_budget={self.param_budget} needs model.hidden_size=auto "
                f"(got model.hidden_size={self.hidden_size})"
            )


@dataclass
class DiagnosticsConfig:
    """Measurements of a fit beyond its loss: gradient flow over time, attention weights.

    ``grad_flow`` measures ||dLoss/dx_t|| per frame on ``batch_size`` fixed validation clips
    after each count of completed training epochs in ``epochs``: 0 is the untrained model,
    -1 the end of the fit (early-stopped or not). ``attention_clips`` validation clips get
    their attention weights plotted when the model has attention (0 turns that off).
    """

    grad_flow: bool = False
    epochs: list[int] = field(default_factory=lambda: [0, -1])
    batch_size: int = 16
    attention_clips: int = 4

    def __post_init__(self) -> None:
        for epoch in self.epochs:
            _check_range("diagnostics", "epochs", epoch, -1)
        _check_range("diagnostics", "batch_size", self.batch_size, 1)
        _check_range("diagnostics", "attention_clips", self.attention_clips, 0)


@dataclass
class TrainerConfig:
    """Optimisation and the Lightning ``Trainer``: where, how long, how precisely."""

    ACCELERATORS: ClassVar[tuple[str, ...]] = ("cpu", "gpu", "auto")
    PRECISIONS: ClassVar[tuple[str, ...]] = ("32-true", "bf16-mixed", "16-mixed")

    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"
    max_epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    gradient_clip_val: float = 1.0
    early_stopping_patience: int = 5
    progress: bool = True

    def __post_init__(self) -> None:
        _check_choice("trainer", "accelerator", self.accelerator, self.ACCELERATORS)
        _check_choice("trainer", "precision", self.precision, self.PRECISIONS)
        _check_range("trainer", "devices", self.devices, 1)
        _check_range("trainer", "max_epochs", self.max_epochs, 1)
        _check_range("trainer", "batch_size", self.batch_size, 1)
        _check_range("trainer", "lr", self.lr, 0.0)
        _check_range("trainer", "weight_decay", self.weight_decay, 0.0)
        _check_range("trainer", "gradient_clip_val", self.gradient_clip_val, 0.0)
        _check_range("trainer", "early_stopping_patience", self.early_stopping_patience, 1)


@dataclass
class CVConfig:
    """k-fold cross-validation over train+validation, stratified by label, disjoint by speaker."""

    folds: int = 5

    def __post_init__(self) -> None:
        _check_range("cv", "folds", self.folds, 2)


@dataclass
class TrackingConfig:
    """Where runs are recorded. ``uri`` is any MLflow tracking URI (SQLite file or server)."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "rnnaudio"
    artifact_root: str = "mlartifacts"
    run_name: str | None = None

    def __post_init__(self) -> None:
        if not self.experiment:
            raise ConfigError("tracking.experiment='' is empty; give an experiment name")


@dataclass
class SearchParam:
    """One dimension of a sweep's search space over a config key.

    ``categorical`` draws from ``choices``; ``int`` and ``float`` draw from
    ``[low, high]``, on a log scale when ``log`` is set, in steps of ``step`` when given.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("categorical", "int", "float")

    type: str = "categorical"
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def check(self, key: str) -> None:
        """Raises a one-line :class:`ConfigError` naming ``sweep.space.<key>``."""
        field_name = f"sweep.space.{key}"
        _check_choice(field_name, "type", self.type, self.KINDS)
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError(f"{field_name}.choices is empty; list the values to try")
            return
        if self.low is None or self.high is None or self.low >= self.high:
            raise ConfigError(
                f"{field_name}: low={self.low!r}, high={self.high!r}; a {self.type} "
                "dimension needs numbers with low < high"
            )
        if self.log and self.low <= 0:
            raise ConfigError(f"{field_name}.low={self.low!r}: a log scale needs low > 0")


@dataclass
class SweepConfig:
    """An Optuna study over config keys, minimising the mean cross-validated loss.

    Specs live in ``sweeps/<name>.yaml`` and are selected with ``sweep=<name>``.
    ``overrides`` apply to every trial (the user's command-line overrides win over them,
    and the trial's own choices over both).
    """

    SAMPLERS: ClassVar[tuple[str, ...]] = ("tpe", "random", "grid")
    PRUNERS: ClassVar[tuple[str, ...]] = ("median", "hyperband", "successive_halving", "none")

    study_name: str = "sweep"
    n_trials: int | None = 12
    timeout: float | None = None
    storage: str = "sqlite:///optuna.db"
    workers: int = 1
    sampler: str = "tpe"
    seed: int = 0
    pruner: str = "median"
    pruner_warmup_folds: int = 0  # folds a trial runs before the pruner may stop it
    pruner_startup_trials: int = 3
    max_retry: int = 2
    heartbeat_interval: int = 10
    grace_period: int = 30
    refit: bool = True
    overrides: list[str] = field(default_factory=list)
    space: dict[str, SearchParam] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_choice("sweep", "sampler", self.sampler, self.SAMPLERS)
        _check_choice("sweep", "pruner", self.pruner, self.PRUNERS)
        if self.n_trials is None and self.timeout is None:
            raise ConfigError("sweep.n_trials=null and sweep.timeout=null; give at least one")
        if self.n_trials is not None:
            _check_range("sweep", "n_trials", self.n_trials, 1)
        _check_range("sweep", "workers", self.workers, 1)
        _check_range("sweep", "heartbeat_interval", self.heartbeat_interval, 1)
        _check_range("sweep", "grace_period", self.grace_period, self.heartbeat_interval + 1)
        if not self.space:
            raise ConfigError("sweep.space is empty; name at least one config key to search")
        for key, param in self.space.items():
            param.check(key)


@dataclass
class PaperRef:
    """Where a table's published numbers come from."""

    authors: str = ""
    year: int | None = None
    title: str = ""
    arxiv: str | None = None
    table: str = ""


@dataclass
class ExperimentRow:
    """One row of a table: its overrides and, when published, the paper's number for it.

    ``sweep`` names a spec in ``sweeps/`` whose best trial (run on this row's config)
    supplies the row's remaining choices, e.g. the hidden units of each cell.
    """

    name: str = MISSING
    overrides: list[str] = field(default_factory=list)
    sweep: str | None = None
    published: float | None = None
    source: str = ""


@dataclass
class ExperimentConfig:
    """A paper table (or a study of our own) as data: rows x seeds, each a tracked run.

    Every row runs the k-fold CV of ``rnnaudio train`` on train+validation, then refits on
    all of it and is scored once on the test split; ``metric`` is the number the table
    compares (``test_acc``, ``test_loss``, ``cv_val_loss_mean``, ...).
    """

    METRICS: ClassVar[tuple[str, ...]] = (
        "test_acc", "test_loss", "test_f1", "cv_val_acc_mean", "cv_val_loss_mean",
    )

    name: str = MISSING
    description: str = ""
    paper: PaperRef | None = None
    comparable: bool = True  # False: a smoke run, not the paper's corpus or budget
    metric: str = "test_acc"
    overrides: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    rows: list[ExperimentRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check_choice("experiment", "metric", self.metric, self.METRICS)
        if not self.rows:
            raise ConfigError(f"experiment.rows is empty in experiment {self.name!r}")
        if not self.seeds:
            raise ConfigError("experiment.seeds=[] is empty; give at least one seed")
        names = [row.name for row in self.rows]
        if len(set(names)) != len(names):
            raise ConfigError(f"experiment.rows repeat a name: {names}")


@dataclass
class ReportConfig:
    """``rnnaudio report``: which runs, grouped by which keys, compared on which metric."""

    group_by: list[str] = field(default_factory=lambda: ["model.cell", "model.hidden_size"])
    metric: str = "cv_val_loss_mean"
    out_dir: str = "reports"


@dataclass
class Config:
    """The whole composed configuration of one ``rnnaudio`` job."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    cv: CVConfig = field(default_factory=CVConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepConfig | None = None  # set only by `rnnaudio sweep sweep=<name>`
    experiment: ExperimentConfig | None = None  # set only by `rnnaudio run experiment=<name>`
    report: ReportConfig | None = None  # set only by `rnnaudio report`
    seed: int = 0


def register_configs() -> None:
    """Register the schema so ``conf/config.yaml`` can name it in its defaults list."""
    ConfigStore.instance().store(name="base_config", node=Config)


def to_config(cfg: DictConfig) -> Config:
    """Turn a composed tree into validated dataclasses; raises :class:`ConfigError`."""
    tree = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    missing = sorted(OmegaConf.missing_keys(tree))
    if missing:
        # to_object would silently fall back to the dataclass default for a '???' field.
        raise ConfigError(f"{missing[0]} is required; give {missing[0]}=<value>")
    config = OmegaConf.to_object(tree)
    assert isinstance(config, Config)
    return config
