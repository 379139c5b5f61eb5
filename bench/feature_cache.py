"""Feature cache: cold extraction against a warm load, on the embedded corpus and a 20k one.

For each corpus: ``FeatureCache.load_or_extract`` into an empty cache folder (cold: decode,
resample, MFCC, store), then again with the entry in place (warm: hash the file list, map
the stored tensor); also warm plus reading every feature once (what training does), and
the whole ``labelled_features`` call a run makes (manifest scan + cache). Cold extraction
reads WAVs that the OS has in its page cache: it measures decoding and features, not disk.

Corpora: ``synth_commands`` (built on first use into ``--root``, as ``rnnaudio data synth``
does) and a synthetic Speech Commands tree of ``--clips`` generated one-second WAVs (written
once into ``--root``; the write time is reported apart).

    python bench/feature_cache.py                   # embedded corpus + 20,000 clips
    python bench/feature_cache.py --quick           # embedded corpus + 2,000 clips
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import soundfile as sf

from rnnaudio.config import DatasetConfig, FeatureConfig
from rnnaudio.data.cache import FeatureCache
from rnnaudio.data.prepare import ensure_corpus, labelled_features, load_manifest

SAMPLE_RATE = 16000
WORDS = 20


def write_clips(root: Path, clips: int, seed: int = 0) -> float:
    """``clips`` one-second 16 kHz WAVs in the Speech Commands layout; seconds spent (0 when
    the tree is already there)."""
    if (root / "testing_list.txt").is_file() and len(list(root.glob("*/*.wav"))) == clips:
        return 0.0
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for i in range(clips):
        word = f"word{i % WORDS:02d}"
        (root / word).mkdir(parents=True, exist_ok=True)
        # A tone with a gliding pitch in noise: any signal costs the same to featurise.
        f0 = rng.uniform(100, 400)
        wave = 0.3 * np.sin(2 * np.pi * f0 * t * (1 + 0.3 * t)) + 0.05 * rng.standard_normal(t.size)
        sf.write(root / word / f"{i // WORDS:08x}_nohash_0.wav", wave.astype(np.float32),
                 SAMPLE_RATE, subtype="PCM_16")
    (root / "validation_list.txt").write_text("")
    (root / "testing_list.txt").write_text("")
    return time.perf_counter() - start


def measure(name: str, dataset: DatasetConfig, args, scratch: Path) -> dict:
    manifest_s, manifest = common.timed(lambda: load_manifest(dataset, 0))
    n = len(manifest)
    num_samples = round(dataset.sample_rate * dataset.clip_seconds)
    cache_dir = scratch / f"cache-{name}"
    features = FeatureConfig(cache_dir=str(cache_dir))

    def load():
        return FeatureCache(cache_dir).load_or_extract(
            manifest, features, dataset.sample_rate, num_samples, progress=False,
            max_bad_fraction=1.0)

    cold = []
    for _ in range(args.cold_repeats):
        shutil.rmtree(cache_dir, ignore_errors=True)
        cold.append(common.timed(load)[0])
    warm = [common.timed(load)[0] for _ in range(args.warm_repeats)]
    touched = [common.timed(lambda: float(load().features.float().sum()))[0]
               for _ in range(args.warm_repeats)]
    whole = [common.timed(lambda: labelled_features(dataset, features, 0, progress=False))[0]
             for _ in range(args.warm_repeats)]
    entry = next(cache_dir.glob("*.pt"))
    cold_s = common.median(cold)
    return {
        "corpus": name, "clips": n, "manifest_s": round(manifest_s, 3),
        "cold_s": round(cold_s, 2), "cold_clips_per_s": round(n / cold_s, 1),
        "warm_s": round(common.median(warm), 4),
        "warm_pct_of_cold": round(100 * common.median(warm) / cold_s, 3),
        "warm_read_s": round(common.median(touched), 4),
        "warm_read_pct_of_cold": round(100 * common.median(touched) / cold_s, 3),
        "labelled_features_warm_s": round(common.median(whole), 3),
        "entry_mb": round(entry.stat().st_size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "rnnaudio-bench"),
                        help="where the corpora are built once and kept")
    parser.add_argument("--clips", type=int, default=20000, help="clips of the generated corpus")
    parser.add_argument("--cold-repeats", type=int, default=1)
    parser.add_argument("--warm-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-synth", action="store_true", help="the generated corpus only")
    parser.add_argument("--quick", action="store_true", help="2,000 generated clips")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.clips, args.warm_repeats = 2000, 3
    common.quiet()
    threads = common.set_threads(args.threads)
    load_before = common.load_average()
    root = Path(args.root)
    rows, prep = [], {}
    with tempfile.TemporaryDirectory(prefix="rnnaudio-bench-") as tmp:
        if not args.skip_synth:
            synth = DatasetConfig(name="synth_commands", root=str(root / "synth_commands"))
            prep["synth_build_s"] = round(common.timed(lambda: ensure_corpus(synth, False))[0], 1)
            rows.append(measure("synth_commands", synth, args, Path(tmp)))
        generated = root / f"generated_{args.clips}"
        prep["generated_write_s"] = round(write_clips(generated, args.clips), 1)
        dataset = DatasetConfig(name="speech_commands", root=str(generated), task="all_words")
        rows.append(measure(f"generated {args.clips}", dataset, args, Path(tmp)))
    common.print_table(
        f"Feature cache: cold extraction vs warm load (40 MFCC, {threads} torch threads)",
        ["corpus", "clips", "cold s", "cold clips/s", "warm s", "warm % of cold",
         "warm+read s", "warm+read %", "labelled_features warm s", "entry MB"],
        [[r["corpus"], r["clips"], r["cold_s"], r["cold_clips_per_s"], r["warm_s"],
          r["warm_pct_of_cold"], r["warm_read_s"], r["warm_read_pct_of_cold"],
          r["labelled_features_warm_s"], r["entry_mb"]] for r in rows],
        caption="target: warm <= 2 % of cold. Corpus preparation (not timed above): "
        + ", ".join(f"{k} {v}" for k, v in prep.items()),
    )
    common.write_results("feature_cache", rows, args, load_before, args.out, **prep)


if __name__ == "__main__":
    main()
