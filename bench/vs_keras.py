"""The harness against tf.keras (the origin document's framework) on the same arrays.

For each cell x hidden size: samples/s of one training epoch of
Input(101, 40) -> SimpleRNN/LSTM/GRU(h) -> Dense(12), Adam, batch 64, through ``model.fit``
(float32, and the ``mixed_bfloat16`` policy), against the harness's fold fit
(``throughput.py``'s path) in float32 and with ``trainer.precision=bf16-mixed``, alternated
in one process; medians of ``--repeats`` epochs, each Keras epoch timed after a warm-up
epoch of its own model. The ratio is the harness's best precision over Keras's best.
Needs TensorFlow: ``pip install -e '.[bench]'``.

    python bench/vs_keras.py                        # rnn, lstm, gru x 64, 128, 256
    python bench/vs_keras.py --quick                # lstm 128, 3 repeats
    python bench/vs_keras.py --threads 1            # both frameworks on one core each
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import common
import numpy as np
import torch
from throughput import BATCH, FRAMES, N_CLASSES, N_FEATURES, Harness, cached_corpus, config

KERAS_CELLS = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def import_keras(threads: int | None):
    """tf.keras with ``threads`` intra-op and inter-op threads (None: TensorFlow's default)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        raise SystemExit("TensorFlow is not installed: pip install -e '.[bench]'") from None
    if threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf, keras


class KerasEpoch:
    """``model.fit`` for one epoch per call on a model built (and warmed up) once."""

    def __init__(self, keras, cell: str, hidden: int, x: np.ndarray, y: np.ndarray,
                 policy: str) -> None:
        self.keras, self.x, self.y, self.policy = keras, x, y, policy
        keras.mixed_precision.set_global_policy(policy)
        try:
            layer = getattr(keras.layers, KERAS_CELLS[cell])
            self.model = keras.Sequential([
                keras.Input((FRAMES, N_FEATURES)),
                layer(hidden),
                # The head stays float32 under mixed precision, as Keras's guide advises.
                keras.layers.Dense(N_CLASSES, dtype="float32"),
            ])
            self.model.compile(
                optimizer=keras.optimizers.Adam(3e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
        finally:
            keras.mixed_precision.set_global_policy("float32")
        self.fit()  # warm-up: tracing and compiling the train function happen here

    def fit(self) -> None:
        self.model.fit(self.x, self.y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)

    def __call__(self) -> tuple[float, float]:
        clock = common.Clock()
        clock.start()
        self.fit()
        wall, cpu = clock.stop()
        return len(self.y) / wall, len(self.y) / cpu


def measure(cell: str, hidden: int, args, keras, data, scratch: Path) -> dict:
    x = data.features.float().numpy()
    y = data.labels.numpy()
    contenders: dict[str, Callable[[], tuple[float, float]]] = {}
    for precision in args.precisions:
        args.precision = precision
        contenders[f"harness {precision}"] = Harness(config(cell, hidden, args, scratch),
                                                     data, scratch)
    for policy in args.policies:
        contenders[f"keras {policy}"] = KerasEpoch(keras, cell, hidden, x, y, policy)
    times = common.alternate(contenders, args.repeats)
    rates = {name: common.median([v[0] for v in values]) for name, values in times.items()}
    cpu_rates = {name: common.median([v[1] for v in values]) for name, values in times.items()}
    best_harness = max((n for n in rates if n.startswith("harness")), key=rates.get)
    best_keras = max((n for n in rates if n.startswith("keras")), key=rates.get)
    return {
        "cell": cell, "hidden": hidden,
        **{f"{name} samples_per_s": round(rate, 1) for name, rate in rates.items()},
        **{f"{name} spread": round(common.spread([v[0] for v in times[name]]), 3)
           for name in times},
        "best_harness": best_harness, "best_keras": best_keras,
        "ratio": round(rates[best_harness] / rates[best_keras], 4),
        "cpu_ratio": round(cpu_rates[best_harness] / cpu_rates[best_keras], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for torch and TensorFlow alike (default: theirs)")
    parser.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"],
                        choices=["32-true", "bf16-mixed"])
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"],
                        choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--quick", action="store_true", help="lstm 128, 3 repeats")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.cells, args.hidden, args.repeats = ["lstm"], [128], 3
    args.accelerator, args.progress = "cpu", False
    common.quiet()
    common.set_threads(args.threads)
    tf, keras = import_keras(args.threads)
    load_before = common.load_average()
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    data = cached_corpus(args.clips)
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rnnaudio-bench-") as tmp:
        for cell in args.cells:
            for hidden in args.hidden:
                rows.append(measure(cell, hidden, args, keras, data, Path(tmp)))
                common.console.print(f"{cell}-{hidden}: {rows[-1]['ratio']:.2f}x Keras")
    names = [f"harness {p}" for p in args.precisions] + [f"keras {p}" for p in args.policies]
    common.print_table(
        f"Harness vs tf.keras {tf.__version__}, samples/s (cpu, batch {BATCH}, "
        f"{args.clips} clips, median of {args.repeats})",
        ["cell", "hidden", *names, "ratio", "ratio by CPU s"],
        [[r["cell"], r["hidden"], *(r[f"{n} samples_per_s"] for n in names), r["ratio"],
          r["cpu_ratio"]] for r in rows],
        caption="ratio: the harness's best precision over Keras's best policy; "
        "target >= 1.2 on every row",
    )
    common.write_results("vs_keras", rows, args, load_before, args.out,
                         tensorflow=tf.__version__, keras=keras.__version__,
                         seconds=round(time.perf_counter() - start, 1))


if __name__ == "__main__":
    main()
