"""What each row runs, and the checks every shipped experiment passes before its first row."""

from pathlib import Path

import pytest

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.experiment.rows import (
    check_rows,
    reproduces_file,
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


def test_a_row_that_does_not_compose_is_named(tmp_path, monkeypatch):
    (tmp_path / "two.yaml").write_text(
        "name: two\nrows:\n  - {name: plain, overrides: [model=rnn]}\n"
        "  - {name: typo, overrides: [model=gruu]}\n")
    monkeypatch.setenv("RNNAUDIO_EXPERIMENTS", str(tmp_path))
    with pytest.raises(ConfigError, match=r"^experiment=two row 'typo': model='gruu' is not one "
                                          r"of: gru, lstm, rnn$"):
        check_rows(["+experiment=two"])


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
    experiment = compose_config(overrides).experiment
    base = row_overrides(experiment, experiment.rows[0], user_overrides(overrides))
    assert base[-1] == "cv.folds=2"
    spec = compose_config(sweep_overrides(experiment, experiment.rows[0], base)).sweep
    assert (spec.n_trials, spec.sampler, spec.pruner) == (2, "random", "median")
    settings = row_settings(base, "hidden_units", experiment.sweep_overrides)
    assert spec.study_name == f"seed_cells-rnn-{settings}"
    assert settings != row_settings(base, "hidden_units")


@pytest.mark.parametrize(("overrides", "reproduces"), [
    (["+experiment=x", "experiment.seeds=[0]", "dataset.root=/d", "tracking.uri=sqlite:///m.db",
      "trainer.accelerator=gpu", "features.cache_dir=/c"], True),
    (["+experiment=x", "dataset=synth_commands"], False),
    (["+experiment=x", "trainer.max_epochs=2"], False),
    (["+experiment=x", "experiment.sweep_overrides=['sweep.n_trials=2']"], False),
    (["+experiment=x", "experiment.overrides=[cv.folds=2]"], False),
])
def test_only_overrides_that_cannot_change_a_result_reproduce_the_file(overrides, reproduces):
    assert reproduces_file(overrides) is reproduces
