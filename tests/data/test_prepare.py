"""Preparing data: processes that need the embedded corpus at once build it once, and a
split the run needs that has no clip stops it in one line before any feature or fold."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest
from miniature import build_esc50, build_fsdd, build_speech_commands_v2, train_overrides

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError, DatasetConfig, SynthConfig
from rnnaudio.data import prepare
from rnnaudio.data.prepare import load_manifest
from rnnaudio.data.synth import is_built, synth_speakers
from rnnaudio.training.run import train

# 9: the fewest speakers whose hashes put one in the test list, so a first use accepts them.
TINY = SynthConfig(speakers=9, repeats=1, noise_seconds=20.0, workers=2)


def _ensure_and_read(root: str, builds: str) -> None:
    real = prepare.build_synth_commands

    def counted(*args, **kwargs):
        with open(builds, "a") as log:
            log.write("build\n")
        return real(*args, **kwargs)

    prepare.build_synth_commands = counted  # this forked process only
    prepare.ensure_corpus(DatasetConfig(name="synth_commands", root=root, synth=TINY),
                          progress=False)
    for wav in Path(root).rglob("*.wav"):
        wav.read_bytes()  # every file is there, none moved aside by a second build


def test_two_processes_needing_the_corpus_at_once_build_it_once(tmp_path: Path) -> None:
    root, builds = tmp_path / "synth_commands", tmp_path / "builds.txt"
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_ensure_and_read, args=(str(root), str(builds)))
                 for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(300)
    assert [p.exitcode for p in processes] == [0, 0]
    assert builds.read_text().splitlines() == ["build"]
    assert is_built(root)


# --- a split the run needs has no clip: refused before any feature or fold ------------------


def test_an_empty_testing_list_is_refused_in_one_line_before_any_feature(tmp_path: Path) -> None:
    root = tmp_path / "speech_commands_v0.02"
    build_speech_commands_v2(root, bad=False)
    (root / "testing_list.txt").write_text("")
    cfg = compose_config(train_overrides("speech_commands", root, tmp_path, "cv.folds=2"))
    with pytest.raises(ConfigError) as error:
        train(cfg)
    assert str(error.value) == (
        f"{root / 'testing_list.txt'} gives the test split no clip, and the final evaluation "
        "needs one; valid is a list of at least one <word>/<speaker>_nohash_<n>.wav of the "
        "corpus"
    )
    assert not (tmp_path / "cache").exists(), "no feature may be extracted, no fold trained"


def test_a_synth_corpus_built_with_too_few_speakers_names_the_rebuild(
    synth_corpus: Path, tmp_path: Path
) -> None:
    # What `rnnaudio data synth dataset.synth.speakers=8` wrote before it refused them:
    # the first 8 speakers' clips and two empty list files.
    root = tmp_path / "synth_commands"
    kept = {s.hash for s in synth_speakers(8)}
    shutil.copytree(synth_corpus, root, ignore=lambda folder, names: [
        n for n in names if n.endswith(".wav") and "_nohash_" in n and n[:8] not in kept])
    for name in ("validation_list.txt", "testing_list.txt"):
        (root / name).write_text("")
    with pytest.raises(ConfigError) as error:
        load_manifest(DatasetConfig(name="synth_commands", root=str(root)), seed=0)
    assert str(error.value) == (
        f"{root / 'testing_list.txt'} gives the test split no clip, and the final evaluation "
        "needs one; valid is a list of at least one <word>/<speaker>_nohash_<n>.wav of the "
        f"corpus, or rebuild it with: rnnaudio data synth dataset.root={root} "
        "dataset.synth.speakers=64"
    )


def test_fsdd_with_every_recording_in_its_test_split_has_none_to_train_on(tmp_path: Path) -> None:
    root = tmp_path / "fsdd"
    build_fsdd(root, indices=5, bad=False)  # indices 0-4 only: FSDD's test split
    with pytest.raises(ConfigError) as error:
        load_manifest(DatasetConfig(name="fsdd", root=str(root), task="all"), seed=0)
    assert str(error.value) == (
        f"{root} has no clip outside the test split (recordings with index 0-4), so none to "
        "train on; valid is a corpus with at least one clip outside it"
    )


def test_fsdd_without_its_test_recordings_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "fsdd"
    build_fsdd(root, bad=False)
    for path in (root / "recordings").glob("*_[0-4].wav"):
        path.unlink()
    with pytest.raises(ConfigError, match=r"recordings gives the test split no clip.*index 0-4"):
        load_manifest(DatasetConfig(name="fsdd", root=str(root), task="all"), seed=0)


def test_esc50_without_test_folds_cross_validates(tmp_path: Path) -> None:
    # Its test split is whatever dataset.test_folds holds out: none is a valid CV-only run.
    root = tmp_path / "ESC-50-master"
    build_esc50(root, bad=False)
    dataset = DatasetConfig(name="esc50", root=str(root), task="all")
    assert (load_manifest(dataset, seed=0)["split"] == "train").all()
    with pytest.raises(ConfigError) as error:
        dataset.check_test_split("a refit")
    assert str(error.value) == (
        "a refit scores on the test split, and dataset=esc50 has none with "
        "dataset.test_folds=[]; hold a predefined fold out, e.g. dataset.test_folds=[5]"
    )
    held_out = DatasetConfig(name="esc50", root=str(root), task="all", test_folds=[5])
    held_out.check_test_split("a refit")
    assert (load_manifest(held_out, seed=0)["split"] == "test").any()
