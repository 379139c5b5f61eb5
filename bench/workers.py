"""Workers: trials per hour of one sweep with 1 and with N local worker processes.

The same grid study (no pruner, no refit) on the embedded corpus, run by the real
``rnnaudio sweep`` with ``sweep.workers=1`` and ``sweep.workers=N`` in turn; trials/hour from
the command's wall time. Where the time goes: the command's start (Python, imports,
composing, the study, the MLflow server that N > 1 workers log through) until its first
trial starts, the span in which trials run, and the median seconds of one trial.

    python bench/workers.py                       # 1 vs 2 workers, 12 trials, 3 folds, 8 epochs
    python bench/workers.py --quick               # 4 trials, 2 folds, 2 epochs
    python bench/workers.py --workers 1 2 4 --repeats 2
    python bench/workers.py --threads 1           # one thread per worker, 1 worker included
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import common
import optuna
from sweeps import prepare, run_sweep, spec

from rnnaudio.tracking.server import local_server


def server_seconds(folder: Path) -> tuple[float, float]:
    """Seconds to start the loopback ``mlflow server`` that N > 1 workers log through, and
    to stop it: part of what a multi-worker sweep spends before and after its trials."""
    folder.mkdir(parents=True, exist_ok=True)
    server = local_server(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "mlartifacts"))
    start, _ = common.timed(server.__enter__)
    stop, _ = common.timed(lambda: server.__exit__(None, None, None))
    return start, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "rnnaudio-bench"))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    # 12 trials of about 10 s: a sweep short enough to bench, long enough that its start
    # (imports, the MLflow server) does not decide the ratio.
    parser.add_argument("--hidden", nargs="+", type=int, default=[32, 48, 64, 96])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of every sweep (default: the sweep's own choice, "
                        "all cores for one worker, cores / N for N)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternated")
    parser.add_argument("--quick", action="store_true", help="rnn, gru x 16, 32; 2 folds")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.cells, args.hidden, args.folds, args.epochs = ["rnn", "gru"], [16, 32], 2, 2
    common.quiet()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load_before = common.load_average()
    root = Path(args.root)
    overrides = prepare(root)
    study = spec("bench_workers", args.cells, args.hidden, args.folds, args.epochs)
    runs: dict[int, list] = {n: [] for n in args.workers}
    with tempfile.TemporaryDirectory(prefix="rnnaudio-bench-") as tmp:
        contenders = {
            n: (lambda n=n: run_sweep(Path(tmp) / f"w{n}", study,
                                      [*overrides, f"sweep.workers={n}", "sweep.pruner=none"],
                                      threads=args.threads))
            for n in args.workers
        }
        for n, done in common.alternate(contenders, args.repeats).items():
            runs[n] = done
        server_start, server_stop = server_seconds(Path(tmp) / "server")
    rows = []
    for n, done in runs.items():
        wall = common.median([r.wall_s for r in done])
        trials = len(done[0].trials)
        rows.append({
            "workers": n, "trials": trials, "wall_s": round(wall, 1),
            "trials_per_hour": round(3600 * trials / wall, 1),
            "startup_s": round(common.median([r.startup_s() for r in done]), 1),
            "trials_span_s": round(common.median([r.busy_s() for r in done]), 1),
            "after_trials_s": round(common.median(
                [r.wall_s - r.startup_s() - r.busy_s() for r in done]), 1),
            "trials_span_per_hour": round(3600 * trials / common.median(
                [r.busy_s() for r in done]), 1),
            "median_trial_s": round(common.median(
                [s for r in done for s in r.trial_seconds()]), 1),
            "fold_fits": done[0].fold_fits(),
        })
    base, base_span = rows[0]["trials_per_hour"], rows[0]["trials_span_per_hour"]
    for r in rows:
        r["speedup"] = round(r["trials_per_hour"] / base, 3)
        r["span_speedup"] = round(r["trials_span_per_hour"] / base_span, 3)
    common.print_table(
        f"Sweep workers on {os.cpu_count()} cores: {rows[0]['trials']} trials "
        f"({len(args.cells)} cells x {len(args.hidden)} sizes), {args.folds}-fold CV, "
        f"{args.epochs} epochs",
        ["workers", "trials", "wall s", "trials/hour", "speedup", "start s", "trials span s",
         "after trials s", "speedup within span", "median trial s"],
        [[r["workers"], r["trials"], r["wall_s"], r["trials_per_hour"], r["speedup"],
          r["startup_s"], r["trials_span_s"], r["after_trials_s"], r["span_speedup"],
          r["median_trial_s"]] for r in rows],
        caption="target: >= 1.7x trials/hour with 2 workers on 2 cores. start: launch to the "
        "first trial; after trials: the last trial's end to exit (figures, MLflow). The "
        f"loopback mlflow server alone takes {server_start:.1f} s to start and "
        f"{server_stop:.1f} s to stop",
    )
    common.write_results("workers", rows, args, load_before, args.out,
                         mlflow_server_start_s=round(server_start, 2),
                         mlflow_server_stop_s=round(server_stop, 2))


if __name__ == "__main__":
    main()
