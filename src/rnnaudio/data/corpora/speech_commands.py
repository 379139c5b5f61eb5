"""Google Speech Commands (v1, v2) and the embedded ``synth_commands``: one loader, one layout.

Layout (Warden 2018, arXiv:1804.03209)::

    <root>/<word>/<speaker>_nohash_<n>.wav
    <root>/validation_list.txt, <root>/testing_list.txt   (paths relative to <root>)
    <root>/_background_noise_/*.wav

The loader returns a manifest table; it reads no audio except the headers of the
background-noise files. The "12class" task follows TensorFlow's
``speech_commands/input_data.py``: the ten command words, ``_unknown_`` subsampled from the
other words and ``_silence_`` cut from the background noise, per split. Which clips and
cuts those are is fixed by ``split_seed`` (``dataset.split_seed``), a property of the corpus:
every run seed of an experiment is scored on the same test set.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from rnnaudio.config import ConfigError
from rnnaudio.config.data import NOISE_FOLDER

COMMAND_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_LABEL = "_unknown_"
SILENCE_LABEL = "_silence_"
BACKGROUND_DIR = NOISE_FOLDER
TASKS = ("12class", "all_words")
SPLITS = ("train", "validation", "test")
# The part of each background-noise file each split cuts its _silence_ clips from.
NOISE_PARTS = {"train": (0.0, 0.8), "validation": (0.8, 0.9), "test": (0.9, 1.0)}
COLUMNS = ("path", "label", "speaker", "split", "start", "frames")
LAYOUT = "<word>/<speaker>_nohash_<n>.wav plus validation_list.txt and testing_list.txt"

# From input_data.py: the hash range, so a speaker's split never changes as the corpus grows.
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1


def which_set(filename: str, validation_percentage: float, testing_percentage: float) -> str:
    """Warden's split of one file by the hash of its speaker: "training"/"validation"/"testing".

    Percentages are in 0..100. Identical to ``which_set`` in TensorFlow's
    ``examples/speech_commands/input_data.py``, so it reproduces the published list files.
    """
    base_name = Path(filename).name
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode()).hexdigest()
    percentage_hash = (int(hash_name_hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / MAX_NUM_WAVS_PER_CLASS
    )
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def load_speech_commands(
    root: Path,
    task: str = "12class",
    *,
    silence_fraction: float = 0.1,
    unknown_fraction: float = 0.1,
    clip_seconds: float = 1.0,
    split_seed: int = 0,
    build_hint: str | None = None,
) -> pd.DataFrame:
    """Manifest of a Speech Commands tree: one row per clip, columns ``COLUMNS``.

    ``start``/``frames`` are in samples at the file's own rate (``frames == -1``: whole
    file). ``silence_fraction``/``unknown_fraction`` are relative to the number of
    command-word clips in each split; ``clip_seconds`` is the length of a silence clip.
    ``split_seed`` picks the ``_unknown_`` clips and the ``_silence_`` cuts of every split;
    pass the corpus's ``dataset.split_seed``, never a run's seed, so that every run is
    trained and scored on the same clips.
    ``df.attrs["classes"]`` holds the ordered class names. ``build_hint`` is appended to
    the error raised when ``root`` is not in the layout. Raises :class:`ConfigError`.
    """
    if task not in TASKS:
        raise ConfigError(f"dataset.task={task!r} is not one of: {', '.join(TASKS)}")
    root = Path(root).expanduser().resolve()
    files = _word_files(root, build_hint)
    if task == "all_words":
        classes = sorted(files.label.unique())
    else:
        classes = [*COMMAND_WORDS, UNKNOWN_LABEL, SILENCE_LABEL]
        rng = np.random.default_rng(split_seed)
        files = _twelve_classes(root, files, rng, unknown_fraction, silence_fraction, clip_seconds)
    rank = {name: i for i, name in enumerate(classes)}
    files = files.assign(
        _split=files.split.map(SPLITS.index), _label=files.label.map(rank)
    ).sort_values(["_split", "_label", "path", "start"], kind="stable")
    manifest = files.drop(columns=["_split", "_label"]).reset_index(drop=True)
    manifest = manifest.astype({"start": "int64", "frames": "int64"})[list(COLUMNS)]
    manifest.attrs["classes"] = classes
    return manifest


def _layout_error(root: Path, problem: str, build_hint: str | None) -> ConfigError:
    hint = f"; {build_hint}" if build_hint else ""
    return ConfigError(f"{root} {problem}; expected the Speech Commands layout {LAYOUT}{hint}")


def _word_files(root: Path, build_hint: str | None) -> pd.DataFrame:
    """Every ``<word>/*.wav`` with label, speaker and split (start 0, frames -1)."""
    if not root.is_dir():
        raise _layout_error(root, "does not exist", build_hint)
    lists = [root / "validation_list.txt", root / "testing_list.txt"]
    if not all(p.is_file() for p in lists):
        raise _layout_error(root, "has no validation_list.txt/testing_list.txt", build_hint)
    words = sorted(
        d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))
    )
    relative = [f"{w}/{f.name}" for w in words for f in sorted((root / w).glob("*.wav"))]
    if not relative:
        raise _layout_error(root, "has no <word>/*.wav files", build_hint)
    split_of = {rel: "validation" for rel in _read_list(lists[0])}
    split_of.update({rel: "test" for rel in _read_list(lists[1])})
    return pd.DataFrame(
        {
            "path": [str(root / rel) for rel in relative],
            "label": [rel.split("/", 1)[0] for rel in relative],
            "speaker": [rel.split("/", 1)[1].split("_nohash_", 1)[0] for rel in relative],
            "split": [split_of.get(rel, "train") for rel in relative],
            "start": 0,
            "frames": -1,
        }
    )


def _read_list(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _twelve_classes(
    root: Path,
    files: pd.DataFrame,
    rng: np.random.Generator,
    unknown_fraction: float,
    silence_fraction: float,
    clip_seconds: float,
) -> pd.DataFrame:
    """Command words kept, other words subsampled to ``_unknown_``, ``_silence_`` rows added."""
    is_command = files.label.isin(COMMAND_WORDS)
    parts = [files[is_command]]
    for split in SPLITS:
        n_command = int((is_command & (files.split == split)).sum())
        pool = files[~is_command & (files.split == split)]
        n_unknown = min(len(pool), math.ceil(unknown_fraction * n_command))
        chosen = np.sort(rng.choice(len(pool), size=n_unknown, replace=False))
        parts.append(pool.iloc[chosen].assign(label=UNKNOWN_LABEL))
        n_silence = math.ceil(silence_fraction * n_command)
        if n_silence:
            parts.append(_silence_rows(root, split, n_silence, clip_seconds, rng))
    return pd.concat(parts, ignore_index=True)


def _silence_rows(
    root: Path, split: str, count: int, clip_seconds: float, rng: np.random.Generator
) -> pd.DataFrame:
    """``count`` clips of ``clip_seconds`` at seeded offsets in the ``split``'s own part of
    each background-noise file (:data:`NOISE_PARTS`), so no sample of a test or validation
    cut is heard in training. Each file's cuts are one CV group, as a speaker's clips are."""
    noise_dir = root / BACKGROUND_DIR
    low, high = NOISE_PARTS[split]
    parts = []
    for path in sorted(noise_dir.glob("*.wav")):
        info = sf.info(path)
        frames = round(clip_seconds * info.samplerate)
        first, last = round(low * info.frames), round(high * info.frames)
        if last - first >= frames:
            parts.append((path, first, last - frames, frames))
    if not parts:
        raise ConfigError(
            f"{noise_dir} has no .wav file whose {split} part ({low:.0%}-{high:.0%} of it) "
            f"holds a {clip_seconds} s _silence_ clip; add longer background noise or set "
            "dataset.silence_fraction=0"
        )
    rows = []
    for _ in range(count):
        path, first, last_start, frames = parts[rng.integers(len(parts))]
        start = int(rng.integers(first, last_start + 1))
        rows.append((str(path), SILENCE_LABEL, f"{SILENCE_LABEL}/{path.name}", split, start,
                     frames))
    return pd.DataFrame(rows, columns=list(COLUMNS))
