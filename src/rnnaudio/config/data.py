"""Config groups of the data stage: corpus (and its generator), features, augmentation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from omegaconf import MISSING

from rnnaudio.config.checks import ConfigError, check_choice, check_range

NOISE_FOLDER = "_background_noise_"  # as Speech Commands names it


@dataclass
class SynthConfig:
    """How the embedded ``synth_commands`` corpus is generated (see ``rnnaudio.data.synth``)."""

    speakers: int = 64
    repeats: int = 3
    noise_seconds: float = 30.0
    workers: int = 2

    def __post_init__(self) -> None:
        check_range("dataset.synth", "speakers", self.speakers, 2)
        check_range("dataset.synth", "repeats", self.repeats, 1)
        # Validation and test cut 1 s _silence_ clips from a tenth of each file: 20 s of
        # noise gives that tenth 2 s, so more than one place to cut from.
        check_range("dataset.synth", "noise_seconds", self.noise_seconds, 20.0)
        check_range("dataset.synth", "workers", self.workers, 1)


@dataclass
class JSBConfig:
    """How the JSB Chorales piano rolls are read (see ``rnnaudio.data.corpora.jsb``)."""

    steps_per_quarter: int = 1  # 1: one frame per quarter note, as in the 2012 data
    chorales: int | None = None  # the distinct chorales of music21's first N numbers (None: all)
    # Drawn with dataset.split_seed, a property of the corpus, not of a run's seed: every
    # seed of an experiment sees the same chorales in each part.
    split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])

    def __post_init__(self) -> None:
        check_range("dataset.jsb", "steps_per_quarter", self.steps_per_quarter, 1)
        if self.chorales is not None:
            check_range("dataset.jsb", "chorales", self.chorales, 5)
        if len(self.split) != 3 or min(self.split) <= 0 or abs(sum(self.split) - 1) > 1e-6:
            raise ConfigError(
                f"dataset.jsb.split={list(self.split)} is not a split; give three positive "
                "fractions (train, validation, test) summing to 1, e.g. [0.6, 0.2, 0.2]"
            )


@dataclass
class DatasetConfig:
    """A corpus on disk and the task read from it (a classification, or ``sequence``)."""

    # Corpus name -> its tasks. One loader per layout lives in rnnaudio/data/corpora/.
    TASKS: ClassVar[dict[str, tuple[str, ...]]] = {
        "synth_commands": ("12class", "all_words"),
        "speech_commands": ("12class", "all_words"),
        "esc50": ("all", "esc10"),
        "urbansound8k": ("all",),
        "fsdd": ("all",),
        "folder": ("all",),
        "jsb": ("sequence",),
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
        "jsb": "none: the chorales ship with music21 (corpus/bach); the root caches the rolls",
    }
    # What must exist under the root for the layout to be plausible (checked before any work).
    MARKERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "speech_commands": ("validation_list.txt", "testing_list.txt"),
        "esc50": ("meta/esc50.csv", "audio"),
        "urbansound8k": ("metadata/UrbanSound8K.csv", "audio"),
        "fsdd": ("recordings",),
    }
    LENGTHS: ClassVar[tuple[str, ...]] = ("fixed", "variable")
    # Corpora whose test split is only what test_folds holds out; the others' layouts fix it.
    TEST_FROM_FOLDS: ClassVar[tuple[str, ...]] = ("esc50", "urbansound8k", "folder")

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
    # speech_commands/synth_commands: seeds which _unknown_ clips and _silence_ cuts each
    # split holds; jsb: which chorales each part holds. A property of the corpus, not of a
    # run's seed, so every seed of an experiment sees the same clips.
    split_seed: int = 0
    synth: SynthConfig = field(default_factory=SynthConfig)
    jsb: JSBConfig = field(default_factory=JSBConfig)

    def __post_init__(self) -> None:
        check_choice("dataset", "name", self.name, self.CORPORA)
        if not self.root:
            raise ConfigError(f"dataset.root='' is empty; give the {self.name} corpus folder")
        check_choice("dataset", "task", self.task, self.TASKS[self.name])
        check_range("dataset", "sample_rate", self.sample_rate, 1000)
        check_choice("dataset", "length", self.length, self.LENGTHS)
        check_range("dataset", "clip_seconds", self.clip_seconds, 0.05)
        if len(set(self.test_folds)) != len(self.test_folds):
            raise ConfigError(f"dataset.test_folds={list(self.test_folds)} repeats a fold")
        check_range("dataset", "max_bad_fraction", self.max_bad_fraction, 0.0, 1.0)
        check_range("dataset", "silence_fraction", self.silence_fraction, 0.0, 1.0)
        check_range("dataset", "unknown_fraction", self.unknown_fraction, 0.0, 1.0)
        check_range("dataset", "split_seed", self.split_seed, 0)

    def check_test_split(self, needed_by: str, otherwise: str = "") -> None:
        """Refuses a run that ends in a test evaluation (``needed_by``) on a corpus that has
        no test split: esc50, urbansound8k and folder have one only when ``test_folds``
        holds predefined folds out; the other layouts fix theirs."""
        if self.name not in self.TEST_FROM_FOLDS or self.test_folds:
            return
        hold_out = {
            "esc50": "hold a predefined fold out, e.g. dataset.test_folds=[5]",
            "urbansound8k": "hold a predefined fold out, e.g. dataset.test_folds=[10]",
            "folder": "give dataset.root a .csv with a fold column and hold a fold out with "
            "dataset.test_folds",
        }[self.name]
        raise ConfigError(
            f"{needed_by} scores on the test split, and dataset={self.name} has none with "
            f"dataset.test_folds=[]; {hold_out}{otherwise}"
        )

    @property
    def is_sequence(self) -> bool:
        """Next-step prediction of sequences (the chorales) rather than classification."""
        return self.task == "sequence"

    def check_root(self) -> None:
        """Fails fast, before any work, on a corpus root that is absent or in another layout.

        The embedded corpus and the chorales are exempt: the first is generated there on
        first use, the second ships with music21 and only caches its rolls there.
        """
        root = Path(self.root)
        layout = self.LAYOUTS[self.name]
        if self.name in ("synth_commands", "jsb"):
            return
        if self.name == "folder" and root.suffix.lower() == ".csv" and root.is_file():
            return
        if not root.is_dir():
            corpus = "your labelled audio" if self.name == "folder" else f"the {self.name} corpus"
            raise ConfigError(
                f"dataset.root={self.root!r} is not a directory; give the folder {corpus} is "
                f"in ({layout})"
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
        check_choice("features", "kind", self.kind, self.KINDS)
        check_range("features", "n_mels", self.n_mels, 1)
        check_range("features", "n_mfcc", self.n_mfcc, 1, self.n_mels)
        check_range("features", "win_ms", self.win_ms, 1.0)
        check_range("features", "hop_ms", self.hop_ms, 1.0, self.win_ms)
        check_range("features", "f_min", self.f_min, 0.0)

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
        check_range("augment", "spec_time_mask", self.spec_time_mask, 0)
        check_range("augment", "spec_freq_mask", self.spec_freq_mask, 0)
        check_range("augment", "spec_masks", self.spec_masks, 1)
        if self.noise_snr_db is not None and (
            len(self.noise_snr_db) != 2 or self.noise_snr_db[0] > self.noise_snr_db[1]
        ):
            raise ConfigError(
                f"augment.noise_snr_db={list(self.noise_snr_db)} is not a range; "
                "give [low, high] in dB with low <= high, e.g. [0, 20]"
            )
        check_range("augment", "noise_prob", self.noise_prob, 0.0, 1.0)
        check_range("augment", "time_shift_ms", self.time_shift_ms, 0.0)

    def noise_folder(self, dataset: DatasetConfig) -> Path:
        """``noise_dir``, else the corpus's own (Speech Commands and the embedded one have it)."""
        return Path(self.noise_dir) if self.noise_dir else Path(dataset.root) / NOISE_FOLDER

    def check_noise_folder(self, dataset: DatasetConfig) -> None:
        """With noise on, a folder to draw it from; before any work, so the features are not
        extracted first. An embedded corpus not yet generated will have its own."""
        if self.noise_snr_db is None:
            return
        folder = self.noise_folder(dataset)
        generated_later = dataset.name == "synth_commands" and not Path(dataset.root).exists()
        if not folder.is_dir() and not (self.noise_dir is None and generated_later):
            raise ConfigError(
                f"augment.noise_snr_db={list(self.noise_snr_db)} needs noise files and {folder} "
                "is not a folder; give augment.noise_dir=<folder of .wav/.flac/.ogg noise>"
            )
