"""A sweep's results as a table and figures, read from its Optuna study."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import matplotlib.pyplot as plt
import optuna
import pandas as pd
from matplotlib.figure import Figure
from rich.table import Table

log = logging.getLogger(__name__)


def trials_frame(study: optuna.Study, keys: Sequence[str]) -> pd.DataFrame:
    """One row per trial: its choices for ``keys``, state, CV loss mean and std, accuracy."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        attrs = trial.user_attrs
        fold_losses = [v for k, v in sorted(attrs.items()) if k.endswith("_val_loss")
                       and k.startswith("fold")]
        rows.append({
            "trial": trial.number,
            "state": trial.state.name,
            **{key: trial.params.get(key) for key in keys},
            "cv_loss_mean": trial.value if trial.value is not None else _mean(fold_losses),
            "cv_loss_std": attrs.get("cv_val_loss_std"),
            "cv_acc_mean": attrs.get("cv_val_acc_mean"),
            "folds_run": len(fold_losses),
            "n_params": attrs.get("n_params"),
        })
    frame = pd.DataFrame(rows)
    return frame.sort_values([*keys, "trial"]).reset_index(drop=True) if len(frame) else frame


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def sweep_table(frame: pd.DataFrame, keys: Sequence[str], title: str) -> Table:
    """One row per trial, sorted by its choices; CV loss is the mean ± std over folds."""
    table = Table(title=title)
    for column in (*keys, "CV loss", "CV acc", "folds", "state", "trial"):
        table.add_column(column, justify="right")
    for values in frame.to_dict("records"):  # records, not tuples: keys hold dots
        table.add_row(*(str(values[k]) for k in keys), _loss(values),
                      _number(values["cv_acc_mean"]), str(values["folds_run"]),
                      values["state"], str(values["trial"]))
    return table


def _loss(values: dict) -> str:
    mean, std = values["cv_loss_mean"], values["cv_loss_std"]
    if mean is None or pd.isna(mean):
        return "-"
    return f"{mean:.4f} ± {std:.4f}" if std is not None and not pd.isna(std) else f"{mean:.4f}"


def _number(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.4f}"


def loss_by_hidden_size(frame: pd.DataFrame, hidden_key: str = "model.hidden_size",
                        line_key: str = "model.cell") -> Figure | None:
    """CV loss (mean ± std over folds) against hidden size, one line per ``line_key`` value
    (per cell by default)."""
    if frame.empty or hidden_key not in frame:
        return None
    done = frame[frame["state"] == "COMPLETE"]
    if done.empty:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = done.groupby(line_key) if line_key in done else [("all", done)]
    for line, rows in groups:
        rows = rows.sort_values(hidden_key)
        ax.errorbar(rows[hidden_key], rows["cv_loss_mean"], yerr=rows["cv_loss_std"].fillna(0),
                    marker="o", capsize=3, label=str(line))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden units")
    ax.set_ylabel("cross-validated loss")
    ax.legend(title=line_key.removeprefix("model."))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def optuna_figures(study: optuna.Study) -> dict[str, Figure]:
    """Optuna's own plots: optimisation history and parameter importances (when computable)."""
    from optuna.visualization import matplotlib as optuna_plots

    figures = {"optimization_history": optuna_plots.plot_optimization_history(study).figure}
    try:
        figures["param_importances"] = optuna_plots.plot_param_importances(study).figure
    except (RuntimeError, ValueError) as error:  # too few complete trials, or one parameter
        log.info("no parameter importances: %s", error)
    for figure in figures.values():
        figure.tight_layout()
    return figures
