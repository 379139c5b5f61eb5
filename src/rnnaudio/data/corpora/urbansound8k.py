"""UrbanSound8K (Salamon et al. 2014): 8732 urban-sound slices of up to 4 s, 10 classes,
10 predefined folds.

Layout of the published archive::

    <root>/metadata/UrbanSound8K.csv   slice_file_name,fsID,start,end,salience,fold,classID,class
    <root>/audio/fold<k>/<slice_file_name>   k = 1..10; mixed rates, channels and bit depths

The folds keep slices of one Freesound recording (``fsID``) together; the authors ask that
results use them as they are, so they become the cross-validation folds (``fold`` column).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnaudio.config import ConfigError
from rnnaudio.data.corpora.manifest import corpus_root, finish, layout_error, read_table

CORPUS = "urbansound8k"
REQUIRED = ("slice_file_name", "fsID", "fold", "classID", "class")


def load_urbansound8k(root: Path, task: str = "all") -> pd.DataFrame:
    """Manifest of an UrbanSound8K tree with its predefined ``fold`` column; reads no audio.

    ``speaker`` is the Freesound recording (``fsID``); classes are ordered by ``classID``.
    The CSV's ``start``/``end`` are times in that recording, not in the slice file, so each
    slice file is read whole. Raises :class:`ConfigError` for a root not in the layout.
    """
    if task != "all":
        raise ConfigError(f"dataset.task={task!r} is not one of: all")
    root = corpus_root(CORPUS, root, "audio")
    table = read_table(root / "metadata" / "UrbanSound8K.csv", REQUIRED, CORPUS, root)
    if table.empty:
        raise layout_error(CORPUS, root, "lists no clips in metadata/UrbanSound8K.csv")
    folds = table["fold"].astype(int)
    classes = list(table.drop_duplicates("classID").sort_values("classID")["class"])
    rows = pd.DataFrame(
        {
            "path": [
                str(root / "audio" / f"fold{fold}" / name)
                for fold, name in zip(folds, table["slice_file_name"], strict=True)
            ],
            "label": table["class"].to_numpy(),
            "speaker": table["fsID"].astype(str).to_numpy(),
            "split": "train",
            "start": 0,
            "frames": -1,
            "fold": folds.to_numpy(),
        }
    )
    return finish(rows, classes, with_fold=True)
