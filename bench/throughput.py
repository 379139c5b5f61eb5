"""Training throughput: the harness's epoch against a bare PyTorch loop on the same tensors.

For each cell x hidden size: samples/s of one training epoch through the code path that
`rnnaudio train` runs (ClassificationModule, FoldDataModule, build_trainer), and through a
bare loop (same model, AdamW, gradient clipping), alternated in one process; the median of
``--repeats`` epochs each, and the ratio harness / bare.

    python bench/throughput.py                       # rnn, lstm, gru x 64, 128, 256
    python bench/throughput.py --cells lstm --hidden 128 --repeats 5
    python bench/throughput.py --precision bf16-mixed --accelerator gpu
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from rnnaudio.config import ModelConfig, TrainerConfig
from rnnaudio.data.datamodule import FoldDataModule
from rnnaudio.models.classifier import AudioClassifier
from rnnaudio.training.module import ClassificationModule
from rnnaudio.training.trainer import build_trainer

N_CLIPS, FRAMES, N_FEATURES, N_CLASSES, BATCH = 2048, 101, 40, 12, 64


class EpochTimer(pl.Callback):
    """Seconds from the first training batch to the start of validation, per epoch."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def cached_tensors(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-ins for the feature cache: float16 ``(N, 101, 40)`` and labels ``(N,)``."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(N_CLIPS, FRAMES, N_FEATURES, generator=generator).half()
    labels = torch.randint(0, N_CLASSES, (N_CLIPS,), generator=generator)
    return features, labels


def harness_epoch(model_cfg, trainer_cfg, features, labels, workdir: Path) -> float:
    model = AudioClassifier(N_FEATURES, N_CLASSES, model_cfg)
    module = ClassificationModule(model, N_CLASSES, trainer_cfg.lr, trainer_cfg.weight_decay)
    rows = np.arange(N_CLIPS)
    datamodule = FoldDataModule(features, labels, rows, rows[:BATCH], BATCH, seed=0)
    timer = EpochTimer()
    trainer = build_trainer(trainer_cfg, None, [timer], workdir)
    trainer.fit(module, datamodule=datamodule)
    return N_CLIPS / timer.seconds[-1]


def bare_epoch(model_cfg, trainer_cfg, features, labels, device: str, precision: str) -> float:
    model = AudioClassifier(N_FEATURES, N_CLASSES, model_cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=trainer_cfg.lr,
                                  weight_decay=trainer_cfg.weight_decay)
    order = torch.randperm(N_CLIPS)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    start = time.perf_counter()
    for first in range(0, N_CLIPS, BATCH):
        rows = order[first:first + BATCH]
        x, y = features[rows].float().to(device), labels[rows].to(device)
        with autocast:
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), trainer_cfg.gradient_clip_val)
        optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return N_CLIPS / (time.perf_counter() - start)


def measure(cell: str, hidden: int, args, features, labels, workdir: Path) -> dict:
    model_cfg = ModelConfig(cell=cell, hidden_size=hidden, dropout=0.0)
    trainer_cfg = TrainerConfig(accelerator=args.accelerator, precision=args.precision,
                                max_epochs=1, progress=False)
    device = "cuda" if args.accelerator == "gpu" else "cpu"
    harness, bare = [], []
    for _ in range(args.repeats):  # alternated so drift in machine load hits both alike
        harness.append(harness_epoch(model_cfg, trainer_cfg, features, labels, workdir))
        bare.append(bare_epoch(model_cfg, trainer_cfg, features, labels, device, args.precision))
    h, b = statistics.median(harness), statistics.median(bare)
    return {"cell": cell, "hidden": hidden, "precision": args.precision, "device": device,
            "harness_samples_per_s": h, "bare_samples_per_s": b, "ratio": h / b}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--out", default="bench/results/throughput.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    features, labels = cached_tensors()
    workdir = Path("bench/results/lightning")
    rows = [measure(c, h, args, features, labels, workdir) for c in args.cells for h in args.hidden]
    table = Table(title=f"Training throughput, samples/s (batch {BATCH}, {FRAMES}x{N_FEATURES})")
    for column in ("cell", "hidden", "precision", "harness", "bare loop", "ratio"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(r["cell"], str(r["hidden"]), r["precision"],
                      f"{r['harness_samples_per_s']:.0f}", f"{r['bare_samples_per_s']:.0f}",
                      f"{r['ratio']:.3f}")
    Console().print(table)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
