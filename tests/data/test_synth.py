"""The embedded corpus is the Google Speech Commands layout, reproducible to the byte."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from rnnaudio.config import ConfigError, DatasetConfig, SynthConfig
from rnnaudio.data.corpora.speech_commands import which_set
from rnnaudio.data.prepare import ensure_corpus
from rnnaudio.data.synth import (
    COMMAND_WORDS,
    UNKNOWN_WORDS,
    build_synth_commands,
    check_split_speakers,
    is_built,
    min_test_speakers,
    synth_speakers,
)
from rnnaudio.data.synth_voices import MAX_SPEAKERS

CLIP_NAME = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")
SPEECH_COMMANDS_WORDS = {
    *("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"),
    *("bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin"),
    *("nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero"),
}
RNNAUDIO = str(Path(sys.executable).parent / "rnnaudio")
# The fewest speakers `data synth` and a first use accept: fewer leave the test list empty.
FEWEST = 9
TINY = SynthConfig(speakers=4, repeats=2, noise_seconds=20.0, workers=2)
TINY_WORDS = ("yes", "marvin")


def clips(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.glob("*/*.wav")
        if not p.parent.name.startswith("_")
    )


def list_file(root: Path, name: str) -> set[str]:
    return set((root / name).read_text().split())


# --- speakers -------------------------------------------------------------------------


def test_default_configuration_has_at_least_40_distinct_speakers():
    speakers = synth_speakers(SynthConfig().speakers)
    assert len({s.hash for s in speakers}) >= 40
    assert len({s.description for s in speakers}) == len(speakers)


def test_default_speakers_spread_over_engines_accents_and_genders():
    speakers = synth_speakers(SynthConfig().speakers)
    assert {s.engine for s in speakers} == {"espeak-ng", "flite"}
    assert len({s.voice for s in speakers if s.engine == "espeak-ng"}) >= 8
    assert len({s.voice for s in speakers if s.engine == "flite"}) >= 4
    variants = {s.variant[0] for s in speakers if s.engine == "espeak-ng"}
    assert variants == {"m", "f"}


def test_speaker_hash_is_sha1_of_the_description():
    for speaker in synth_speakers(10):
        assert speaker.hash == hashlib.sha1(speaker.description.encode()).hexdigest()[:8]


def test_fewer_speakers_is_a_prefix_of_more():
    assert synth_speakers(10) == synth_speakers(48)[:10]


def test_speaker_pool_is_distinct_up_to_its_limit():
    assert len({s.hash for s in synth_speakers(MAX_SPEAKERS)}) == MAX_SPEAKERS
    with pytest.raises(ConfigError, match=r"dataset\.synth\.speakers"):
        synth_speakers(MAX_SPEAKERS + 1)


def test_words_are_speech_commands_words():
    assert COMMAND_WORDS == ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
    assert len(UNKNOWN_WORDS) >= 10
    assert set(UNKNOWN_WORDS) <= SPEECH_COMMANDS_WORDS - set(COMMAND_WORDS)


# --- layout of a built corpus ------------------------------------------------------------


def test_every_word_folder_holds_one_clip_per_speaker(synth_corpus):
    folders = {p.name for p in synth_corpus.iterdir() if p.is_dir()}
    assert folders == {*COMMAND_WORDS, *UNKNOWN_WORDS, "_background_noise_"}
    speakers = {s.hash for s in synth_speakers(32)}
    for word in (*COMMAND_WORDS, *UNKNOWN_WORDS):
        names = sorted(p.name for p in (synth_corpus / word).iterdir())
        assert all(CLIP_NAME.match(name) for name in names), names
        assert {name.split("_nohash_")[0] for name in names} == speakers


def test_clips_are_one_second_of_16khz_mono_16bit_speech(synth_corpus):
    for rel in clips(synth_corpus):
        info = sf.info(synth_corpus / rel)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000), rel
        assert info.subtype == "PCM_16"
    audio, _ = sf.read(synth_corpus / clips(synth_corpus)[0])
    assert 0.2 < abs(audio).max() < 1.0


def test_split_lists_follow_wardens_speaker_hash(synth_corpus):
    validation = list_file(synth_corpus, "validation_list.txt")
    testing = list_file(synth_corpus, "testing_list.txt")
    assert validation and testing
    for rel in clips(synth_corpus):
        expected = which_set(rel, 10, 10)
        assert (rel in validation, rel in testing) == (
            expected == "validation",
            expected == "testing",
        ), rel


def test_no_speaker_is_in_two_splits(synth_corpus):
    def speakers(rels):
        return {Path(rel).name.split("_nohash_")[0] for rel in rels}

    validation = list_file(synth_corpus, "validation_list.txt")
    testing = list_file(synth_corpus, "testing_list.txt")
    training = set(clips(synth_corpus)) - validation - testing
    assert not speakers(validation) & speakers(testing)
    assert not speakers(training) & (speakers(validation) | speakers(testing))


def test_background_noise_recordings(synth_corpus):
    noises = sorted((synth_corpus / "_background_noise_").glob("*.wav"))
    assert len(noises) >= 4
    for path in noises:
        info = sf.info(path)
        assert (info.samplerate, info.channels, info.frames) == (16000, 1, 30 * 16000)


def test_manifest_records_engines_speakers_and_checksums(synth_corpus):
    assert is_built(synth_corpus)
    manifest = json.loads((synth_corpus / "manifest.json").read_text())
    assert set(manifest["engines"]) == {"espeak-ng", "flite"}
    assert "1." in manifest["engines"]["espeak-ng"]
    assert manifest["config"]["speakers"] == 32
    on_disk = {
        p.relative_to(synth_corpus).as_posix()
        for p in synth_corpus.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(manifest["files"]) == on_disk
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((synth_corpus / rel).read_bytes()).hexdigest() == digest, rel
    table = manifest["speakers"]
    assert {Path(rel).name.split("_nohash_")[0] for rel in clips(synth_corpus)} == set(table)
    assert {"engine", "voice", "variant", "pitch", "rate"} <= set(next(iter(table.values())))


# --- building --------------------------------------------------------------------------


def test_building_twice_gives_identical_files(tmp_path):
    first = build_synth_commands(tmp_path / "a", TINY, progress=False, words=TINY_WORDS)
    second = build_synth_commands(tmp_path / "b", TINY, progress=False, words=TINY_WORDS)
    manifest = (first / "manifest.json").read_bytes()
    assert manifest == (second / "manifest.json").read_bytes()
    files = json.loads(manifest)["files"]
    assert len(files) == 4 * 2 * 2 + 2 + len(list((first / "_background_noise_").glob("*")))
    # repeats of one word by one speaker are different recordings
    speaker = synth_speakers(1)[0].hash
    assert files[f"yes/{speaker}_nohash_0.wav"] != files[f"yes/{speaker}_nohash_1.wav"]


def test_rebuild_replaces_an_earlier_build_in_place(tmp_path):
    root = tmp_path / "synth_commands"
    build_synth_commands(root, TINY, progress=False, words=("yes",))
    build_synth_commands(root, TINY, progress=False, words=("no",))
    assert (root / "no").is_dir() and not (root / "yes").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["synth_commands"]


def test_refuses_to_overwrite_a_folder_that_is_not_a_corpus(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        build_synth_commands(tmp_path, TINY, progress=False, words=("yes",))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_missing_engine_names_the_program_and_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError) as error:
        build_synth_commands(tmp_path / "corpus", TINY, progress=False)
    message = str(error.value)
    assert "'espeak-ng'" in message and "apt-get install espeak-ng flite" in message
    assert "\n" not in message
    assert not list(tmp_path.glob("*corpus*"))


def test_failed_build_leaves_no_corpus_behind(tmp_path, monkeypatch):
    # A real program that fails like a broken engine would, first on PATH.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "espeak-ng"
    broken.write_text("#!/bin/sh\necho 'broken voice data' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(RuntimeError, match="broken voice data"):
        build_synth_commands(tmp_path / "corpus", TINY, progress=False, words=("yes",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def test_bad_words_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="words"):
        build_synth_commands(tmp_path / "c", TINY, progress=False, words=("../up",))


# --- too few speakers --------------------------------------------------------------------


def hashed_sets(n: int) -> set[str]:
    return {which_set(f"{s.hash}_nohash_0.wav", 10, 10) for s in synth_speakers(n)}


def test_the_fewest_speakers_is_the_first_prefix_with_a_test_speaker_by_wardens_hash():
    assert min_test_speakers() == FEWEST
    assert "testing" in hashed_sets(FEWEST) and "testing" not in hashed_sets(FEWEST - 1)
    check_split_speakers(SynthConfig(speakers=FEWEST))  # its validation list is still empty


def test_a_first_use_with_too_few_speakers_is_refused_before_any_engine_runs(tmp_path,
                                                                           monkeypatch):
    # No engine on PATH: an engine's error here would mean the check came too late.
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    dataset = DatasetConfig(root=str(tmp_path / "corpus"), synth=SynthConfig(speakers=8))
    with pytest.raises(ConfigError) as error:
        ensure_corpus(dataset, progress=False)
    assert str(error.value) == (
        "dataset.synth.speakers=8 leaves testing_list.txt empty (Warden's hash of the speaker "
        "ids puts none of the first 8 speakers there); "
        f"valid values are >= {FEWEST} and <= {MAX_SPEAKERS}"
    )
    assert list(tmp_path.iterdir()) == []


def test_data_synth_with_too_few_speakers_exits_2_with_one_line(tmp_path):
    root = tmp_path / "synth_commands"
    result = subprocess.run(
        [RNNAUDIO, "data", "synth", f"dataset.root={root}", "dataset.synth.speakers=8",
         "dataset.synth.repeats=1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "rnnaudio: error: dataset.synth.speakers=8 leaves testing_list.txt empty (Warden's "
        "hash of the speaker ids puts none of the first 8 speakers there); valid values are "
        f">= {FEWEST} and <= {MAX_SPEAKERS}"
    ]
    assert not root.exists()
