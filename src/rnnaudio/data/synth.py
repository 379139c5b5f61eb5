"""Generate ``synth_commands``: spoken command words from espeak-ng and flite voices.

The corpus is written in exactly the Google Speech Commands layout (see
``rnnaudio.data.corpora.speech_commands``), so the one loader serves it and the real corpus:
``<word>/<speakerhash>_nohash_<n>.wav`` (16 kHz mono int16, 16000 samples),
``validation_list.txt``/``testing_list.txt`` split 10 %/10 % by Warden's speaker hash,
``_background_noise_/`` and a ``manifest.json`` with engine versions and sha256 checksums.
Everything random is seeded from file names, so a rebuild with the same engine versions is
byte-identical.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF
from rich.progress import Progress

from rnnaudio.config import ConfigError, SynthConfig
from rnnaudio.data.corpora.speech_commands import BACKGROUND_DIR, COMMAND_WORDS, which_set
from rnnaudio.data.synth_voices import MAX_SPEAKERS, Speaker, engines_used, synth_speakers

# Speech Commands' auxiliary words of v1 that are not digits: the "_unknown_" pool.
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")
SAMPLE_RATE = 16000
CLIP_SAMPLES = SAMPLE_RATE  # one second, as in Speech Commands
VALIDATION_PERCENT = 10.0
TESTING_PERCENT = 10.0
# The list files of the split, and the set of ``which_set`` each one lists.
SPLIT_LISTS = (("validation_list.txt", "validation"), ("testing_list.txt", "testing"))
TRIM_DB = 40.0  # frames this far below the loudest frame count as silence
MARGIN_S = 0.02  # kept around the trimmed speech so onsets and releases survive
FADE_S = 0.005
NOISE_FLOOR_DBFS = -70.0
NOISE_RMS_DBFS = -20.0
# Tempo of repeat n of one word, cycled: repeats differ slightly, as a person's would.
REPEAT_TEMPOS = (1.0, 0.95, 1.05, 0.9, 1.1, 0.92, 1.08, 0.97, 1.03)
INSTALL_HINT = "apt-get install espeak-ng flite"

__all__ = [
    "COMMAND_WORDS",
    "UNKNOWN_WORDS",
    "Speaker",
    "build_synth_commands",
    "check_split_speakers",
    "is_built",
    "min_test_speakers",
    "synth_speakers",
]


def is_built(root: Path) -> bool:
    """True when ``root`` holds a finished corpus (the manifest is written last)."""
    return (Path(root) / "manifest.json").is_file()


def build_synth_commands(
    root: Path,
    cfg: SynthConfig = SynthConfig(),  # noqa: B008 - frozen in practice, never mutated here
    *,
    progress: bool = True,
    words: Sequence[str] | None = None,
) -> Path:
    """Synthesize the corpus into ``root`` (replacing an earlier build there); returns ``root``.

    ``cfg.speakers`` voices × ``words`` (default: ``COMMAND_WORDS + UNKNOWN_WORDS``) ×
    ``cfg.repeats`` clips of one second at 16 kHz, plus ``cfg.noise_seconds`` seconds of each
    background noise; ``cfg.workers`` engine processes run at once. Raises
    :class:`ConfigError` if an engine is missing or ``root`` holds something else. It builds
    any number of speakers (tests build a few); :func:`check_split_speakers` is what the
    command line and a first use check first.
    """
    root = Path(root).expanduser().absolute()
    words = _check_words(words if words is not None else (*COMMAND_WORDS, *UNKNOWN_WORDS))
    speakers = synth_speakers(cfg.speakers)
    versions = {engine: _engine_version(engine) for engine in engines_used(speakers)}
    _check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
    try:
        checksums = _write_clips(staging, speakers, words, cfg, progress)
        checksums |= _write_noise(staging, cfg.noise_seconds)
        checksums |= _write_split_lists(staging, checksums)
        manifest = _manifest(cfg, words, speakers, versions, checksums)
        (staging / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        )
        staging.chmod(0o755)  # mkdtemp makes it private; the corpus is ordinary data
        _install(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def _check_words(words: Sequence[str]) -> tuple[str, ...]:
    bad = [w for w in words if not re.fullmatch(r"[a-z]+", w)]
    if not words or bad or len(set(words)) != len(words):
        raise ConfigError(
            f"synth words={list(words)!r} must be distinct, non-empty lowercase words (a-z)"
        )
    return tuple(words)


@functools.cache  # the pool and its hashes never change within a process (~10 ms)
def min_test_speakers() -> int:
    """The fewest speakers (the pool's first ``n``) that put one in ``testing_list.txt``."""
    speakers = synth_speakers(MAX_SPEAKERS)
    return next(n for n, s in enumerate(speakers, start=1) if _split_of(s) == "testing")


def _split_of(speaker: Speaker) -> str:
    # Warden's hash reads only the speaker part of a clip's name: any word and repeat do.
    return which_set(f"{speaker.hash}_nohash_0.wav", VALIDATION_PERCENT, TESTING_PERCENT)


def check_split_speakers(cfg: SynthConfig) -> None:
    """Refuses, before any audio, speakers whose hashes leave the test split empty: a run on
    the corpus would train every fold and then find no test clip. (An empty validation list
    harms nothing: cross-validation pools it with training.)"""
    if cfg.speakers < min_test_speakers():
        raise ConfigError(
            f"dataset.synth.speakers={cfg.speakers} leaves testing_list.txt empty (Warden's "
            f"hash of the speaker ids puts none of the first {cfg.speakers} speakers there); "
            f"valid values are >= {min_test_speakers()} and <= {MAX_SPEAKERS}"
        )


def _engine_version(engine: str) -> str:
    if shutil.which(engine) is None:
        raise ConfigError(
            f"synth_commands needs the program {engine!r}, which is not on PATH; "
            f"install it with: {INSTALL_HINT}"
        )
    out = subprocess.run([engine, "--version"], capture_output=True, text=True, check=False)
    return " ".join((out.stdout + out.stderr).split())


def _check_replaceable(root: Path) -> None:
    """Refuse to replace anything but an earlier build or an empty folder."""
    if root.exists() and not is_built(root) and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(
            f"{root} exists and is not a synth_commands corpus (no manifest.json); "
            "refusing to overwrite it: remove it or choose another dataset.root"
        )


def _install(staging: Path, root: Path) -> None:
    """Move the finished tree into place so ``root`` is never a half-written corpus."""
    if not root.exists():
        staging.rename(root)
        return
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    root.rename(old)
    staging.rename(root)
    shutil.rmtree(old)


def _write_clips(
    out: Path, speakers: list[Speaker], words: Sequence[str], cfg: SynthConfig, progress: bool
) -> dict[str, str]:
    """Render every (speaker, word, repeat) clip in parallel; returns ``{relpath: sha256}``."""
    jobs = [(s, w, r) for w in words for s in speakers for r in range(cfg.repeats)]
    for word in words:
        (out / word).mkdir()
    checksums: dict[str, str] = {}
    with (
        tempfile.TemporaryDirectory(prefix="synth_commands-raw-") as scratch,
        ThreadPoolExecutor(cfg.workers) as pool,
        Progress(disable=not progress) as bar,
    ):
        task = bar.add_task("synth_commands", total=len(jobs))
        clips = pool.map(lambda job: _write_clip(out, Path(scratch), *job), jobs)
        for rel, digest in clips:
            checksums[rel] = digest
            bar.advance(task)
    return checksums


def _write_clip(
    out: Path, scratch: Path, speaker: Speaker, word: str, repeat: int
) -> tuple[str, str]:
    rel = f"{word}/{speaker.hash}_nohash_{repeat}.wav"
    rng = np.random.default_rng(int.from_bytes(hashlib.sha1(rel.encode()).digest()[:8], "big"))
    speech = _synthesize(speaker, word, repeat, scratch)
    clip = _place(_trim(speech), rng)
    return rel, _write_wav(out / rel, clip)


def _synthesize(speaker: Speaker, word: str, repeat: int, scratch: Path) -> np.ndarray:
    """The engine's output for repeat ``repeat`` of ``word``, float32 in [-1, 1] at 16 kHz."""
    raw = scratch / f"{speaker.hash}_{word}_{repeat}.wav"
    cmd = speaker.command(word, raw, REPEAT_TEMPOS[repeat % len(REPEAT_TEMPOS)])
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not raw.is_file():
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    audio, rate = sf.read(raw, dtype="float32", always_2d=True)
    raw.unlink()
    if not np.any(audio):
        raise RuntimeError(f"{' '.join(cmd)} produced no sound")
    # Reading the samples as if recorded at rate * warp shifts pitch and formants together.
    source_rate = round(rate * speaker.warp)
    wave = torch.from_numpy(audio.mean(axis=1))
    return AF.resample(wave, source_rate, SAMPLE_RATE).numpy()


def _trim(x: np.ndarray) -> np.ndarray:
    """Cut leading/trailing silence (``TRIM_DB`` below the loudest 10 ms frame), then fade."""
    hop = SAMPLE_RATE // 100
    frames = x[: len(x) // hop * hop].reshape(-1, hop)
    energy = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    loud = np.flatnonzero(energy > energy.max() * 10 ** (-TRIM_DB / 20))
    margin = round(MARGIN_S * SAMPLE_RATE)
    start = max(0, loud[0] * hop - margin)
    stop = min(len(x), (loud[-1] + 1) * hop + margin)
    speech = x[start:stop].astype(np.float64)
    if len(speech) > CLIP_SAMPLES:  # rare (slow voice, long word): keep the middle second
        cut = (len(speech) - CLIP_SAMPLES) // 2
        speech = speech[cut : cut + CLIP_SAMPLES]
    fade = min(round(FADE_S * SAMPLE_RATE), len(speech) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    speech[:fade] *= ramp
    speech[len(speech) - fade :] *= ramp[::-1]
    return speech


def _place(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Put ``speech`` at a seeded offset and level in one second over a faint noise floor."""
    clip = rng.normal(0.0, 10 ** (NOISE_FLOOR_DBFS / 20), CLIP_SAMPLES)
    offset = int(rng.integers(CLIP_SAMPLES - len(speech) + 1))
    # Recordings differ in level; a peak between -12 and -1 dBFS spans a realistic range.
    peak = 10 ** (rng.uniform(-12.0, -1.0) / 20)
    clip[offset : offset + len(speech)] += speech * (peak / max(np.abs(speech).max(), 1e-9))
    return clip


def _write_wav(path: Path, audio: np.ndarray) -> str:
    """Write float audio as 16-bit PCM at 16 kHz; returns the file's sha256."""
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    sf.write(buffer, pcm, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    data = buffer.getvalue()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _write_noise(out: Path, seconds: float) -> dict[str, str]:
    folder = out / BACKGROUND_DIR
    folder.mkdir()
    return {
        f"{BACKGROUND_DIR}/{name}.wav": _write_wav(folder / f"{name}.wav", track)
        for name, track in _noise_tracks(round(seconds * SAMPLE_RATE)).items()
    }


def _noise_tracks(n: int) -> dict[str, np.ndarray]:
    """Stationary noises like those of Speech Commands' ``_background_noise_``, ``n`` samples.

    Each is seeded by its name and scaled to ``NOISE_RMS_DBFS``.
    """
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    audible = np.maximum(freqs, 20.0)  # no energy piles up below hearing (brown drift)

    def shaped(name: str, gain: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(int.from_bytes(name.encode(), "big"))
        return np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * gain, n)

    t = np.arange(n) / SAMPLE_RATE
    # A tap: hiss between 300 Hz and 5 kHz whose level wobbles a few times a second.
    band = ((freqs > 300) & (freqs < 5000)).astype(float)
    slow = shaped("tap-wobble", (freqs < 6).astype(float))
    wobble = 1 + 0.5 * slow / max(np.std(slow), 1e-12)
    hum = sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 6))
    tracks = {
        "white_noise": shaped("white", np.ones_like(freqs)),
        "pink_noise": shaped("pink", 1 / np.sqrt(audible)),
        "brown_noise": shaped("brown", 1 / audible),
        "running_tap": shaped("tap", band) * np.clip(wobble, 0.1, None),
        "mains_hum": hum + 0.05 * shaped("hum-hiss", 1 / np.sqrt(audible)),
    }
    level = 10 ** (NOISE_RMS_DBFS / 20)
    return {k: np.clip(v * level / np.sqrt(np.mean(v**2)), -0.99, 0.99) for k, v in tracks.items()}


def _write_split_lists(out: Path, checksums: dict[str, str]) -> dict[str, str]:
    """validation_list.txt and testing_list.txt, by Warden's hash of the speaker id."""
    clips = sorted(rel for rel in checksums if not rel.startswith(BACKGROUND_DIR))
    split = {rel: which_set(rel, VALIDATION_PERCENT, TESTING_PERCENT) for rel in clips}
    written = {}
    for name, which in SPLIT_LISTS:
        data = "".join(f"{rel}\n" for rel in clips if split[rel] == which).encode()
        (out / name).write_bytes(data)
        written[name] = hashlib.sha256(data).hexdigest()
    return written


def _manifest(
    cfg: SynthConfig,
    words: Sequence[str],
    speakers: list[Speaker],
    versions: dict[str, str],
    checksums: dict[str, str],
) -> dict:
    # workers changes speed, not content: leaving it out keeps rebuilds byte-identical.
    config = {k: v for k, v in asdict(cfg).items() if k != "workers"}
    config |= {
        "words": list(words),
        "sample_rate": SAMPLE_RATE,
        "validation_percent": VALIDATION_PERCENT,
        "testing_percent": TESTING_PERCENT,
    }
    return {
        "corpus": "synth_commands",
        "format": 1,
        "engines": versions,
        "config": config,
        "speakers": {s.hash: asdict(s) | {"description": s.description} for s in speakers},
        "files": checksums,
    }
