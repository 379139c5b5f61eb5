"""Pruning: the same small CV sweep with and without a pruner; fold fits spent, best found.

A grid over cell x hidden size on the embedded corpus, each trial scored by k-fold
cross-validated loss, run by the real ``rnnaudio sweep`` once per pruner. A pruner sees the
running mean of the fold losses after each fold (at step = folds done) and may stop a trial
there, so a pruned
trial spends fewer fold fits. Fold fits are counted from the trials' ``fold<k>_val_loss``
attributes. The grid sampler visits the same points in every run, so the best config can
be compared directly.

    python bench/pruning.py                       # 3 cells x 16, 32, 64; 5 folds; 3 epochs
    python bench/pruning.py --quick               # rnn, gru x 16, 32; 3 folds; 2 epochs
    python bench/pruning.py --pruners none median --startup 1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import common
import optuna
from sweeps import prepare, run_sweep, spec

PRUNERS = ("none", "median", "successive_halving", "hyperband")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(tempfile.gettempdir()) / "rnnaudio-bench"))
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"])
    parser.add_argument("--hidden", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--folds", type=int, default=5, help="cv.folds (its default is 5)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pruners", nargs="+", choices=PRUNERS,
                        default=["none", "median", "successive_halving"])
    parser.add_argument("--startup", type=int, default=2,
                        help="sweep.pruner_startup_trials of the median pruner")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of the sweeps (fits counted are the same)")
    parser.add_argument("--quick", action="store_true",
                        help="rnn, gru x 16, 32; 3 folds, 2 epochs; none and median")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.cells, args.hidden, args.folds, args.epochs = ["rnn", "gru"], [16, 32], 3, 2
        args.pruners = ["none", "median"]
    common.quiet()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load_before = common.load_average()
    root = Path(args.root)
    overrides = prepare(root)
    study = spec("bench_pruning", args.cells, args.hidden, args.folds, args.epochs)
    rows = []
    with tempfile.TemporaryDirectory(prefix="rnnaudio-bench-") as tmp:
        for pruner in args.pruners:
            run = run_sweep(Path(tmp) / pruner, study, [
                *overrides, f"sweep.pruner={pruner}",
                f"sweep.pruner_startup_trials={args.startup}"], threads=args.threads)
            best = run.best()
            rows.append({
                "pruner": pruner, "trials": len(run.trials),
                "complete": run.count(optuna.trial.TrialState.COMPLETE),
                "pruned": run.count(optuna.trial.TrialState.PRUNED),
                "fold_fits": run.fold_fits(),
                "best": " ".join(f"{v}" for v in best.params.values()) if best else "-",
                "best_cv_loss": round(best.value, 4) if best else float("nan"),
                "wall_s": round(run.wall_s, 1),
            })
            common.console.print(f"{pruner}: {rows[-1]['fold_fits']} fold fits, "
                                 f"best {rows[-1]['best']}")
    full = next((r for r in rows if r["pruner"] == "none"), rows[0])
    for r in rows:
        r["fits_pct_of_none"] = round(100 * r["fold_fits"] / full["fold_fits"], 1)
        r["same_best"] = r["best"] == full["best"]
    common.print_table(
        f"Pruning: grid of {len(args.cells)} cells x {len(args.hidden)} sizes, "
        f"{args.folds}-fold CV, {args.epochs} epochs (median pruner startup {args.startup})",
        ["pruner", "trials", "complete", "pruned", "fold fits", "% of none", "best config",
         "best CV loss", "same best", "wall s"],
        [[r["pruner"], r["trials"], r["complete"], r["pruned"], r["fold_fits"],
          r["fits_pct_of_none"], r["best"], r["best_cv_loss"], r["same_best"], r["wall_s"]]
         for r in rows],
        caption="target: a pruned sweep finds the same best config with <= 50 % of the fold fits",
    )
    common.write_results("pruning", rows, args, load_before, args.out)


if __name__ == "__main__":
    main()
