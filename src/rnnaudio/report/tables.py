"""Tables of runs read back from MLflow: aggregation, and Markdown, LaTeX and CSV writers.

Pure functions over DataFrames, so the numbers a report prints can be checked against a
direct aggregation of the same runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from rnnaudio.config import ExperimentConfig

# An experiment's run is one row of its file under one seed.
ROW_SEED = ["tags.rnnaudio.row", "tags.rnnaudio.seed"]


def runs_frame(client: MlflowClient, experiment_id: str, filter_string: str = "") -> pd.DataFrame:
    """Finished runs as rows: ``run_id``, ``tags.*``, ``params.*``, ``metrics.*`` columns."""
    query = "attributes.status = 'FINISHED'"
    if filter_string:
        query = f"{filter_string} and {query}"
    rows = []
    for run in _all_runs(client, experiment_id, query):
        rows.append({
            "run_id": run.info.run_id,
            "start_time": run.info.start_time,
            **{f"tags.{k}": v for k, v in run.data.tags.items()},
            **{f"params.{k}": v for k, v in run.data.params.items()},
            **{f"metrics.{k}": v for k, v in run.data.metrics.items()},
        })
    return pd.DataFrame(rows)


def _all_runs(client: MlflowClient, experiment_id: str, query: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=query, max_results=1000,
                                  page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def aggregate(frame: pd.DataFrame, by: Sequence[str], metric: str) -> pd.DataFrame:
    """Mean, std (over seeds or trials, ddof=1; none for a single run), count, and the
    hidden units and parameters each group trained (its runs' distinct values)."""
    column = f"metrics.{metric}"
    frame = frame[frame[column].notna()] if column in frame else frame.iloc[0:0]
    if frame.empty:
        return pd.DataFrame(columns=[*by, "n", "mean", "std", "hidden", "n_params"])
    frame = frame.assign(hidden=_hidden_units(frame))
    grouped = frame.groupby(list(by), sort=False)
    out = grouped[column].agg(["count", "mean", "std"]).rename(columns={"count": "n"})
    out["hidden"] = grouped["hidden"].agg(_distinct)
    counted = "params.n_params" in frame
    out["n_params"] = grouped["params.n_params"].agg(_distinct) if counted else None
    return out.reset_index()


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]``, or no value for every run where none of them has it (a tag or param
    that older runs did not log)."""
    return frame.get(name, pd.Series(None, index=frame.index, dtype=object))


def _hidden_units(frame: pd.DataFrame) -> pd.Series:
    """The units each run trained: logged where ``auto`` resolved them (runs from before that
    was logged on the parent have only the configured number, which a sweep's choice is)."""
    configured = column(frame, "params.model.hidden_size")
    return column(frame, "params.model.hidden_size_resolved").fillna(
        configured.where(configured != "auto"))


def _distinct(values: pd.Series) -> str | None:
    """One value, or each distinct one ("64/128": a group whose runs trained other sizes)."""
    seen = list(dict.fromkeys(values.dropna()))
    return "/".join(map(str, seen)) if seen else None


def latest_runs(frame: pd.DataFrame, keys: Sequence[str], metric: str) -> pd.DataFrame:
    """The last run with ``metric`` of each ``keys`` group: a row x seed run again under new
    settings replaces its earlier run."""
    column = f"metrics.{metric}"
    if frame.empty or column not in frame or any(k not in frame for k in keys):
        return frame
    done = frame[frame[column].notna()]
    return done.sort_values("start_time", kind="stable").groupby(list(keys), sort=False).tail(1)


def experiment_table(latest: pd.DataFrame, experiment: ExperimentConfig) -> pd.DataFrame:
    """One row per experiment row, in the file's order, beside the published numbers, from
    ``latest``: the last run of each row x seed (:func:`latest_runs`)."""
    stats = aggregate(latest, ["tags.rnnaudio.row"], experiment.metric)
    stats = stats.set_index("tags.rnnaudio.row")
    records = []
    for row in experiment.rows:
        got = stats.loc[row.name] if row.name in stats.index else None
        mean = float(got["mean"]) if got is not None else np.nan
        published = row.published if row.published is not None else np.nan
        records.append({
            "row": row.name,
            "n": int(got["n"]) if got is not None else 0,
            "mean": mean,
            "std": float(got["std"]) if got is not None else np.nan,
            "hidden": got["hidden"] if got is not None else None,
            "n_params": got["n_params"] if got is not None else None,
            "published": published,
            "difference": mean - published,
            "source": row.source,
        })
    return pd.DataFrame(records)


def _cell(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std merged into one ``mean ± std`` column, everything as text."""
    shown = table.copy()
    if {"mean", "std"} <= set(shown.columns):
        shown.insert(list(shown.columns).index("mean"), "mean ± std",
                     [_mean_std(m, s) for m, s in zip(shown["mean"], shown["std"], strict=True)])
        shown = shown.drop(columns=["mean", "std"])
    return shown.map(_cell)


def _mean_std(mean: float, std: float) -> str:
    # One run has no spread: "± 0.0000" would claim one.
    return _cell(mean) if pd.isna(std) else f"{_cell(mean)} ± {_cell(std)}"


def to_markdown(table: pd.DataFrame) -> str:
    shown = _display(table)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def to_latex(table: pd.DataFrame, caption: str) -> str:
    """A booktabs table (``\\usepackage{booktabs}``)."""
    shown = _display(table)
    escape = str.maketrans({"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "±": r"$\pm$"})
    lines = [
        r"\begin{table}[t]", r"\centering", rf"\caption{{{caption.translate(escape)}}}",
        r"\begin{tabular}{" + "l" * len(shown.columns) + "}", r"\toprule",
        " & ".join(c.translate(escape) for c in shown.columns) + r" \\", r"\midrule",
        *(" & ".join(v.translate(escape) for v in row) + r" \\"
          for row in shown.itertuples(index=False)),
        r"\bottomrule", r"\end{tabular}", r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
