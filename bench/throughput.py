"""Training throughput: the harness's epoch against a bare PyTorch loop on the same tensors.

For each cell x hidden size: samples/s of one training epoch through the code path that
`rnnaudio train` runs for a fold (``rnnaudio.training.crossval.fit_fold``: the
LightningModule, FoldDataModule, MLflow logger, checkpoint and early-stopping callbacks,
``build_trainer``), and through a bare loop (the same AudioClassifier, AdamW, gradient
clipping, batches indexed out of the same float16 tensor), alternated in one process; the
median of ``--repeats`` epochs each, and the ratio harness / bare (of the medians, and
``paired``: the median of each repeat's own ratio, whose two epochs ran back to back). The
epoch is timed from its first batch to the start of validation; what a fold costs beyond
it (trainer setup, validation, checkpoint, figures, MLflow) is reported apart as ``fold
overhead``.

    python bench/throughput.py                       # rnn, lstm, gru x 64, 128, 256, CPU
    python bench/throughput.py --quick               # lstm 128, 3 repeats: a smoke run
    python bench/throughput.py --precision bf16-mixed
    python bench/throughput.py --accelerator gpu --precision bf16-mixed
    python bench/throughput.py --accelerator gpu --precision bf16-mixed --cells lstm \\
        --hidden 256 --clips 85000 --repeats 3     # an epoch of a Speech Commands v2-sized corpus
    python bench/throughput.py --cells rnn --hidden 64 --profile   # where the harness's time goes
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import common
import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from rnnaudio.config import Config, DatasetConfig, ModelConfig, TrackingConfig, TrainerConfig
from rnnaudio.data.prepare import LabelledFeatures
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.tracking.runs import RunTracker
from rnnaudio.training import crossval

FRAMES, N_FEATURES, N_CLASSES, BATCH = 101, 40, 12, 64  # 1 s of 40 MFCC at a 10 ms hop


class EpochTimer(pl.Callback):
    """(wall, CPU) seconds from the first training batch to the start of validation, per
    epoch; optionally a cProfile of exactly that span (the per-step cost, no setup)."""

    def __init__(self, profiler: cProfile.Profile | None = None) -> None:
        self.seconds: list[tuple[float, float]] = []
        self.profiler = profiler
        self.clock = common.Clock()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        _sync(pl_module.device)
        if self.profiler is not None:
            self.profiler.enable()
        self.clock.start()

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        _sync(pl_module.device)
        self.seconds.append(self.clock.stop())
        if self.profiler is not None:
            self.profiler.disable()


def _sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@contextmanager
def timed_fits(timer: EpochTimer) -> Iterator[None]:
    """Adds ``timer`` to the callbacks of the trainers ``fit_fold`` builds, and nothing else."""
    original = crossval.build_trainer

    def build_trainer(cfg, logger, callbacks, root_dir, *args, **kwargs):
        return original(cfg, logger, [*callbacks, timer], root_dir, *args, **kwargs)

    crossval.build_trainer = build_trainer
    try:
        yield
    finally:
        crossval.build_trainer = original


def cached_corpus(clips: int, seed: int = 0) -> LabelledFeatures:
    """Stand-in for the feature cache: float16 ``(clips, 101, 40)``, 12 balanced labels."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(clips, FRAMES, N_FEATURES, generator=generator).half()
    labels = torch.arange(clips) % N_CLASSES
    classes = [f"class{i}" for i in range(N_CLASSES)]
    manifest = pd.DataFrame({
        "path": [f"clip{i}.wav" for i in range(clips)],
        "label": [classes[int(i)] for i in labels],
        "speaker": [f"s{i % 50}" for i in range(clips)],
        "split": "train",
    })
    return LabelledFeatures(features, labels, manifest, classes)


class Harness:
    """One fold fit per call through ``fit_fold``, a single epoch, tracked in a temp store."""

    def __init__(self, cfg: Config, data: LabelledFeatures, scratch: Path,
                 profiler: cProfile.Profile | None = None) -> None:
        self.cfg, self.data, self.scratch, self.profiler = cfg, data, scratch, profiler
        self.tracker = RunTracker(cfg.tracking)
        rows = np.arange(len(data.labels))
        self.rows = (rows, rows[:BATCH])  # a token validation set: its cost is overhead
        self.overheads: list[float] = []
        self.fits = 0

    def __call__(self) -> tuple[float, float]:
        """Samples/s of the epoch by the wall clock and by this process's CPU time."""
        timer = EpochTimer(self.profiler)
        self.fits += 1
        start = time.perf_counter()
        with self.tracker.run(f"bench-{self.fits}") as run_id, timed_fits(timer):
            crossval.fit_fold(self.cfg, self.data, self.rows, 0, self.tracker, run_id,
                              self.scratch / f"fit{self.fits}")
        wall, cpu = timer.seconds[-1]
        self.overheads.append(time.perf_counter() - start - wall)
        return len(self.rows[0]) / wall, len(self.rows[0]) / cpu


class BareLoop:
    """The loop a researcher writes by hand: same model, optimiser, clipping and batches."""

    def __init__(self, cfg: Config, data: LabelledFeatures,
                 profiler: cProfile.Profile | None = None) -> None:
        self.cfg, self.data, self.profiler = cfg, data, profiler
        self.device = "cuda" if cfg.trainer.accelerator == "gpu" else "cpu"

    def __call__(self) -> tuple[float, float]:
        """Samples/s of the epoch by the wall clock and by this process's CPU time."""
        # Lightning's deterministic=True stays switched on after a harness fit; a bare loop
        # would not have it.
        torch.use_deterministic_algorithms(False)
        cfg, features, labels = self.cfg, self.data.features, self.data.labels
        model = AudioClassifier(N_FEATURES, N_CLASSES, cfg.model).to(self.device)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.trainer.lr,
                                      weight_decay=cfg.trainer.weight_decay)
        n = len(labels)
        order = torch.randperm(n)
        bf16 = cfg.trainer.precision == "bf16-mixed"
        _sync(self.device)
        if self.profiler is not None:
            self.profiler.enable()
        clock = common.Clock()
        clock.start()
        for first in range(0, n, cfg.trainer.batch_size):
            rows = order[first:first + cfg.trainer.batch_size]
            # non_blocking, as Lightning moves batches: a blocking copy would wait for the GPU
            # to finish the previous step, and the loop would lose the host's lead over it.
            x = features[rows].float().to(self.device, non_blocking=True)
            y = labels[rows].to(self.device, non_blocking=True)
            with torch.autocast(self.device, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
            optimizer.step()
        _sync(self.device)
        wall, cpu = clock.stop()
        if self.profiler is not None:
            self.profiler.disable()
        return n / wall, n / cpu


def config(cell: str, hidden: int, args, scratch: Path) -> Config:
    return Config(
        dataset=DatasetConfig(root=str(scratch / "unused")),
        model=ModelConfig(cell=cell, hidden_size=hidden),
        trainer=TrainerConfig(accelerator=args.accelerator, precision=args.precision,
                              max_epochs=1, batch_size=BATCH, progress=args.progress),
        tracking=TrackingConfig(uri=f"sqlite:///{scratch}/mlflow.db",
                                artifact_root=str(scratch / "mlartifacts"), experiment="bench"),
    )


def measure(cell: str, hidden: int, args, data: LabelledFeatures, scratch: Path) -> dict:
    cfg = config(cell, hidden, args, scratch)
    profiles = {"harness": cProfile.Profile(), "bare": cProfile.Profile()} if args.profile else {}
    harness = Harness(cfg, data, scratch, profiles.get("harness"))
    bare = BareLoop(cfg, data, profiles.get("bare"))
    times = common.alternate({"harness": harness, "bare": bare}, args.repeats)
    for name, profile in profiles.items():
        _write_profile(profile, f"throughput_profile_{cell}{hidden}_{name}.txt")
    return {"cell": cell, "hidden": hidden, "precision": args.precision, "device": bare.device,
            "clips": len(data.labels), **compare(times["harness"], times["bare"]),
            "fold_overhead_s": round(common.median(harness.overheads), 3)}


def compare(harness: list[tuple[float, float]], bare: list[tuple[float, float]]) -> dict:
    """Medians and ratio by wall clock, the same by CPU time, and the raw values."""
    row = {}
    for clock, i in (("", 0), ("cpu_", 1)):
        h, b = common.median([v[i] for v in harness]), common.median([v[i] for v in bare])
        row |= {f"harness_{clock}samples_per_s": round(h, 1),
                f"bare_{clock}samples_per_s": round(b, 1),
                f"{clock}ratio": round(h / b, 4),
                f"harness_{clock}spread": round(common.spread([v[i] for v in harness]), 3),
                f"bare_{clock}spread": round(common.spread([v[i] for v in bare]), 3)}
    # Each repeat runs the two epochs back to back: their ratio cancels a change in the
    # machine's speed between repeats, which the ratio of medians does not.
    pairs = zip(harness, bare, strict=True)
    row["paired_ratio"] = round(common.median([h[0] / b[0] for h, b in pairs]), 4)
    row["harness_all"] = [round(v[0], 1) for v in harness]
    row["bare_all"] = [round(v[0], 1) for v in bare]
    return row


def _write_profile(profile: cProfile.Profile, name: str) -> None:
    path = common.RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    profile.dump_stats(path.with_suffix(".prof"))  # for snakeviz / pstats
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(60)
    path.write_text(text.getvalue())
    common.console.print(f"profile: {path}")


def warm_up(args, data: LabelledFeatures, scratch: Path) -> None:
    """One untimed fit of each kind: first-call costs (imports, allocators, kernels) go here."""
    cfg = config(args.cells[0], args.hidden[0], args, scratch)
    small = LabelledFeatures(data.features[: 4 * BATCH], data.labels[: 4 * BATCH],
                             data.manifest.iloc[: 4 * BATCH], data.classes)
    Harness(cfg, small, scratch)()
    BareLoop(cfg, small)()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips", type=int, default=2048, help="clips per epoch")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--progress", action="store_true",
                        help="keep the progress bar on, as an interactive `rnnaudio train` does")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the timed epochs, write the top functions to results/")
    parser.add_argument("--quick", action="store_true", help="lstm 128, 3 repeats")
    parser.add_argument("--out", default=None, help="JSON path (default results/throughput.json)")
    args = parser.parse_args()
    if args.quick:
        args.cells, args.hidden, args.repeats = ["lstm"], [128], 3
    common.quiet()
    common.set_threads(args.threads)
    load_before = common.load_average()
    torch.manual_seed(0)
    data = cached_corpus(args.clips)
    with tempfile.TemporaryDirectory(prefix="rnnaudio-bench-") as tmp:
        scratch = Path(tmp)
        warm_up(args, data, scratch)
        rows = []
        for cell in args.cells:
            for hidden in args.hidden:
                rows.append(measure(cell, hidden, args, data, scratch))
                common.console.print(f"{cell}-{hidden}: ratio {rows[-1]['ratio']:.3f}")
    device = rows[0]["device"]
    common.print_table(
        f"Training throughput, samples/s ({device}, {args.precision}, batch {BATCH}, "
        f"{FRAMES}x{N_FEATURES}, {args.clips} clips, median of {args.repeats})",
        ["cell", "hidden", "harness", "bare loop", "ratio", "spread h/b", "ratio by CPU s",
         "paired ratio", "fold overhead s"],
        [[r["cell"], r["hidden"], r["harness_samples_per_s"], r["bare_samples_per_s"],
          r["ratio"], f"{r['harness_spread']:.2f}/{r['bare_spread']:.2f}", r["cpu_ratio"],
          r["paired_ratio"], r["fold_overhead_s"]] for r in rows],
        caption="target: ratio >= 0.95 on every row. spread: (max - min) / median of the "
        "repeats. ratio by CPU s: the same epochs timed by this process's CPU seconds, "
        "steadier when other processes share the cores. paired ratio: the median of each "
        "repeat's harness / bare loop, two epochs run back to back",
    )
    default = device == "cpu" and args.precision == "32-true"
    suffix = "" if default else f"_{device}_{args.precision}"
    common.write_results(f"throughput{suffix}", rows, args, load_before, args.out)


if __name__ == "__main__":
    main()
