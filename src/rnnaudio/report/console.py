"""What a finished command prints: the fold table and where to look next."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rnnaudio.training.run import TrainResult


def fold_table(result: TrainResult) -> Table:
    """One row per fold (best checkpoint on its validation clips), then mean ± std."""
    table = Table(title="Cross-validation (best checkpoint per fold, validation clips)")
    for column in ("fold", "val loss", "val acc", "val macro-F1", "best epoch", "epochs"):
        table.add_column(column, justify="right")
    for fold in result.folds:
        ev = fold.evaluation
        table.add_row(str(fold.fold), f"{ev.loss:.4f}", f"{ev.accuracy:.4f}",
                      f"{ev.macro_f1:.4f}", str(fold.best_epoch), str(fold.epochs_run))
    s = result.summary
    table.add_section()
    table.add_row(
        "mean ± std",
        f"{s['cv_val_loss_mean']:.4f} ± {s['cv_val_loss_std']:.4f}",
        f"{s['cv_val_acc_mean']:.4f} ± {s['cv_val_acc_std']:.4f}",
        f"{s['cv_val_f1_mean']:.4f} ± {s['cv_val_f1_std']:.4f}",
        "", "",
    )
    return table


def print_train_result(result: TrainResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(fold_table(result))
    console.print(f"parent run: {result.parent_run_id}   ({result.folds[0].n_params:,} parameters)")
    console.print(f"open the MLflow UI: [bold]{result.ui_command}[/bold]")
