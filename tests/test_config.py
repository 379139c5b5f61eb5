"""Every bad value stops with one line naming the field, the value and what is valid."""

import pytest

from rnnaudio.compose import compose_config
from rnnaudio.config import Config, ConfigError
from rnnaudio.config.checks import without_password


def test_defaults_compose_to_the_schema():
    cfg = compose_config()
    assert isinstance(cfg, Config)
    assert (cfg.dataset.name, cfg.model.cell, cfg.features.kind) == ("synth_commands", "lstm",
                                                                     "mfcc")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_cell_is_a_config_group_choice(cell):
    assert compose_config([f"model={cell}"]).model.cell == cell


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=transformer"], "model='transformer' is not one of: gru, lstm, rnn"),
        (["model.cell=transformer"], "model.cell='transformer' is not one of: rnn, lstm, gru"),
        (["model.hidden_size=0"], "model.hidden_size=0 is out of range; valid values are >= 1"),
        (["model.hidden_size=-5"], "model.hidden_size=-5 is out of range"),
        (["model.hidden_size=abc"], "model.hidden_size='abc' is not a positive integer or 'auto'"),
        (["cv.folds=1"], "cv.folds=1 is out of range; valid values are >= 2"),
        (["trainer.steps_per_execution=0"],
         "trainer.steps_per_execution=0 is out of range; valid values are >= 1"),
        (["trainer.devices=2"],
         "trainer.devices=2 is not supported; the only valid value is 1 (a fit trains on one"),
        (["trainer.devices=0"], "trainer.devices=0 is not supported"),
        (["trainer=tpu"], "trainer='tpu' is not one of: auto, cpu, gpu"),
        (["features.kind=wavelet"], "features.kind='wavelet' is not one of: mfcc, logmel"),
        (["dataset=speech_commands"], "dataset.root is required"),
        (["model.hiden_size=3"], "model.hiden_size is not a config field"),
        (["dataset=jsb", "dataset.jsb.split_seed=1"],
         "dataset.jsb.split_seed is now dataset.split_seed"),
    ],
)
def test_bad_values_name_field_value_and_choices(overrides, message):
    with pytest.raises(ConfigError) as error:
        compose_config(overrides)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_corpus_root_is_caught_before_any_work(tmp_path):
    cfg = compose_config(["dataset=speech_commands", f"dataset.root={tmp_path / 'absent'}"])
    with pytest.raises(ConfigError, match=r"dataset.root=.*absent' is not a directory"):
        cfg.dataset.check_root()


@pytest.mark.parametrize(("text", "shown"), [
    ("postgresql://u:s3cret@db/optuna", "postgresql://u:***@db/optuna"),
    ("postgresql://u:p@ss@db/optuna", "postgresql://u:***@db/optuna"),  # "@" in a password
    ("http://u:s3cret@[::1:5000", "http://u:***@[::1:5000"),  # no URL for urllib
    ("mysql://db/x?user=u&Password=s3cret&ssl=1", "mysql://db/x?user=u&Password=***&ssl=1"),
    ("at postgresql://u:s3cret@db/x: refused", "at postgresql://u:***@db/x: refused"),
    ("uri='mysql://db/x?password=s3cret' is bad", "uri='mysql://db/x?password=***' is bad"),
    ("postgresql://db/x?sslpassword=s3cret", "postgresql://db/x?sslpassword=***"),
    ("http://host:5000/a@b", "http://host:5000/a@b"),
    ("http://host:5000?next=a@b", "http://host:5000?next=a@b"),  # a port, not a password
    ("postgresql://u:ab#cd@db/x", "postgresql://u:***@db/x"),  # SQLAlchemy takes these raw
    ("postgresql://u:a?b@db/x", "postgresql://u:***@db/x"),
    ("postgresql://u:1234@db:5432/x", "postgresql://u:***@db:5432/x"),
    ("postgresql://me@corp.com:s3cret@db/x", "postgresql://me@corp.com:***@db/x"),
    ("postgresql://me@db:5432/x", "postgresql://me@db:5432/x"),
    ("http://user@host", "http://user@host"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
])
def test_a_password_is_masked_wherever_a_message_quotes_a_url(text, shown):
    assert without_password(text) == shown


@pytest.fixture
def spec_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNAUDIO_SWEEPS", str(tmp_path))
    (tmp_path / "fine.yaml").write_text(
        "study_name: fine\nn_trials: 2\nspace: {model.cell: {choices: [rnn, gru]}}\n")
    return tmp_path


def test_a_spec_file_that_is_not_yaml_is_left_out_and_named_when_chosen(spec_folder, caplog):
    (spec_folder / "broken.yaml").write_text("study_name: x\nspace: {a: [\n")
    assert compose_config(["+sweep=fine"]).sweep.n_trials == 2
    assert f"sweep spec left out: {spec_folder / 'broken.yaml'} is not readable YAML" in caplog.text
    with pytest.raises(ConfigError) as error:
        compose_config(["+sweep=broken"])
    assert str(error.value) == (f"{spec_folder / 'broken.yaml'} is not readable YAML: expected "
                                "the node content, but found '<stream end>' at line 3, column 1")


@pytest.mark.parametrize(("text", "message"), [
    ("study_name: x\nlgo: true\n",
     "sweep.lgo in {file} is not a config field; see `rnnaudio train --cfg job`"),
    ("- study_name\n- x\n", "{file} is a list; a sweep file is a mapping of field: value"),
])
def test_a_spec_file_with_a_wrong_shape_names_the_file_and_what_is_wrong(spec_folder, text,
                                                                          message):
    (spec_folder / "odd.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        compose_config(["+sweep=odd"])
    assert str(error.value) == message.format(file=spec_folder / "odd.yaml")


@pytest.mark.parametrize(("override", "how"), [
    ("sweep.n_trials=2", "`rnnaudio sweep sweep=<name>`, +sweep=<name> in `rnnaudio train`, "
                         "or as the rows' sweeps in `rnnaudio run experiment=<name>`"),
    ("experiment.seeds=[0]", "`rnnaudio run experiment=<name>`; its rows' settings go in"),
    ("report.metric=test_acc", "`rnnaudio report`"),
])
def test_a_field_of_a_part_no_override_chooses_is_one_line(override, how):
    key, group = override.split("=")[0], override.split(".")[0]
    with pytest.raises(ConfigError) as error:
        compose_config([override])
    assert str(error.value).startswith(
        f"{key}: no {group} is chosen here, so it has no fields to set; {group} settings come "
        f"with {how}")
    assert compose_config(["+sweep=demo", "sweep.n_trials=2"]).sweep.n_trials == 2


def test_an_unreadable_spec_is_named_even_where_an_earlier_folder_has_one_of_its_name(
        spec_folder):
    (spec_folder / "demo.yaml").write_text("study_name: [\n")  # the packaged demo stays valid
    with pytest.raises(ConfigError, match=r"demo\.yaml is not readable YAML"):
        compose_config(["+sweep=demo"])


def test_a_noise_folder_is_checked_before_work_unless_the_corpus_will_bring_its_own(tmp_path):
    noise = ["augment.noise_snr_db=[0,20]"]
    embedded = tmp_path / "synth_commands"
    cfg = compose_config([*noise, f"dataset.root={embedded}"])
    cfg.augment.check_noise_folder(cfg.dataset)  # generated with its _background_noise_
    embedded.mkdir()
    with pytest.raises(ConfigError, match=r"synth_commands/_background_noise_ is not a folder"):
        cfg.augment.check_noise_folder(cfg.dataset)
    (embedded / "_background_noise_").mkdir()
    cfg.augment.check_noise_folder(cfg.dataset)
    elsewhere = compose_config([*noise, f"augment.noise_dir={tmp_path / 'none'}",
                                f"dataset.root={tmp_path / 'later'}"])
    with pytest.raises(ConfigError, match=r"^augment.noise_snr_db=\[0.0, 20.0\] needs noise files"):
        elsewhere.augment.check_noise_folder(elsewhere.dataset)
