"""ESC-50 (Piczak 2015): 2000 five-second environmental clips, 50 classes, 5 predefined folds.

Layout of the published archive (github.com/karolpiczak/ESC-50)::

    <root>/meta/esc50.csv    filename,fold,target,category,esc10,src_file,take
    <root>/audio/<filename>  e.g. 1-100032-A-0.wav: 44.1 kHz mono, 5 s

The folds keep clips cut from one Freesound recording (``src_file``) together; they are the
corpus's cross-validation folds, so the manifest carries them in a ``fold`` column.
``task="esc10"`` keeps the ten-class ESC-10 subset (the ``esc10`` column).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnaudio.config import ConfigError
from rnnaudio.data.corpora.manifest import corpus_root, finish, layout_error, read_table

CORPUS = "esc50"
TASKS = ("all", "esc10")
REQUIRED = ("filename", "fold", "target", "category")


def load_esc50(root: Path, task: str = "all") -> pd.DataFrame:
    """Manifest of an ESC-50 tree with its predefined ``fold`` column; reads no audio.

    ``speaker`` is the Freesound source recording (``src_file``), so grouping keeps the
    takes of one recording together. Classes are ordered by ``target``.
    Raises :class:`ConfigError` for a root not in the layout or an unknown task.
    """
    if task not in TASKS:
        raise ConfigError(f"dataset.task={task!r} is not one of: {', '.join(TASKS)}")
    root = corpus_root(CORPUS, root, "audio")
    table = read_table(root / "meta" / "esc50.csv", REQUIRED, CORPUS, root)
    if task == "esc10":
        if "esc10" not in table.columns:
            raise layout_error(CORPUS, root, "has esc50.csv without the column 'esc10'")
        table = table[table["esc10"].astype(str).str.lower() == "true"]
    if table.empty:
        raise layout_error(CORPUS, root, "lists no clips in meta/esc50.csv")
    # A filename is <fold>-<src_file>-<take>-<target>.wav; older copies lack src_file.
    source = (
        table["src_file"].astype(str)
        if "src_file" in table.columns
        else table["filename"].str.split("-").str[1]
    )
    classes = list(table.drop_duplicates("target").sort_values("target")["category"])
    rows = pd.DataFrame(
        {
            "path": [str(root / "audio" / name) for name in table["filename"]],
            "label": table["category"].to_numpy(),
            "speaker": source.to_numpy(),
            "split": "train",
            "start": 0,
            "frames": -1,
            "fold": table["fold"].astype(int).to_numpy(),
        }
    )
    return finish(rows, classes, with_fold=True)
