"""The sequence task end to end: a tiny JSB table through `rnnaudio run` and `report`, and
the one-line errors of settings a next-step model cannot take."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pandas as pd
import pytest

pytest.importorskip("music21")

RNNAUDIO = str(Path(sys.executable).parent / "rnnaudio")

TINY_JSB = """\
name: tiny_jsb
comparable: true
metric: test_nll
seeds: [0]
overrides: [dataset=jsb, dataset.jsb.chorales=20, model.hidden_size=auto,
            model.param_budget=3000, cv.folds=2, trainer.max_epochs=2, trainer.batch_size=4]
rows:
  - {name: tanh, overrides: [model=rnn], published: 9.10, source: "Table 2"}
  - {name: GRU, overrides: [model=gru], published: 8.54, source: "Table 2"}
"""


def _rnnaudio(work: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([RNNAUDIO, *args], cwd=work, env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_a_tiny_jsb_table_runs_and_reports_nll_beside_the_paper(tmp_path: Path) -> None:
    specs = tmp_path / "experiments"
    specs.mkdir()
    (specs / "tiny_jsb.yaml").write_text(textwrap.dedent(TINY_JSB))
    env = {**os.environ, "RNNAUDIO_EXPERIMENTS": str(specs)}
    base = [f"dataset.root={tmp_path / 'rolls'}", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}",
            f"tracking.artifact_root={tmp_path / 'art'}", "trainer.progress=false"]
    result = _rnnaudio(tmp_path, "run", "experiment=tiny_jsb", *base, env=env)
    assert result.returncode == 0, result.stderr[-3000:]

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        runs = mlflow.search_runs(experiment_names=["rnnaudio"])
    finally:
        mlflow.set_tracking_uri(None)
    rows = runs[runs["metrics.test_nll"].notna()].set_index("tags.rnnaudio.row")
    assert sorted(rows.index) == ["GRU", "tanh"]
    for _, row in rows.iterrows():
        # NLL per step of 88 Bernoulli keys: positive, below the 61 nats of a coin flip.
        assert 0 < row["metrics.test_nll"] < 88 * 0.6932
        assert row["metrics.test_loss"] == row["metrics.test_nll"]
        assert abs(int(row["params.n_params"]) - 3000) < 300
    folds = runs[runs["params.cv.fold"].notna()]
    assert len(folds) == 4 and folds["metrics.best_val_loss"].notna().all()
    assert "metrics.cv_val_acc_mean" not in runs or runs["metrics.cv_val_acc_mean"].isna().all()

    table = pd.read_csv(tmp_path / "reports" / "tiny_jsb" / "table.csv").set_index("row")
    gru = table.loc["GRU"]
    assert gru["mean"] == pytest.approx(rows.loc["GRU", "metrics.test_nll"])
    assert gru.published == 8.54 and gru.difference == pytest.approx(gru["mean"] - 8.54)


@pytest.mark.parametrize(("override", "named"), [
    ("model.attention=additive", "model.attention=additive"),
    ("model.bidirectional=true", "model.bidirectional=True"),
    ("model.proj_size=8", "model.proj_size=8"),
    ("augment=speech", "augment"),
    ("diagnostics=grad_flow", "diagnostics=grad_flow"),
])
def test_settings_a_next_step_model_cannot_take_fail_in_one_line(tmp_path, override, named):
    result = _rnnaudio(tmp_path, "train", "dataset=jsb", override)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnnaudio: error: ")
    assert named in lines[0] and "sequence" in lines[0]
    assert not (tmp_path / "outputs").exists()
