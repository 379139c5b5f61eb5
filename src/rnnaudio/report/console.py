"""What a finished command prints: the fold table and where to look next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from rnnaudio.report.sweep import sweep_table

if TYPE_CHECKING:
    from rnnaudio.report.build import Report
    from rnnaudio.sweep.driver import SweepResult
    from rnnaudio.training.run import TrainResult


def fold_table(result: TrainResult) -> Table:
    """One row per fold (best checkpoint on its validation clips), then mean and std."""
    table = Table(title="Cross-validation (best checkpoint per fold, validation clips)")
    for column in ("fold", "val loss", "val acc", "val macro-F1", "best epoch", "epochs"):
        table.add_column(column, justify="right")
    for fold in result.folds:
        ev = fold.evaluation
        table.add_row(str(fold.fold), *map(_number, (ev.loss, ev.accuracy, ev.macro_f1)),
                      str(fold.best_epoch), str(fold.epochs_run))
    table.add_section()
    for stat in ("mean", "std"):
        values = [result.summary.get(f"cv_{name}_{stat}") for name in ("val_loss", "val_acc",
                                                                       "val_f1")]
        table.add_row(stat, *map(_number, values), "", "")
    return table


def _number(value: float | None) -> str:
    """A metric to 4 places; a dash for one the task does not have (a sequence model's F1)."""
    return "-" if value is None else f"{value:.4f}"


def print_train_result(result: TrainResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(fold_table(result))
    # soft_wrap: commands and ids must survive copy and paste from a narrow terminal.
    console.print(f"parent run: {result.parent_run_id}   ({result.folds[0].n_params:,} parameters)",
                  soft_wrap=True)
    console.print(f"open the MLflow UI: [bold]{result.ui_command}[/bold]", soft_wrap=True)


def print_sweep_result(result: SweepResult, console: Console | None = None) -> None:
    console = console or Console()
    study = result.study
    console.print(sweep_table(result.frame, result.keys, f"Study {study.study_name!r}"))
    if result.best is None:
        console.print("no trial completed", style="bold red")
    else:
        best = result.best
        console.print(f"best: trial {best.number}  {best.params}  CV loss {best.value:.4f}",
                      soft_wrap=True)
    if result.test is not None:
        test = result.test
        console.print(f"refit on train+validation, test split: accuracy "
                      f"{_number(test.accuracy)}, macro-F1 {_number(test.macro_f1)}, "
                      f"loss {test.loss:.4f}", soft_wrap=True)
    console.print(f"sweep run: {result.sweep_run_id}", soft_wrap=True)
    console.print(f"open the MLflow UI: [bold]{result.ui_command}[/bold]", soft_wrap=True)
    console.print(f"open optuna-dashboard: [bold]optuna-dashboard {result.storage}[/bold]",
                  soft_wrap=True)


def print_report(report: Report, console: Console | None = None) -> None:
    console = console or Console()
    console.print(report.markdown, soft_wrap=True, markup=False, highlight=False)
    console.print(f"report written to [bold]{report.folder}[/bold] "
                  "(table.md, table.tex, table.csv, figures/)", soft_wrap=True)
