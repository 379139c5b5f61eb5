"""Free Spoken Digit Dataset (Jackson et al.): spoken digits 0-9, 8 kHz WAV.

Layout of the published repository (github.com/Jakobovski/free-spoken-digit-dataset)::

    <root>/recordings/<digit>_<speaker>_<index>.wav    e.g. 7_jackson_32.wav

Its README fixes the test set: recordings with index 0-4 of every speaker and digit; the
rest is cross-validated in speaker-disjoint folds.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from rnnaudio.config import ConfigError
from rnnaudio.data.corpora.manifest import corpus_root, finish, layout_error

CORPUS = "fsdd"
NAME = re.compile(r"^(?P<digit>\d)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)
TEST_INDICES = range(5)  # the README's official test split


def load_fsdd(root: Path, task: str = "all") -> pd.DataFrame:
    """Manifest of an FSDD tree: label is the digit, speaker from the file name.

    Files in ``recordings/`` whose names are not ``<digit>_<speaker>_<index>.wav`` are
    ignored (the repository keeps only recordings there). Raises :class:`ConfigError`.
    """
    if task != "all":
        raise ConfigError(f"dataset.task={task!r} is not one of: all")
    root = corpus_root(CORPUS, root, "recordings")
    recordings = root / "recordings"
    matches = [(path, NAME.match(path.name)) for path in sorted(recordings.iterdir())]
    found = [(path, m) for path, m in matches if m is not None and path.is_file()]
    if not found:
        raise layout_error(CORPUS, root, "has no recordings/<digit>_<speaker>_<index>.wav")
    rows = pd.DataFrame(
        {
            "path": [str(path) for path, _ in found],
            "label": [m["digit"] for _, m in found],
            "speaker": [m["speaker"] for _, m in found],
            "split": ["test" if int(m["index"]) in TEST_INDICES else "train" for _, m in found],
            "start": 0,
            "frames": -1,
        }
    )
    return finish(rows, sorted(rows["label"].unique()))
