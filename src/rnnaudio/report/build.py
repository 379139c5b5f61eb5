"""``rnnaudio report``: a folder with Markdown, LaTeX and CSV tables and figures, from MLflow.

For an experiment (``experiment=<name>``) the rows are the file's rows, beside the published
numbers; for anything else (a sweep, plain runs) runs are grouped by ``report.group_by``.
A metric, or a grouping key, that none of the runs has is a :class:`ConfigError` raised
before anything is written: a misspelt name must not replace a good report by empty tables.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.exceptions import MlflowException

from rnnaudio.config import Config, ConfigError, ExperimentConfig, ReportConfig, TrackingConfig
from rnnaudio.config.checks import first_line, nearest, shown_setting
from rnnaudio.experiment.rows import SETTINGS_TAG, file_settings
from rnnaudio.report.sweep import loss_by_hidden_size
from rnnaudio.report.tables import (
    ROW_SEED,
    aggregate,
    column,
    experiment_table,
    latest_runs,
    runs_frame,
    to_latex,
    to_markdown,
)
from rnnaudio.tracking.runs import RunTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    name: str
    table: pd.DataFrame
    folder: Path
    markdown: str


def build_report(cfg: Config) -> Report:
    report = cfg.report or ReportConfig()
    tracker = RunTracker(cfg.tracking, create=False)
    if cfg.experiment is not None:
        name, table, figures, caption = _experiment(tracker, cfg.experiment, report,
                                                    cfg.tracking)
    else:
        name, table, figures = _grouped(tracker, report, cfg.tracking)
        caption = f"{report.metric} by {', '.join(report.group_by)}"
    if report.filter:
        caption = f"{caption.rstrip('.')}; runs where {report.filter}."
    folder = Path(report.out_dir) / name
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(table)
    (folder / "table.md").write_text(f"{caption}\n\n{markdown}")
    (folder / "table.tex").write_text(to_latex(table, caption))
    table.to_csv(folder / "table.csv", index=False)
    for figure_name, figure in figures.items():
        figure.savefig(folder / "figures" / f"{figure_name}.png", dpi=120)
        plt.close(figure)
    return Report(name, table, folder, markdown)


def _caption(experiment: ExperimentConfig) -> str:
    paper = experiment.paper
    source = f"{paper.authors} ({paper.year}), {paper.table}" if paper else "our own study"
    note = ("" if experiment.comparable else " Not comparable: runs under other settings than "
            "the file's (a smoke run or another variant), or a file that says so.")
    return f"{experiment.name}: {experiment.metric} per row, mean ± std over seeds; {source}.{note}"


def _runs(tracker: RunTracker, report: ReportConfig, selected: str = "") -> pd.DataFrame:
    """The finished runs the report ``selected`` that ``report.filter`` keeps."""
    query = " and ".join(part for part in (selected, report.filter) if part)
    try:
        return _without_pruned(runs_frame(tracker.client, tracker.experiment_id, query))
    except MlflowException as error:
        if not report.filter:
            raise
        raise ConfigError(
            f"report.filter={report.filter!r}: {first_line(error)}; valid is MLflow's search "
            "syntax, e.g. report.filter=\"params.model.cell = 'gru'\"") from error


def _without_pruned(frame: pd.DataFrame) -> pd.DataFrame:
    """A pruned trial's CV metrics cover only the folds it ran before it was stopped: beside
    complete runs they would mix one-fold and k-fold scores."""
    if "tags.optuna.state" not in frame:
        return frame
    pruned = frame["tags.optuna.state"] == "PRUNED"
    if pruned.any():
        log.info("%d pruned trial runs left out: their CV metrics cover part of the folds",
                 int(pruned.sum()))
    return frame[~pruned].reset_index(drop=True)


def _experiment(tracker: RunTracker, experiment: ExperimentConfig, report: ReportConfig,
                tracking: TrackingConfig):
    frame = _runs(tracker, report, f"tags.`rnnaudio.experiment` = '{experiment.name}'")
    _check_runs(frame, tracking, report, f"of experiment={experiment.name}",
                f"rnnaudio run experiment={experiment.name}")
    _check_present(frame, "experiment.metric", [experiment.metric], "metric")
    latest = latest_runs(frame, ROW_SEED, experiment.metric)
    table = experiment_table(latest, experiment)
    if not _comparable(latest, experiment):
        experiment = dataclasses.replace(experiment, comparable=False)
    figures = {"rows": bars_figure(table, experiment.metric)}
    name = experiment.name if experiment.comparable else f"{experiment.name}-not-comparable"
    trials = _without_pruned(runs_frame(tracker.client, tracker.experiment_id,
                                        f"tags.`optuna.study` LIKE '{experiment.name}-%'"))
    # One line per row's sweep: two rows may share a cell (gru, gru+attention).
    by_size = loss_by_hidden_size(_hidden_size_frame(trials, _row_studies(latest, experiment)),
                                  line_key="row")
    if by_size is not None:
        figures["cv_loss_by_hidden_size"] = by_size
    return name, table, figures, _caption(experiment)


def _grouped(tracker: RunTracker, report: ReportConfig, tracking: TrackingConfig):
    frame = _runs(tracker, report)
    _check_runs(frame, tracking, report, "to report", "rnnaudio train or rnnaudio sweep")
    _check_present(frame, "report.metric", [report.metric], "metric")
    _check_present(frame, "report.group_by", report.group_by, "param")
    keys = [f"params.{key}" for key in report.group_by]
    table = aggregate(frame.dropna(subset=keys), keys, report.metric)
    if table.empty:
        raise ConfigError(
            f"report.group_by={list(report.group_by)}: no run has all of these params and "
            f"report.metric={report.metric!r} together; group by params the metric's runs have"
        )
    table = table.rename(columns={f"params.{key}": key for key in report.group_by})
    figures = {}
    by_size = loss_by_hidden_size(_hidden_size_frame(frame))
    if by_size is not None:
        figures["cv_loss_by_hidden_size"] = by_size
    return tracking.experiment, table, figures


def _check_runs(frame: pd.DataFrame, tracking: TrackingConfig, report: ReportConfig,
                which: str, command: str) -> None:
    # Say so rather than write empty tables over the last good ones.
    if frame.empty and report.filter:
        raise ConfigError(f"report.filter={report.filter!r} keeps none of the finished runs "
                          f"{which}; loosen it, or give report.filter= to keep them all")
    if frame.empty:
        raise ConfigError(
            f"tracking.experiment={tracking.experiment!r} at "
            f"{shown_setting('tracking.uri', tracking.uri)} has no finished runs {which}; "
            f"record some with {command}, or point tracking.uri and tracking.experiment at "
            "the store that holds them"
        )


def _check_present(frame: pd.DataFrame, field: str, names: Sequence[str], kind: str) -> None:
    """Each of ``names`` is a ``kind`` ("metric" or "param") of at least one run."""
    prefix = f"{kind}s."
    known = sorted(c.removeprefix(prefix) for c in frame.columns if c.startswith(prefix))
    runs = f"any of the {len(frame)} runs" if len(frame) > 1 else "the one run"
    for name in names:
        if name not in known:
            raise ConfigError(f"{field}: {name!r} is not a {kind} of {runs}; their {kind}s "
                              f"include: {nearest(name, known)}")


def _comparable(latest: pd.DataFrame, experiment: ExperimentConfig) -> bool:
    """Whether every run the table shows (``latest``: the last run of each row x seed) ran
    under its row's settings as the experiment file gives them now (a run under command-line
    changes, or under an older file or harness, is a variant), read from the runs'
    fingerprints, not from a verdict tagged when they ran."""
    if not experiment.comparable:
        return False
    written = file_settings(experiment)
    shown = latest[latest["tags.rnnaudio.row"].isin(written)]
    ran = column(shown, f"tags.{SETTINGS_TAG}")
    return bool((ran == shown["tags.rnnaudio.row"].map(written)).all())


def _row_studies(latest: pd.DataFrame, experiment: ExperimentConfig) -> dict[str, str]:
    """The sweep study behind each row's latest runs (``latest``: the last run of each row x
    seed), and that row: a row run again under other settings swept in a study of its own,
    whose trials alone belong beside its numbers. Runs from before rows were tagged with
    their study swept in ``<experiment>-<row>``."""
    studies = column(latest, "tags.rnnaudio.sweep_study")
    return {study if pd.notna(study) else f"{experiment.name}-{row}": row
            for row, study in zip(latest["tags.rnnaudio.row"], studies, strict=True)}


def _hidden_size_frame(runs: pd.DataFrame,
                       study_rows: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Runs with a CV loss as the frame ``loss_by_hidden_size`` plots: a ``model.cell``
    column, and with ``study_rows`` only the trials of those studies, with their ``row``."""
    needed = ["params.model.cell", "params.model.hidden_size", "metrics.cv_val_loss_mean"]
    if study_rows is not None:
        needed.append("tags.optuna.study")
    if runs.empty or any(c not in runs for c in needed):
        return pd.DataFrame()
    runs = runs.dropna(subset=needed)
    if study_rows is not None:
        runs = runs[runs["tags.optuna.study"].isin(study_rows)]
    hidden = pd.to_numeric(runs["params.model.hidden_size"], errors="coerce")
    rows = runs["tags.optuna.study"].map(study_rows) if study_rows is not None else None
    return pd.DataFrame({
        "model.cell": runs["params.model.cell"], "row": rows, "model.hidden_size": hidden,
        "cv_loss_mean": runs["metrics.cv_val_loss_mean"],
        "cv_loss_std": runs.get("metrics.cv_val_loss_std"), "state": "COMPLETE",
    }).dropna(subset=["model.hidden_size"])


def bars_figure(table: pd.DataFrame, metric: str) -> Figure:
    """Each row's mean ± std as a bar with error bars; published numbers as black marks."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(table) + 2), 3.5))
    x = np.arange(len(table))
    ax.bar(x, table["mean"], yerr=table["std"].fillna(0), capsize=4, color="tab:blue",
           label="ours")
    published = table["published"].astype(float)
    if published.notna().any():
        ax.scatter(x, published, marker="_", s=400, color="black", zorder=3, label="published")
    ax.set_xticks(x, table["row"], rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
