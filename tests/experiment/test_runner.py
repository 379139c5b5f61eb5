"""A tiny experiment (two rows, two seeds) end to end, its resume, and its report."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pytest

RNNAUDIO = str(Path(sys.executable).parent / "rnnaudio")
pytestmark = pytest.mark.slow

TINY = """\
name: tiny
comparable: true
metric: test_acc
seeds: [0, 1]
overrides: [cv.folds=2, trainer.max_epochs=1]
rows:
  - {name: rnn-8, overrides: [model=rnn, model.hidden_size=8], published: 0.5, source: "T1 r1"}
  - {name: gru-8, overrides: [model=gru, model.hidden_size=8]}
"""


@pytest.fixture
def workspace(synth_corpus, feature_cache, tmp_path):
    specs = tmp_path / "experiments"
    specs.mkdir()
    (specs / "tiny.yaml").write_text(textwrap.dedent(TINY))
    env = {**os.environ, "RNNAUDIO_EXPERIMENTS": str(specs)}
    base = [f"dataset.root={synth_corpus}", f"features.cache_dir={feature_cache}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
            f"tracking.artifact_root={tmp_path / 'mlartifacts'}", "trainer.progress=false"]

    def run(command: str, *extra: str) -> subprocess.CompletedProcess:
        result = subprocess.run([RNNAUDIO, command, "experiment=tiny", *base, *extra],
                                cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=600, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    return tmp_path, run


def row_runs(work: Path):
    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    try:
        runs = mlflow.search_runs(experiment_names=["rnnaudio"],
                                  filter_string="tags.`rnnaudio.experiment` = 'tiny'")
    finally:
        mlflow.set_tracking_uri(None)
    return runs[runs["metrics.test_acc"].notna()]


def test_every_row_and_seed_runs_once_and_a_failed_one_is_rerun(workspace):
    work, run = workspace
    first = run("run")
    assert "4 row runs done, 0 finished earlier" in first.stdout
    runs = row_runs(work)
    assert sorted(zip(runs["tags.rnnaudio.row"], runs["tags.rnnaudio.seed"], strict=True)) == [
        ("gru-8", "0"), ("gru-8", "1"), ("rnn-8", "0"), ("rnn-8", "1")]
    assert set(runs["params.model.hidden_size"]) == {"8"}

    crashed = runs[(runs["tags.rnnaudio.row"] == "gru-8") & (runs["tags.rnnaudio.seed"] == "1")]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    client.set_terminated(crashed["run_id"].iloc[0], "FAILED")
    again = run("run")
    assert "1 row runs done, 3 finished earlier and skipped" in again.stdout


def test_the_report_equals_a_direct_aggregation_of_the_runs(workspace):
    work, run = workspace
    run("run")
    report = run("report")
    folder = work / "reports" / "tiny"
    assert {p.name for p in folder.iterdir()} == {"table.md", "table.tex", "table.csv", "figures"}
    assert (folder / "figures" / "rows.png").stat().st_size > 0
    assert "\\toprule" in (folder / "table.tex").read_text()

    import pandas as pd

    table = pd.read_csv(folder / "table.csv")
    runs = row_runs(work)
    direct = runs.groupby("tags.rnnaudio.row")["metrics.test_acc"].agg(["mean", "std"])
    for row in table.itertuples():
        assert row.mean == pytest.approx(direct.loc[row.row, "mean"], abs=1e-12)
        assert row.std == pytest.approx(direct.loc[row.row, "std"], abs=1e-12)
        assert row.n == 2
    assert list(table["hidden"]) == [8, 8]
    rnn = table.set_index("row").loc["rnn-8"]
    assert rnn.published == 0.5 and rnn.difference == pytest.approx(rnn["mean"] - 0.5)
    assert "rnn-8" in report.stdout


def test_changed_settings_run_again_and_the_report_reads_the_latest_runs(workspace):
    work, run = workspace
    run("run")
    changed = run("run", "trainer.lr=0.01")
    assert "4 row runs done, 0 finished earlier" in changed.stdout
    shown_otherwise = run("run", "trainer.lr=0.01", "tracking.run_name=again")
    assert "0 row runs done, 4 finished earlier and skipped" in shown_otherwise.stdout

    run("report")
    import pandas as pd

    # The latest runs are a variant of the file: a command-line override changed a result.
    table = pd.read_csv(work / "reports" / "tiny-not-comparable" / "table.csv").set_index("row")
    runs = row_runs(work)
    latest = runs[runs["params.trainer.lr"] == "0.01"]
    assert len(runs) == 8 and len(latest) == 4
    direct = latest.groupby("tags.rnnaudio.row")["metrics.test_acc"].mean()
    for row in ("rnn-8", "gru-8"):
        assert table.loc[row, "n"] == 2
        assert table.loc[row, "mean"] == pytest.approx(direct[row], abs=1e-12)


def test_rows_on_a_corpus_without_a_test_split_are_refused_before_any_row(workspace,
                                                                           monkeypatch):
    work, _ = workspace
    from rnnaudio.config import ConfigError
    from rnnaudio.experiment.runner import run_experiment

    monkeypatch.setenv("RNNAUDIO_EXPERIMENTS", str(work / "experiments"))
    esc50 = work / "ESC-50-master"
    with pytest.raises(ConfigError) as error:
        run_experiment(["+experiment=tiny", "dataset=esc50", f"dataset.root={esc50}",
                        f"tracking.uri=sqlite:///{work / 'mlflow.db'}"], work / "out")
    assert str(error.value) == (
        "experiment=tiny row 'rnn-8': every row scores on the test split, and dataset=esc50 "
        "has none with "
        "dataset.test_folds=[]; hold a predefined fold out, e.g. dataset.test_folds=[5]")
    assert not (work / "mlflow.db").exists() and not (work / "out").exists()


def test_a_later_rows_sweep_that_no_trial_could_run_is_refused_before_the_first_row(
        tmp_path, monkeypatch):
    from rnnaudio.config import ConfigError
    from rnnaudio.experiment.runner import run_experiment

    (tmp_path / "typo.yaml").write_text(
        "study_name: typo\nn_trials: 2\nspace: {model.cell: {choices: [rnn, lstn]}}\n")
    (tmp_path / "two.yaml").write_text(textwrap.dedent("""\
        name: two
        seeds: [0]
        rows:
          - {name: plain, overrides: [model=rnn]}
          - {name: swept, overrides: [model=gru], sweep: typo}
        """))
    monkeypatch.setenv("RNNAUDIO_EXPERIMENTS", str(tmp_path))
    monkeypatch.setenv("RNNAUDIO_SWEEPS", str(tmp_path))
    with pytest.raises(ConfigError) as error:
        run_experiment(["+experiment=two", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"],
                       tmp_path / "out")
    assert str(error.value) == ("experiment=two row 'swept': sweep.space.model.cell: 'lstn' "
                                "gives no valid config: model.cell='lstn' is not one of: rnn, "
                                "lstm, gru")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "out").exists()


def test_a_row_run_again_under_other_settings_sweeps_in_a_study_of_its_own(
        synth_corpus, feature_cache, tmp_path, monkeypatch):
    """Its sweep does not resume the old study (whose trials ran under the old settings),
    and the report draws only the new study's trials beside the row's new numbers."""
    import optuna

    from rnnaudio.compose import compose_config
    from rnnaudio.experiment.runner import run_experiment
    from rnnaudio.report.build import _row_studies, build_report
    from rnnaudio.report.tables import ROW_SEED, latest_runs, runs_frame
    from rnnaudio.tracking.runs import RunTracker

    (tmp_path / "two.yaml").write_text(
        "study_name: two\nn_trials: 2\nsampler: grid\n"
        "space: {model.hidden_size: {choices: [8, 16]}}\n")
    (tmp_path / "swept.yaml").write_text(textwrap.dedent("""\
        name: swept
        seeds: [0]
        overrides: [cv.folds=2, trainer.max_epochs=1]
        rows:
          - {name: gru, overrides: [model=gru], sweep: two}
        """))
    monkeypatch.setenv("RNNAUDIO_EXPERIMENTS", str(tmp_path))
    monkeypatch.setenv("RNNAUDIO_SWEEPS", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # optuna.db, as the sweep spec leaves it, lands here
    base = ["+experiment=swept", f"dataset.root={synth_corpus}",
            f"features.cache_dir={feature_cache}", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}",
            f"tracking.artifact_root={tmp_path / 'mlartifacts'}", "trainer.progress=false"]
    run_experiment(base, tmp_path / "first")
    run_experiment([*base, "trainer.lr=0.01"], tmp_path / "second")

    studies = optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert sorted(s.n_trials for s in studies) == [2, 2]
    cfg = compose_config([*base, "+report=default", f"report.out_dir={tmp_path / 'reports'}"])
    tracker = RunTracker(cfg.tracking, create=False)
    rows = runs_frame(tracker.client, tracker.experiment_id, "tags.`rnnaudio.experiment` = 'swept'")
    latest = _row_studies(latest_runs(rows, ROW_SEED, cfg.experiment.metric), cfg.experiment)
    assert len(latest) == 1 and list(latest.values()) == ["gru"]
    newest = max(studies, key=lambda s: s.datetime_start).study_name
    assert list(latest) == [newest]
    assert (build_report(cfg).folder / "figures" / "cv_loss_by_hidden_size.png").is_file()


def test_a_smoke_run_shrinks_every_rows_sweep_and_is_not_comparable(synth_corpus,
                                                                     feature_cache, tmp_path):
    import optuna

    (tmp_path / "two.yaml").write_text(
        "study_name: two\nn_trials: 2\nsampler: grid\n"
        "space: {model.hidden_size: {choices: [8, 16]}}\n")
    (tmp_path / "swept.yaml").write_text(
        "name: swept\nseeds: [0]\noverrides: [cv.folds=2, trainer.max_epochs=1]\n"
        "rows:\n  - {name: gru, overrides: [model=gru], sweep: two}\n")
    env = {**os.environ, "RNNAUDIO_EXPERIMENTS": str(tmp_path), "RNNAUDIO_SWEEPS": str(tmp_path)}
    result = subprocess.run(
        [RNNAUDIO, "run", "experiment=swept", "sweep.n_trials=1", f"dataset.root={synth_corpus}",
         f"features.cache_dir={feature_cache}", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}",
         f"tracking.artifact_root={tmp_path / 'mlartifacts'}", "trainer.progress=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    studies = optuna.get_all_study_summaries(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert [s.n_trials for s in studies] == [1]
    assert (tmp_path / "reports" / "swept-not-comparable" / "table.md").is_file()
    assert not (tmp_path / "reports" / "swept").exists()
