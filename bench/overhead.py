"""Where the harness's per-step time goes: the shipped module against patched variants.

Runs the fold fit of ``throughput.py`` as shipped and with variants that each take one cost
away or put one fixed cost back, alternated with the bare loop in one process; prints
samples/s, the ratio to the bare loop and the milliseconds each step costs beyond it. A
variant patches this process only. Fixes first measured here ship, so they are no longer
variants: no NaN-filling of new tensors under deterministic algorithms
(``training/trainer.py``), ``train_loss`` summed in the module and logged once per epoch
(``training/epoch_loss.py``); the variants below measure those that remain switchable.

- ``nondeterministic``: ``torch.use_deterministic_algorithms(False)`` after the trainer is
  built, as the bare loop runs (``cudnn.benchmark`` stays off, as Lightning left it for
  both, so this is not the whole price of ``deterministic=True`` on a GPU).
- ``one_step_per_loop``: ``trainer.steps_per_execution=1``, one optimiser step per pass of
  Lightning's loop: what grouping batches saves (``data/step_groups.py``).
- ``automatic``: Lightning's automatic optimisation with the trainer clipping gradients, one
  step per pass of the loop, as the harness stepped before: what taking the step by hand
  and grouping save together (``training/manual_step.py``).
- ``lightning_dispatch``: a callback that listens to ``on_after_backward`` (and does
  nothing), so every step goes through Lightning's hook dispatch: what skipping it when
  nothing listens saves (``training/manual_step.py``).
- ``eager_groups``: each group's batches gathered when the group is fetched, as on a GPU,
  instead of when their steps take them: what deferred gathering saves on the CPU
  (``data/step_groups.py``).
- ``lightning_clip``: the step without Lightning's dispatch clips through Lightning's
  ``clip_gradients`` and torch's ``clip_grad_norm_``, as it did before: what the lean clip
  saves (``training/grad_clip.py``).

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
from throughput import BATCH, BareLoop, Harness, cached_corpus, config, warm_up

from rnnaudio.config import Config
from rnnaudio.data.datamodule import Batch, FoldDataModule
from rnnaudio.training import crossval
from rnnaudio.training.manual_step import ManualStepModule
from rnnaudio.training.module import ClassificationModule


class AutomaticStepModule(ClassificationModule):
    """Lightning's automatic optimisation, the trainer clipping, one batch per loop pass:
    how the harness stepped before it took the step by hand (``training/manual_step.py``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.automatic_optimization = True
        self.gradient_clip_val = None  # the trainer clips, not the module's hook

    def training_step(self, batch: Batch, _: int) -> torch.Tensor:
        loss, clips = self.batch_loss(batch)
        self.add_train_loss(loss, clips)
        self.log_train_loss()
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


@contextmanager
def one_step_per_loop(cfg: Config) -> Iterator[None]:
    """``cfg.trainer.steps_per_execution`` is 1 while inside; restored on exit."""
    steps = cfg.trainer.steps_per_execution
    cfg.trainer.steps_per_execution = 1
    try:
        yield
    finally:
        cfg.trainer.steps_per_execution = steps


@contextmanager
def automatic_optimisation(cfg: Config) -> Iterator[None]:
    """``fit_fold`` builds :class:`AutomaticStepModule`, the trainer clips and each pass of
    the loop takes one batch; undone on exit."""
    original_cls = crossval.ClassificationModule
    crossval.ClassificationModule = AutomaticStepModule
    clip = cfg.trainer.gradient_clip_val
    try:
        with one_step_per_loop(cfg), adjusted_trainers(
            lambda trainer: setattr(trainer, "gradient_clip_val", clip)
        ):
            yield
    finally:
        crossval.ClassificationModule = original_cls


def nondeterministic(_: Config) -> AbstractContextManager[None]:
    """The trainers ``fit_fold`` builds run without deterministic algorithms (the Trainer
    turned them on when built)."""
    return adjusted_trainers(lambda _: torch.use_deterministic_algorithms(False))


class Listener(pl.Callback):
    """Hears every backward and does nothing: Lightning's dispatch reaches someone."""

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass


def lightning_dispatch(_: Config) -> AbstractContextManager[None]:
    """The trainers ``fit_fold`` builds carry a :class:`Listener`."""
    return adjusted_trainers(lambda trainer: trainer.callbacks.append(Listener()))


@contextmanager
def eager_groups(_: Config) -> Iterator[None]:
    """Fold data modules gather each group whole, as for a GPU trainer; undone on exit."""
    original = FoldDataModule._defers_gathering
    FoldDataModule._defers_gathering = lambda self: False
    try:
        yield
    finally:
        FoldDataModule._defers_gathering = original


@contextmanager
def lightning_clip(_: Config) -> Iterator[None]:
    """The quiet step clips through the module's Lightning hook; undone on exit."""
    original = ManualStepModule._clip_quietly
    ManualStepModule._clip_quietly = ManualStepModule.on_before_optimizer_step
    try:
        yield
    finally:
        ManualStepModule._clip_quietly = original


# Each variant: the fit's config -> a context that patches the fit.
VARIANTS: dict[str, Callable[[Config], AbstractContextManager[None]]] = {
    "shipped": lambda _: nullcontext(),
    "one_step_per_loop": one_step_per_loop,
    "automatic": automatic_optimisation,
    "nondeterministic": nondeterministic,
    "lightning_dispatch": lightning_dispatch,
    "eager_groups": eager_groups,
    "lightning_clip": lightning_clip,
}


def variant(harness: Harness, patch: Callable[[Config], AbstractContextManager[None]]
            ) -> Callable[[], tuple[float, float]]:
    def run() -> tuple[float, float]:
        with patch(harness.cfg):  # a fresh context each run: generator contexts are single-use
            return harness()
    return run


def measure(cell: str, hidden: int, args, data, scratch: Path) -> list[dict]:
    contenders: dict[str, Callable[[], tuple[float, float]]] = {
        name: variant(Harness(config(cell, hidden, args, scratch), data, scratch),
                      VARIANTS[name])
        for name in args.variants
    }
    contenders["bare"] = BareLoop(config(cell, hidden, args, scratch), data)
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
