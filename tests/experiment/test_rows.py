"""What each row runs, and the checks every shipped experiment passes before its first row."""

from pathlib import Path

import pytest

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.experiment.rows import (
    check_rows,
    file_settings,
    row_overrides,
    row_settings,
    sweep_overrides,
    user_overrides,
)

SHIPPED = sorted(p.stem for p in (Path(__file__).parents[2] / "experiments").glob("*.yaml"))


@pytest.fixture(scope="module")
def speech_commands(tmp_path_factory) -> Path:
    """An empty folder in the Speech Commands layout: the rows' checks never read a clip."""
    root = tmp_path_factory.mktemp("speech_commands")
    for name in ("validation_list.txt", "testing_list.txt"):
        (root / name).touch()
    return root


@pytest.mark.parametrize("name", SHIPPED)
def test_every_row_of_a_shipped_experiment_composes_with_its_sweep(name, speech_commands):
    check_rows([f"+experiment={name}", f"dataset.root={speech_commands}"])


def test_a_missing_corpus_is_refused_before_the_first_row(tmp_path):
    with pytest.raises(ConfigError, match=r"^experiment=hello_edge_kws row 'LSTM-S': "
                                          r"dataset.root='/no/such' is not a directory"):
        check_rows(["+experiment=hello_edge_kws", "dataset.root=/no/such"])


def test_the_command_line_wins_over_the_row_which_wins_over_the_experiment():
    experiment = compose_config(["+experiment=seed_cells"]).experiment
    row = experiment.rows[3]
    user = user_overrides(["+experiment=seed_cells", "experiment.seeds=[0]", "cv.folds=2"])
    assert user == ["cv.folds=2"]
    base = row_overrides(experiment, row, user)
    cfg = compose_config(base)
    assert (cfg.cv.folds, cfg.trainer.max_epochs) == (2, 20)
    assert (cfg.model.cell, cfg.model.attention) == ("gru", "additive")
    swept = sweep_overrides(experiment, row, base)
    spec = compose_config(swept).sweep
    assert (spec.study_name, spec.refit) == (
        f"seed_cells-gru+attention-{row_settings(base, 'hidden_units')}", False)
    # The same row under other settings sweeps in a study of its own.
    other = row_overrides(experiment, row, ["cv.folds=4"])
    assert compose_config(sweep_overrides(experiment, row, other)).sweep.study_name not in (
        spec.study_name, "seed_cells-gru+attention")


@pytest.mark.parametrize(("spec", "message"), [
    ("rows:\n  - {name: plain, overrides: [model=rnn]}\n"
     "  - {name: typo, overrides: [model=gruu]}\n",
     r"^experiment=own row 'typo': model='gruu' is not one of: gru, lstm, rnn$"),
    # A file names a sweep spec; sweep_overrides are the command line's.
    ("sweep_overrides: [sweep.n_trials=4]\n"
     "rows:\n  - {name: gru, overrides: [model=gru], sweep: hidden_units}\n",
     r"^experiment 'own' sets sweep_overrides in its file; name a sweep spec of sweeps/"),
])
def test_a_file_whose_rows_cannot_run_is_named(spec, message, tmp_path, monkeypatch):
    (tmp_path / "own.yaml").write_text(f"name: own\n{spec}")
    monkeypatch.setenv("RNNAUDIO_EXPERIMENTS", str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        check_rows(["+experiment=own"])


def test_an_edit_to_a_rows_sweep_spec_is_a_change_of_its_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNAUDIO_SWEEPS", str(tmp_path))
    spec = tmp_path / "units.yaml"
    spec.write_text("study_name: units\nn_trials: 4\nspace: {model.hidden_size: "
                    "{type: int, low: 8, high: 64}}\n")
    before = row_settings(["model=gru"], "units")
    assert row_settings(["model=gru", "tracking.run_name=x"], "units") == before
    spec.write_text(spec.read_text().replace("n_trials: 4", "n_trials: 8"))
    assert row_settings(["model=gru"], "units") != before


def test_sweep_overrides_change_every_rows_sweep_and_its_settings():
    from rnnaudio.cli import _row_sweeps

    overrides = _row_sweeps(["+experiment=seed_cells", "sweep.n_trials=2", "cv.folds=2",
                             "sweep.sampler=random"])
    assert overrides[-1] == "experiment.sweep_overrides=['sweep.n_trials=2','sweep.sampler=random']"
    # Quotes, backslashes, commas and brackets reach the sweep as typed.
    typed = ["sweep.storage=sqlite:///C:\\dir\\x.db", "sweep.sampler=it's",
             "sweep.overrides=['trainer.max_epochs=2','cv.folds=2']", "sweep.timeout=a\\"]
    assert compose_config(_row_sweeps(["+experiment=seed_cells", *typed])
                          ).experiment.sweep_overrides == typed
    experiment = compose_config(overrides).experiment
    base = row_overrides(experiment, experiment.rows[0], user_overrides(overrides))
    assert base[-1] == "cv.folds=2"
    spec = compose_config(sweep_overrides(experiment, experiment.rows[0], base)).sweep
    assert (spec.n_trials, spec.sampler, spec.pruner) == (2, "random", "median")
    settings = row_settings(base, "hidden_units", experiment.sweep_overrides)
    assert spec.study_name == f"seed_cells-rnn-{settings}"
    assert settings != row_settings(base, "hidden_units")


def test_settings_are_compared_as_composed_and_only_where_they_can_change_a_result():
    plain = row_settings([], None)
    for alike in (["trainer=gpu"], ["trainer.accelerator=gpu"], ["trainer.max_epochs=20"],
                  ["dataset=synth_commands"], ["tracking.uri=sqlite:///m.db", "dataset.root=/d"],
                  ["trainer.steps_per_execution=4"]):
        assert row_settings(alike, None) == plain, alike
    for other in (["trainer.max_epochs=2"], ["dataset.clip_seconds=2.0"], ["model=gru"]):
        assert row_settings(other, None) != plain, other
    experiment = compose_config(["+experiment=seed_cells"]).experiment
    row = experiment.rows[1]
    assert file_settings(experiment)[row.name] == row_settings(
        row_overrides(experiment, row, ["trainer=cpu", "features.cache_dir=/c"]), row.sweep)


def test_a_table_on_a_corpus_that_needs_a_root_has_file_settings_without_one():
    experiment = compose_config(["+experiment=hello_edge_kws"]).experiment
    written = file_settings(experiment)
    assert list(written) == [row.name for row in experiment.rows]
    row = experiment.rows[0]
    assert written[row.name] == row_settings(
        row_overrides(experiment, row, ["dataset.root=/data/sc"]), row.sweep)


@pytest.mark.parametrize(("override", "message"), [
    ("seed=3", r"^seed=3: each row runs under the experiment's seeds; give them as "
               r"experiment\.seeds=\[\.\.\.\]$"),
    ("experiment.metric=test_f1", r"^experiment\.metric=test_f1: experiment\.metric is "
                                  r"the experiment file's own; change every row with plain "
                                  r"overrides"),
])
def test_what_only_the_file_decides_is_refused_on_the_command_line(override, message):
    with pytest.raises(ConfigError, match=message):
        check_rows(["+experiment=seed_cells", override])
