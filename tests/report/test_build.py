"""The CV-loss-by-hidden-size figure of an experiment: one line per row, not per cell; a
report's misspelt metric or grouping key, read against runs in a real MLflow store."""

import dataclasses
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from rnnaudio.config import (
    Config,
    ConfigError,
    ExperimentConfig,
    ExperimentRow,
    ModelConfig,
    ReportConfig,
    TrackingConfig,
)
from rnnaudio.experiment.rows import SETTINGS_TAG, row_settings
from rnnaudio.report.build import _hidden_size_frame, build_report
from rnnaudio.report.sweep import loss_by_hidden_size
from rnnaudio.tracking.params import flatten
from rnnaudio.tracking.runs import RunTracker


def trial_runs() -> pd.DataFrame:
    """Trials of two rows that share a cell (gru, gru+attention), as MLflow lists them."""
    return pd.DataFrame({
        "params.model.cell": ["gru", "gru", "gru", "gru", "rnn"],
        "params.model.hidden_size": ["32", "64", "32", "64", "32"],
        "metrics.cv_val_loss_mean": [1.0, 0.8, 0.5, 0.4, 2.2],
        "metrics.cv_val_loss_std": [0.1, 0.1, 0.1, 0.1, 0.1],
        "tags.optuna.study": ["t-gru-a", "t-gru-a", "t-gru+attention-a", "t-gru+attention-a",
                              "t-rnn-b"],
    })


def test_an_experiment_draws_one_line_per_row_from_its_latest_studies():
    studies = {"t-gru-a": "gru", "t-gru+attention-a": "gru+attention", "t-rnn-a": "rnn"}
    frame = _hidden_size_frame(trial_runs(), studies)
    assert sorted(frame["row"].unique()) == ["gru", "gru+attention"]  # t-rnn-b: older settings
    studies["t-rnn-b"] = "rnn"
    frame = _hidden_size_frame(trial_runs(), studies)
    assert sorted(frame["row"].unique()) == ["gru", "gru+attention", "rnn"]
    figure = loss_by_hidden_size(frame, line_key="row")
    legend = figure.axes[0].get_legend()
    assert legend.get_title().get_text() == "row"
    assert [t.get_text() for t in legend.get_texts()] == ["gru", "gru+attention", "rnn"]
    plt.close(figure)


def test_a_plain_report_draws_one_line_per_cell():
    figure = loss_by_hidden_size(_hidden_size_frame(trial_runs()))
    assert [t.get_text() for t in figure.axes[0].get_legend().get_texts()] == ["gru", "rnn"]
    plt.close(figure)


# A misspelt name in a report's config is one line naming the field and the names that
# would do, raised before anything is written: the previous report stays as it was.

CELLS = [("rnn", 8, 1.2), ("rnn", 16, 1.0), ("gru", 8, 0.9), ("gru", 16, 0.7)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> TrackingConfig:
    """Four finished runs of ``rnnaudio train`` (every config param, the CV metrics), the
    rows of experiment ``tiny``, and a sweep's run (its own params and metric), in a real
    MLflow SQLite store."""
    work = tmp_path_factory.mktemp("store")
    tracking = TrackingConfig(uri=f"sqlite:///{work / 'mlflow.db'}",
                              artifact_root=str(work / "mlartifacts"))
    tracker = RunTracker(tracking)
    for seed, (cell, hidden, loss) in enumerate(CELLS):
        tags = {"rnnaudio.experiment": "tiny", "rnnaudio.row": cell, "rnnaudio.seed": str(seed),
                SETTINGS_TAG: row_settings([], None)}
        with tracker.run(f"{cell}-{hidden}", tags=tags) as run_id:
            cfg = Config(model=ModelConfig(cell=cell, hidden_size=hidden), seed=seed)
            tracker.log_params(run_id, flatten(dataclasses.asdict(cfg)))
            tracker.log_metrics(run_id, {"cv_val_loss_mean": loss, "cv_val_loss_std": 0.1,
                                         "cv_val_acc_mean": 0.5, "test_acc": 0.6})
    with tracker.run("sweep") as run_id:
        tracker.log_params(run_id, {"sweep.study_name": "hidden"})
        tracker.log_metrics(run_id, {"best_cv_val_loss": 0.7})
    # A trial stopped after its first fold: its CV mean is that fold's alone.
    with tracker.run("pruned", tags={"optuna.state": "PRUNED"}) as run_id:
        cfg = Config(model=ModelConfig(cell="gru", hidden_size=8))
        tracker.log_params(run_id, flatten(dataclasses.asdict(cfg)))
        tracker.log_metrics(run_id, {"cv_val_loss_mean": 5.0, "cv_val_loss_std": 0.0})
    return tracking


def report_config(store: TrackingConfig, out: Path, **report: object) -> Config:
    return Config(tracking=store, report=ReportConfig(out_dir=str(out), **report))


def experiment_config(store: TrackingConfig, out: Path, metric: str) -> Config:
    rows = [ExperimentRow(name="rnn"), ExperimentRow(name="gru")]
    return dataclasses.replace(report_config(store, out),
                               experiment=ExperimentConfig(name="tiny", metric=metric, rows=rows))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line(error: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_a_misspelt_metric_names_the_runs_metrics(store, tmp_path):
    with pytest.raises(ConfigError) as error:
        build_report(report_config(store, tmp_path, metric="cv_val_los"))
    assert one_line(error) == (
        "report.metric: 'cv_val_los' is not a metric of any of the 5 runs; their metrics "
        "include: best_cv_val_loss, cv_val_acc_mean, cv_val_loss_mean, cv_val_loss_std, test_acc")
    assert not tmp_path.joinpath("rnnaudio").exists()


def test_a_misspelt_group_by_key_names_the_closest_params(store, tmp_path):
    with pytest.raises(ConfigError) as error:
        build_report(report_config(store, tmp_path, group_by=["model.cel"]))
    shown = re.fullmatch(r"report\.group_by: 'model\.cel' is not a param of any of the 5 runs; "
                         r"their params include: (.*), \.\.\. \((\d+) in all\)", one_line(error))
    assert shown is not None
    names = shown[1].split(", ")
    # Of the ~70 params a run logs, those shown are the ones nearest the misspelling.
    assert "model.cell" in names and names == sorted(names) and len(names) == 12
    assert int(shown[2]) == len(flatten(dataclasses.asdict(Config()))) + 1  # sweep.study_name


def test_group_by_params_only_runs_without_the_metric_have_is_refused(store, tmp_path):
    with pytest.raises(ConfigError) as error:
        build_report(report_config(store, tmp_path, group_by=["sweep.study_name"]))
    assert one_line(error) == (
        "report.group_by=['sweep.study_name']: no run has all of these params and "
        "report.metric='cv_val_loss_mean' together; group by params the metric's runs have")


def test_a_bad_report_leaves_the_previous_one_untouched(store, tmp_path):
    good = build_report(report_config(store, tmp_path))
    assert sorted(good.table["model.cell"]) == ["gru", "gru", "rnn", "rnn"]
    before = snapshot(good.folder)
    assert {"table.md", "table.tex", "table.csv"} <= before.keys()
    for bad in ({"metric": "cv_val_los"}, {"group_by": ["model.cel", "model.hidden_size"]},
                {"group_by": ["model.cell"], "metric": "no_such"},
                {"group_by": ["model.cell", "sweep.study_name"]}):
        with pytest.raises(ConfigError):
            build_report(report_config(store, tmp_path, **bad))
    assert snapshot(good.folder) == before


def test_an_experiment_metric_no_run_has_names_the_runs_metrics(store, tmp_path):
    assert build_report(experiment_config(store, tmp_path, "test_acc")).table["n"].tolist() == [
        2, 2]
    before = snapshot(tmp_path / "tiny")
    with pytest.raises(ConfigError) as error:
        build_report(experiment_config(store, tmp_path, "test_f1"))
    assert one_line(error).startswith("experiment.metric: 'test_f1' is not a metric of any of "
                                      "the 4 runs; their metrics include: cv_val_acc_mean")
    assert snapshot(tmp_path / "tiny") == before


def test_a_store_without_runs_says_so(tmp_path):
    empty = TrackingConfig(uri=f"sqlite:///{tmp_path / 'empty.db'}",
                           artifact_root=str(tmp_path / "mlartifacts"))
    RunTracker(empty)  # the store and its experiment, no run
    with pytest.raises(ConfigError, match=r"^tracking\.experiment='rnnaudio' at tracking\.uri="
                                          r"'sqlite:///.*empty\.db' has no finished runs to "):
        build_report(report_config(empty, tmp_path / "reports"))
    assert not (tmp_path / "reports").exists()


def test_a_misspelt_store_or_experiment_is_named_and_nothing_is_made(store, tmp_path):
    elsewhere = dataclasses.replace(store, uri=f"sqlite:///{tmp_path / 'mlfow.db'}")
    with pytest.raises(ConfigError, match=r"^tracking\.uri='sqlite:///.*mlfow\.db': "
                                          r"/.*/mlfow\.db does not exist; give the store"):
        build_report(report_config(elsewhere, tmp_path / "reports"))
    assert not (tmp_path / "mlfow.db").exists()
    misspelt = dataclasses.replace(store, experiment="rnaudio")
    with pytest.raises(ConfigError) as error:
        build_report(report_config(misspelt, tmp_path / "reports"))
    assert one_line(error) == (f"tracking.experiment='rnaudio' is not in tracking.uri="
                               f"'{store.uri}'; its experiments are: Default, rnnaudio")
    names = [e.name for e in RunTracker(store).client.search_experiments()]
    assert sorted(names) == ["Default", "rnnaudio"]
    assert not (tmp_path / "reports").exists()


def test_a_grouped_report_leaves_pruned_trials_out_and_shows_no_spread_for_one_run(store,
                                                                                   tmp_path):
    report = build_report(report_config(store, tmp_path))
    gru8 = report.table.set_index(["model.cell", "model.hidden_size"]).loc[("gru", "8")]
    assert (gru8["n"], gru8["mean"]) == (1, 0.9) and pd.isna(gru8["std"])
    # No resolved units logged (runs from before they were): the configured ones.
    assert gru8["hidden"] == "8"
    assert "| gru | 8 | 1 | 0.9000 |" in report.markdown


def test_report_filter_narrows_the_runs_with_mlflows_syntax(store, tmp_path):
    gru = build_report(report_config(store, tmp_path, filter="params.model.cell = 'gru'"))
    assert gru.table["model.cell"].tolist() == ["gru", "gru"]
    caption = (gru.folder / "table.md").read_text().splitlines()[0]
    assert caption == ("cv_val_loss_mean by model.cell, model.hidden_size; runs where "
                       "params.model.cell = 'gru'.")
    before = snapshot(gru.folder)
    for bad, message in [
        ("params.model.cell = gru", r"^report\.filter='params\.model\.cell = gru': Parameter "
                                    r"value is either not quoted.*; valid is MLflow's search "),
        ("params.model.cell = 'lstm'", r"^report\.filter=\"params\.model\.cell = 'lstm'\" keeps "
                                       r"none of the finished runs to report; loosen it"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build_report(report_config(store, tmp_path, filter=bad))
    assert snapshot(gru.folder) == before


def test_a_report_is_not_comparable_only_while_a_shown_run_is_a_variant(tmp_path):
    """The flag follows the runs the table shows: a run under other settings than the file's
    (a smoke run) that a later run of its row and seed replaced, or a run of a row the file no
    longer has, does not mark the report; one the table shows does."""
    tracking = TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                              artifact_root=str(tmp_path / "mlartifacts"))
    tracker = RunTracker(tracking)
    written, smoke = row_settings([], None), row_settings(["trainer.max_epochs=1"], None)

    def row_run(row: str, settings: str) -> None:
        tags = {"rnnaudio.experiment": "tiny", "rnnaudio.row": row, "rnnaudio.seed": "0",
                SETTINGS_TAG: settings}
        with tracker.run(row, tags=tags) as run_id:
            tracker.log_metrics(run_id, {"test_acc": 0.5})

    for row, settings in [("rnn", smoke), ("gru", written), ("rnn", written), ("lstm", smoke)]:
        row_run(row, settings)
    out = tmp_path / "reports"
    assert build_report(experiment_config(tracking, out, "test_acc")).name == "tiny"
    row_run("gru", smoke)
    report = build_report(experiment_config(tracking, out, "test_acc"))
    assert report.name == "tiny-not-comparable"
    assert (report.folder / "table.md").read_text().splitlines()[0].endswith(
        "Not comparable: runs under other settings than the file's (a smoke run or another "
        "variant), or a file that says so.")
