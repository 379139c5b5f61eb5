"""Preparing data: processes that need the embedded corpus at once build it once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from rnnaudio.config import DatasetConfig, SynthConfig
from rnnaudio.data import prepare
from rnnaudio.data.synth import is_built

TINY = SynthConfig(speakers=2, repeats=1, noise_seconds=1.0, workers=1)


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
