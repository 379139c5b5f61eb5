"""Any folder of clips: one sub-folder per class, or a CSV that lists them.

Two layouts, told apart by ``root``:

* a folder: ``<root>/<label>/*.wav|flac|ogg`` (extensions in any case; sub-folders whose
  names start with ``.`` or ``_`` are not classes, so ``_background_noise_/`` can hold the
  noise files of ``augment.noise_snr_db``). Every file is its own group.
* a ``.csv`` file with columns ``path,label`` and optionally ``group`` (speaker or source
  recording: all its clips land on one side of every split) and ``fold`` (predefined
  cross-validation folds, integers). Relative paths are relative to the CSV's folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnaudio.data.corpora.manifest import AUDIO_EXTENSIONS, finish, layout_error, read_table

CORPUS = "folder"


def load_folder(root: Path, task: str = "all") -> pd.DataFrame:
    """Manifest of a class-per-folder tree or of a CSV listing; reads no audio.

    Raises :class:`~rnnaudio.config.ConfigError` for a root in neither layout.
    """
    del task  # one task: every label is a class
    root = Path(root).expanduser().resolve()
    if root.suffix.lower() == ".csv":
        return _from_csv(root)
    if not root.is_dir():
        raise layout_error(CORPUS, root, "does not exist")
    labels = sorted(
        d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith((".", "_"))
    )
    files = [
        (label, path)
        for label in labels
        for path in sorted((root / label).iterdir())
        if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file()
    ]
    if not files:
        raise layout_error(CORPUS, root, "has no <label>/*.wav|flac|ogg files")
    rows = pd.DataFrame(
        {
            "path": [str(path) for _, path in files],
            "label": [label for label, _ in files],
            "speaker": [f"{label}/{path.name}" for label, path in files],
            "split": "train",
            "start": 0,
            "frames": -1,
        }
    )
    return finish(rows, sorted({label for label, _ in files}))


def _from_csv(csv: Path) -> pd.DataFrame:
    if not csv.is_file():
        raise layout_error(CORPUS, csv, "does not exist")
    table = read_table(csv, ("path", "label"), CORPUS, csv.parent)
    if table.empty:
        raise layout_error(CORPUS, csv, "lists no clips")
    for column in ("path", "label"):
        if table[column].isna().any():
            raise layout_error(CORPUS, csv, f"has a row without a {column} "
                               f"({_row(table, table[column].isna())})")
    paths = [p if Path(p).is_absolute() else csv.parent / p for p in table["path"].astype(str)]
    labels = table["label"].astype(str)
    groups = table["group"].astype(str) if "group" in table.columns else pd.Series(
        [str(p) for p in paths]
    )
    rows = pd.DataFrame(
        {
            "path": [str(Path(p).resolve()) for p in paths],
            "label": labels.to_numpy(),
            "speaker": groups.to_numpy(),
            "split": "train",
            "start": 0,
            "frames": -1,
        }
    )
    with_fold = "fold" in table.columns
    if with_fold:
        folds = pd.to_numeric(table["fold"], errors="coerce")
        bad = folds.isna() | (folds != folds.round())
        if bad.any():
            raise layout_error(CORPUS, csv, f"has a fold that is not an integer "
                               f"({_row(table, bad)}, fold {table['fold'][bad].iloc[0]!r})")
        rows["fold"] = folds.astype(int).to_numpy()
    return finish(rows, sorted(labels.unique()), with_fold=with_fold)


def _row(table: pd.DataFrame, bad: pd.Series) -> str:
    """The first bad row, as a user finds it in the file: its number, and its path if any."""
    index = int(bad.to_numpy().nonzero()[0][0])
    path = table["path"].iloc[index]
    return f"row {index + 1} after the header" + ("" if pd.isna(path) else f", path {path}")
