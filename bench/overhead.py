"""Where the harness's per-step time goes: the shipped module against patched variants.

Runs the fold fit of ``throughput.py`` as shipped and with variants that each remove one
cost, alternated with the bare loop in one process; prints samples/s, the ratio to the bare
loop and the milliseconds each step costs beyond it. A variant patches this process only.
Two fixes first measured here now ship, so they are no longer variants: no NaN-filling of
new tensors under deterministic algorithms (``training/trainer.py``) and ``train_loss``
summed in the module and logged once per epoch (``training/epoch_loss.py``).

- ``nondeterministic``: ``torch.use_deterministic_algorithms(False)`` after the trainer is
  built, as the bare loop runs (``cudnn.benchmark`` stays off, as Lightning left it for
  both, so this is not the whole price of ``deterministic=True`` on a GPU).
- ``manual``: manual optimisation (``zero_grad``, ``manual_backward``, ``clip_gradients``,
  ``step`` in ``training_step``): no closure, no automatic-optimisation hook chain; what is
  left of Lightning's loop beyond it is hook dispatch.

    python bench/overhead.py                          # rnn 64, lstm 128, 5 repeats
    python bench/overhead.py --threads 1 --cells rnn lstm gru --hidden 64 128 256
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import common
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from throughput import BATCH, BareLoop, Harness, cached_corpus, config, warm_up

from rnnaudio.data.datamodule import Batch, unpack_batch
from rnnaudio.training import crossval
from rnnaudio.training.module import ClassificationModule


class ManualStepModule(ClassificationModule):
    """Manual optimisation: the step a bare loop takes, inside Lightning."""

    clip = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False

    def training_step(self, batch: Batch, _: int) -> torch.Tensor:
        features, labels, lengths = unpack_batch(batch)
        optimizer = self.optimizers()
        loss = F.cross_entropy(self.model(features, lengths), labels)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self.clip_gradients(optimizer, gradient_clip_val=self.clip,
                            gradient_clip_algorithm="norm")
        optimizer.step()
        self.log_train_loss(loss, len(labels))
        return loss


@contextmanager
def adjusted_trainers(adjust: Callable[[pl.Trainer], None]) -> Iterator[None]:
    """Each trainer ``fit_fold`` builds goes through ``adjust`` first; undone on exit."""
    original = crossval.build_trainer

    def build_trainer(*args, **kwargs):
        trainer = original(*args, **kwargs)
        adjust(trainer)
        return trainer

    crossval.build_trainer = build_trainer
    try:
        yield
    finally:
        crossval.build_trainer = original


def _no_clipping(trainer: pl.Trainer) -> None:
    trainer.gradient_clip_val = None  # manual optimisation clips in the module


@contextmanager
def manual_optimisation() -> Iterator[None]:
    """``fit_fold`` builds :class:`ManualStepModule` and leaves clipping to it; undone on exit."""
    original_cls = crossval.ClassificationModule
    crossval.ClassificationModule = ManualStepModule
    try:
        with adjusted_trainers(_no_clipping):
            yield
    finally:
        crossval.ClassificationModule = original_cls


def nondeterministic() -> AbstractContextManager[None]:
    """The trainers ``fit_fold`` builds run without deterministic algorithms (the Trainer
    turned them on when built)."""
    return adjusted_trainers(lambda _: torch.use_deterministic_algorithms(False))


VARIANTS: dict[str, Callable[[], object]] = {
    "shipped": nullcontext,
    "manual": manual_optimisation,
    "nondeterministic": nondeterministic,
}


def variant(harness: Harness, patch: Callable[[], object]) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        with patch():
            return harness()
    return run


def measure(cell: str, hidden: int, args, data, scratch: Path) -> list[dict]:
    cfg = config(cell, hidden, args, scratch)
    ManualStepModule.clip = cfg.trainer.gradient_clip_val
    contenders: dict[str, Callable[[], tuple[float, float]]] = {
        name: variant(Harness(cfg, data, scratch), VARIANTS[name]) for name in args.variants
    }
    contenders["bare"] = BareLoop(cfg, data)
    times = common.alternate(contenders, args.repeats)
    bare = common.median([v[0] for v in times["bare"]])
    bare_cpu = common.median([v[1] for v in times["bare"]])
    rows = []
    for name, values in times.items():
        rate = common.median([v[0] for v in values])
        cpu_rate = common.median([v[1] for v in values])
        rows.append({
            "cell": cell, "hidden": hidden, "variant": name,
            "samples_per_s": round(rate, 1), "ratio": round(rate / bare, 4),
            "spread": round(common.spread([v[0] for v in values]), 3),
            "cpu_ratio": round(cpu_rate / bare_cpu, 4),
            "cpu_ms_per_step_over_bare": round(1000 * BATCH * (1 / cpu_rate - 1 / bare_cpu), 3),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm"])
    parser.add_argument("--hidden", nargs="+", type=int, default=None,
                        help="default: 64 for rnn, 128 otherwise")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed"])
    parser.add_argument("--quick", action="store_true", help="rnn 64, 3 repeats")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.cells, args.hidden, args.repeats = ["rnn"], [64], 3
    args.progress = False
    common.quiet()
    common.set_threads(args.threads)
    load_before = common.load_average()
    data = cached_corpus(args.clips)
    pairs = [(c, h) for c in args.cells
             for h in (args.hidden or [64 if c == "rnn" else 128])]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rnnaudio-bench-") as tmp:
        args.cells, args.hidden = [pairs[0][0]], [pairs[0][1]]
        warm_up(args, data, Path(tmp))
        for cell, hidden in pairs:
            rows += measure(cell, hidden, args, data, Path(tmp))
    common.print_table(
        f"Harness per-step overhead by variant ({args.accelerator}, {args.precision}, "
        f"batch {BATCH}, median of {args.repeats})",
        ["cell", "hidden", "variant", "samples/s", "ratio", "spread", "ratio by CPU s",
         "CPU ms/step over bare"],
        [[r["cell"], r["hidden"], r["variant"], r["samples_per_s"], r["ratio"], r["spread"],
          r["cpu_ratio"], r["cpu_ms_per_step_over_bare"]] for r in rows],
    )
    suffix = "" if args.accelerator == "cpu" else f"_{args.accelerator}_{args.precision}"
    common.write_results(f"overhead{suffix}", rows, args, load_before, args.out)


if __name__ == "__main__":
    main()
