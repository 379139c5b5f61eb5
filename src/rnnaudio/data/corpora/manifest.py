"""What every corpus loader returns: a manifest table, and the one-line layout errors.

A manifest has one row per clip with the columns :data:`COLUMNS`; ``start``/``frames`` are
samples at the file's own rate (``frames == -1``: the whole file). Corpora with
predefined folds add an int ``fold`` column. ``attrs["classes"]`` is the ordered class list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rnnaudio.config import ConfigError, DatasetConfig

COLUMNS = ("path", "label", "speaker", "split", "start", "frames")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def layout_error(corpus: str, root: Path, problem: str, hint: str | None = None) -> ConfigError:
    """One line: the path, what is wrong with it, the layout expected and (maybe) a hint."""
    suffix = f"; {hint}" if hint else ""
    return ConfigError(
        f"{root} {problem}; expected the {corpus} layout {DatasetConfig.LAYOUTS[corpus]}{suffix}"
    )


def corpus_root(corpus: str, root: Path | str, *folders: str) -> Path:
    """The resolved root, checked to exist with each of ``folders`` inside it."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise layout_error(corpus, root, "does not exist")
    for folder in folders:
        if not (root / folder).is_dir():
            raise layout_error(corpus, root, f"has no {folder}/ folder")
    return root


def read_table(path: Path, required: Sequence[str], corpus: str, root: Path) -> pd.DataFrame:
    """A metadata CSV with at least the ``required`` columns, or a one-line layout error."""
    if not path.is_file():
        raise layout_error(corpus, root, f"has no {path.relative_to(root)}")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise layout_error(corpus, root, f"has an unreadable {path.name} ({err})") from err
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise layout_error(corpus, root, f"has {path.name} without the column {missing[0]!r}")
    return table


def finish(
    rows: pd.DataFrame, classes: Sequence[str], with_fold: bool = False
) -> pd.DataFrame:
    """Columns in order, int64 offsets, rows sorted by (fold, class, path), classes attached."""
    rank = {name: i for i, name in enumerate(classes)}
    keys = (["fold"] if with_fold else []) + ["_class", "path", "start"]
    ordered = rows.assign(_class=rows["label"].map(rank)).sort_values(keys, kind="stable")
    columns = [*COLUMNS, "fold"] if with_fold else list(COLUMNS)
    manifest = ordered.drop(columns="_class").reset_index(drop=True)[columns]
    manifest = manifest.astype({"start": "int64", "frames": "int64"})
    if with_fold:
        manifest = manifest.astype({"fold": "int64"})
    manifest.attrs["classes"] = list(classes)
    return manifest
