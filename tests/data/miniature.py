"""Miniatures of public corpora in their exact published layouts, from generated audio.

Each class is a tone of its own pitch with a little noise, so a model can learn something
in one epoch; each builder can plant one bad file of every kind next to the good ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

# One bad file per reason the data report counts (``missing`` only where a list names files).
PLANTED = ("corrupt", "truncated", "empty", "not_audio", "non_finite", "too_short")


def tone(label: int, rate: int, seconds: float, seed: int, channels: int = 1) -> np.ndarray:
    """``seconds`` of a tone at a pitch set by ``label``, plus seeded noise; float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(rate * seconds)) / rate
    wave = 0.4 * np.sin(2 * np.pi * (220 * 1.5 ** (label % 8)) * t)
    wave = (wave + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    return np.stack([wave, 0.5 * wave], axis=1) if channels == 2 else wave


def write_tone(path: Path, label: int, rate: int, seconds: float, seed: int, **kwargs) -> Path:
    channels = kwargs.pop("channels", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(label, rate, seconds, seed, channels), rate, **kwargs)
    return path


def plant(path: Path, reason: str, rate: int = 16000) -> Path:
    """Write a file at ``path`` that the data report must count under ``reason``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    whole = tone(0, rate, 0.5, seed=99)
    if reason in ("corrupt", "truncated"):
        sf.write(path, whole, rate, subtype="PCM_16")
        data = path.read_bytes()
        # Corrupt: the header cut before its data chunk. Truncated: the data cut in half.
        path.write_bytes(data[:30] if reason == "corrupt" else data[: len(data) // 2])
    elif reason == "empty":
        path.write_bytes(b"")
    elif reason == "not_audio":
        path.write_text("this is a text file with an audio extension\n" * 20)
    elif reason == "non_finite":
        whole[100], whole[200] = np.nan, np.inf
        sf.write(path, whole, rate, subtype="FLOAT")
    elif reason == "too_short":
        sf.write(path, whole[: rate // 100], rate)  # 10 ms: less than one 30 ms window
    else:
        raise ValueError(reason)
    return path


# --- ESC-50 ------------------------------------------------------------------------------

ESC50_HEADER = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
ESC50_CLASSES = {0: "dog", 1: "rooster", 10: "rain", 41: "chainsaw"}  # real targets
ESC50_IN_ESC10 = {"dog", "rooster", "rain", "chainsaw"}


def build_esc50(root: Path, per_fold: int = 1, bad: bool = True) -> dict[str, list[str]]:
    """``meta/esc50.csv`` + ``audio/``: 5 folds x 4 classes x ``per_fold`` 5-s 44.1 kHz clips.

    Returns the planted bad files by reason (all listed in the CSV; one is missing).
    """
    rows, planted = [], {}
    source = 100000
    for fold in range(1, 6):
        for target, category in ESC50_CLASSES.items():
            for take in "ABC"[:per_fold]:
                source += 1
                name = f"{fold}-{source}-{take}-{target}.wav"
                write_tone(root / "audio" / name, target, 44100, 5.0, seed=source)
                rows.append((name, fold, target, category, category in ESC50_IN_ESC10, source,
                             take))
    if bad:
        for i, reason in enumerate((*PLANTED, "missing")):
            name = f"{1 + i % 5}-9{i:05d}-A-0.wav"
            if reason != "missing":
                plant(root / "audio" / name, reason, 44100)
            planted[reason] = [str(root / "audio" / name)]
            rows.append((name, 1 + i % 5, 0, "dog", True, 900000 + i, "A"))
    write_csv(root / "meta" / "esc50.csv", ESC50_HEADER, rows)
    return planted


# --- UrbanSound8K --------------------------------------------------------------------------

US8K_HEADER = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
US8K_CLASSES = {0: "air_conditioner", 3: "dog_bark", 6: "gun_shot"}
# Rates, channel counts and sample formats as mixed as in the real corpus.
US8K_FORMATS = [
    (44100, 2, "PCM_16"), (48000, 1, "PCM_24"), (22050, 1, "PCM_16"),
    (96000, 2, "PCM_24"), (11025, 1, "PCM_U8"), (8000, 1, "FLOAT"),
]


def build_urbansound8k(root: Path, bad: bool = True) -> dict[str, list[str]]:
    """``metadata/UrbanSound8K.csv`` + ``audio/fold1..fold10``: one slice per class per fold,
    0.5-4 s long at mixed rates, channels and bit depths. Returns planted bad files."""
    rows, planted = [], {}
    for fold in range(1, 11):
        for k, (class_id, name) in enumerate(US8K_CLASSES.items()):
            fs_id = 1000 * fold + class_id
            rate, channels, subtype = US8K_FORMATS[(fold + k) % len(US8K_FORMATS)]
            seconds = 0.5 + 3.5 * ((fold * 3 + k) % 8) / 7
            file = f"{fs_id}-{class_id}-0-{fold}.wav"
            write_tone(root / "audio" / f"fold{fold}" / file, class_id, rate, seconds,
                       seed=fs_id, channels=channels, subtype=subtype)
            rows.append((file, fs_id, 0.0, seconds, 1, fold, class_id, name))
    if bad:
        for i, reason in enumerate(PLANTED):
            fold, file = 1 + i, f"9{i}-0-0-0.wav"
            planted[reason] = [str(plant(root / "audio" / f"fold{fold}" / file, reason, 22050))]
            rows.append((file, 90 + i, 0.0, 1.0, 1, fold, 0, "air_conditioner"))
    write_csv(root / "metadata" / "UrbanSound8K.csv", US8K_HEADER, rows)
    return planted


# --- FSDD ----------------------------------------------------------------------------------

FSDD_SPEAKERS = ("george", "jackson", "theo")


def build_fsdd(root: Path, digits: int = 4, indices: int = 7, bad: bool = True):
    """``recordings/<digit>_<speaker>_<index>.wav`` at 8 kHz, 0.25-0.8 s each."""
    planted = {}
    for digit in range(digits):
        for s, speaker in enumerate(FSDD_SPEAKERS):
            for index in range(indices):
                seconds = 0.25 + 0.55 * ((digit + s + index) % 5) / 4
                write_tone(root / "recordings" / f"{digit}_{speaker}_{index}.wav", digit, 8000,
                           seconds, seed=digit * 100 + s * 10 + index)
    if bad:
        for i, reason in enumerate(PLANTED):
            path = root / "recordings" / f"{i % digits}_lucas_{40 + i}.wav"
            planted[reason] = [str(plant(path, reason, 8000))]
    return planted


# --- folder and CSV ------------------------------------------------------------------------

FOLDER_LABELS = ("bird", "car", "siren")


def build_folder(root: Path, per_label: int = 6, bad: bool = True) -> dict[str, list[str]]:
    """``<label>/*.wav|flac|ogg`` (mixed extensions and rates) plus ``_background_noise_/``."""
    planted = {}
    formats = [(".wav", 16000), (".flac", 22050), (".ogg", 16000), (".WAV", 8000)]
    for k, label in enumerate(FOLDER_LABELS):
        for i in range(per_label):
            ext, rate = formats[i % len(formats)]
            write_tone(root / label / f"{label}{i}{ext}", k, rate, 0.6 + 0.1 * i, seed=k * 50 + i)
        (root / label / "notes.txt").write_text("not a clip: wrong extension")
    write_tone(root / "_background_noise_" / "hum.wav", 7, 16000, 3.0, seed=5)
    if bad:
        for i, reason in enumerate(PLANTED):
            planted[reason] = [str(plant(root / FOLDER_LABELS[i % 3] / f"bad{i}.wav", reason))]
    return planted


def build_folder_csv(root: Path) -> Path:
    """A CSV listing clips with relative paths, groups and 4 predefined folds."""
    rows = []
    for k, label in enumerate(FOLDER_LABELS):
        for i in range(8):
            path = write_tone(root / "clips" / f"{label}_{i}.flac", k, 16000, 0.5, seed=k * 9 + i)
            rows.append((path.relative_to(root).as_posix(), label, f"g{i // 2}", 1 + i % 4))
    csv = root / "list.csv"
    write_csv(csv, ("path", "label", "group", "fold"), rows)
    return csv


# --- Speech Commands v2 --------------------------------------------------------------------

V2_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward",
    "four", "go", "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on",
    "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up",
    "visual", "wow", "yes", "zero",
)
V2_SPEAKERS = ("0a7c2a8d", "0b09edd3", "0c40e715", "0d2bcf9d")


def build_speech_commands_v2(root: Path, bad: bool = True) -> dict[str, list[str]]:
    """35 word folders x 4 speakers, one speaker in each list file, ``_background_noise_``."""
    planted = {}
    for w, word in enumerate(V2_WORDS):
        for s, speaker in enumerate(V2_SPEAKERS):
            write_tone(root / word / f"{speaker}_nohash_0.wav", w, 16000, 1.0, seed=w * 10 + s)
    for name in ("white_noise", "running_tap"):
        write_tone(root / "_background_noise_" / f"{name}.wav", 3, 16000, 20.0, seed=len(name))
    (root / "validation_list.txt").write_text(
        "".join(f"{word}/{V2_SPEAKERS[2]}_nohash_0.wav\n" for word in V2_WORDS)
    )
    (root / "testing_list.txt").write_text(
        "".join(f"{word}/{V2_SPEAKERS[3]}_nohash_0.wav\n" for word in V2_WORDS)
    )
    (root / "LICENSE").write_text("CC BY 4.0")
    if bad:
        for i, reason in enumerate(PLANTED):
            path = root / V2_WORDS[i] / f"ffff000{i}_nohash_0.wav"
            planted[reason] = [str(plant(path, reason))]
    return planted


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def train_overrides(corpus: str, root: Path, work: Path, *extra: str) -> list[str]:
    """Overrides for a quick end-to-end run: tiny model, one epoch, own stores in ``work``."""
    return [
        f"dataset={corpus}",
        f"dataset.root={root}",
        f"features.cache_dir={work / 'cache'}",
        f"tracking.uri=sqlite:///{work / 'mlflow.db'}",
        f"tracking.artifact_root={work / 'mlartifacts'}",
        "model.hidden_size=8",
        "trainer.max_epochs=1",
        "trainer.progress=false",
        "trainer.accelerator=cpu",
        *extra,
    ]


def train_and_read(overrides: list[str], work: Path):
    """Run ``rnnaudio train`` in-process; return its result, the parent run and the fold runs
    (as ``mlflow.search_runs`` rows) and an MLflow client on the same store."""
    import mlflow

    from rnnaudio.compose import compose_config
    from rnnaudio.training.run import train

    result = train(compose_config(overrides))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        runs = mlflow.search_runs(experiment_names=["rnnaudio"])
    finally:
        mlflow.set_tracking_uri(None)
    parent = runs[runs["run_id"] == result.parent_run_id].iloc[0]
    folds = runs[runs["tags.mlflow.parentRunId"] == result.parent_run_id]
    folds = folds.sort_values("params.cv.fold").reset_index(drop=True)
    return result, parent, folds, mlflow.MlflowClient(tracking_uri=uri)


def logged_report(client, run_id: str) -> dict:
    """The ``data_report.json`` artifact of a run."""
    import json

    return json.loads(Path(client.download_artifacts(run_id, "data_report.json")).read_text())
