"""The command line as a user types it: bad input exits 2 with one line, before any work."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

RNNAUDIO = str(Path(sys.executable).parent / "rnnaudio")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([RNNAUDIO, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, env=env)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "model=transformer"], "model='transformer' is not one of: gru, lstm, rnn"),
        (["train", "model.cell=transformer"], "model.cell='transformer' is not one of"),
        (["train", "model.hidden_size=0"], "model.hidden_size=0 is out of range"),
        (["train", "cv.folds=1"], "cv.folds=1 is out of range; valid values are >= 2"),
        (["train", "dataset=speech_commands", "dataset.root=/no/such/corpus"],
         "dataset.root='/no/such/corpus' is not a directory"),
        (["frobnicate"], "command 'frobnicate' is not one of: train, sweep, run, report, data"),
        (["data", "shuffle"], "data action 'shuffle' is not one of: synth"),
        (["train", "sweep.n_trials=2"], "sweep.n_trials: no sweep is chosen here"),
        # In run, sweep.* changes every row's sweep: not the experiment's own keys, not a
        # table without sweeps.
        (["run", "experiment=seed_cells", "sweep.study_name=mine"],
         "sweep.study_name=mine: not a change to the rows' sweeps; valid is "
         "sweep.<field>=<value>"),
        (["run", "experiment=seed_cells", "~sweep.timeout"],
         "~sweep.timeout: a row's sweep spec has every field, so drop the + or ~"),
        (["run", "experiment=seed_cells", "sweep.n_trials=2",
          "experiment.sweep_overrides=['sweep.seed=5']"],
         "sweep.n_trials=2: give the rows' sweep changes as sweep.<field>=<value> alone"),
        (["run", "experiment=hello_edge_kws", "sweep.n_trials=2"],
         "sweep.n_trials=2: no row of experiment 'hello_edge_kws' has a sweep for it to change"),
        (["run", "-m", "experiment=seed_cells", "sweep.n_trials=2,4"],
         "sweep.n_trials=2,4: each row's sweep takes one value; run `rnnaudio run` once per"),
        (["run", "experiment=seed_cells", "seed=3"],
         "seed=3: each row runs under the experiment's seeds; give them as experiment.seeds"),
        (["train", "augment.noise_snr_db=[0,20]", "augment.noise_dir=/no/noise"],
         "needs noise files and /no/noise is not a folder"),
        # Each job of a multirun, before the first one runs.
        (["train", "-m", "model=rnn,transformer"], "model='transformer' is not one of"),
        (["train", "-m", "model.hidden_size=8,-1"], "model.hidden_size=-1 is out of range"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be created before validation passes"


def test_a_sweep_whose_space_holds_a_bad_choice_exits_2_before_any_work(tmp_path):
    specs, work = tmp_path / "specs", tmp_path / "work"
    specs.mkdir()
    work.mkdir()
    (specs / "typo.yaml").write_text(
        "study_name: typo\nn_trials: 3\nspace: {model.cell: {choices: [rnn, lstn]}}\n")
    result = run("sweep", "sweep=typo", cwd=work,
                 env={**os.environ, "RNNAUDIO_SWEEPS": str(specs)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "rnnaudio: error: sweep.space.model.cell: 'lstn' gives no valid config: "
        "model.cell='lstn' is not one of: rnn, lstm, gru"]
    assert list(work.iterdir()) == []


def test_an_experiment_with_a_bad_later_row_exits_2_before_any_work(tmp_path):
    specs, work = tmp_path / "specs", tmp_path / "work"
    specs.mkdir()
    work.mkdir()
    (specs / "two.yaml").write_text(
        "name: two\nseeds: [0]\nrows:\n  - {name: plain, overrides: [model=rnn]}\n"
        "  - {name: bad, overrides: [model=gru, model.hidden_size=-3]}\n")
    result = run("run", "experiment=two", cwd=work,
                 env={**os.environ, "RNNAUDIO_EXPERIMENTS": str(specs)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "rnnaudio: error: experiment=two row 'bad': model.hidden_size=-3 is out of range; "
        "valid values are >= 1"]
    assert list(work.iterdir()) == [], "Hydra's output folder comes after the rows' check"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_a_gpu_trainer_without_a_gpu_exits_2_before_any_work(tmp_path):
    result = run("train", "trainer=gpu", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"rnnaudio: error: trainer.accelerator='gpu', but torch {torch.__version__} sees no "
        "CUDA GPU on this machine; valid here are trainer=cpu and trainer=auto"]
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_a_job_imports_its_libraries_is_one_line(synth_corpus, tmp_path):
    # Hydra makes the job's folder just before the job imports torch and Lightning for
    # seconds: a Ctrl-C then used to print the import's traceback.
    job = subprocess.Popen(
        [RNNAUDIO, "train", f"dataset.root={synth_corpus}", f"features.cache_dir={tmp_path}/c",
         f"tracking.uri=sqlite:///{tmp_path}/m.db", "hydra.run.dir=job"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        stdin=subprocess.DEVNULL,
        # As at a terminal: a CI job started in the background inherits SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not (tmp_path / "job").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # Hydra's config files written; the job's seconds of imports under way
    job.send_signal(signal.SIGINT)
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "rnnaudio: interrupted; its runs end KILLED in MLflow; the same command trains again "
        "from the start")


def test_hydra_cfg_flag_prints_the_composed_job(tmp_path):
    result = run("train", "model=gru", "model.hidden_size=96", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cell: gru" in result.stdout and "hidden_size: 96" in result.stdout


def test_help_lists_the_commands(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "train" in result.stdout and "data synth" in result.stdout
