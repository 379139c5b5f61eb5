"""What was wrong with a corpus: every skipped file, by reason, and the verdict on the whole.

A :class:`DataReport` is built while features are extracted, stored with them in the
feature cache (so a warm run reports the same counts without decoding anything), printed
when it is not empty and logged to MLflow as ``data_report.json`` plus ``data.bad.*`` params.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rich.table import Table

from rnnaudio.config import ConfigError
from rnnaudio.data.audio import BAD_REASONS

NAMED_IN_ERRORS = 3  # how many bad files an error message names before "and N more"


class TooManyBadFilesError(ConfigError):
    """More bad files than ``dataset.max_bad_fraction`` allows; carries the full report."""

    def __init__(self, message: str, report: DataReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class DataReport:
    """Skipped files of one manifest, by reason (one of ``BAD_REASONS``).

    ``files``/``rows`` count what was examined: distinct files, and manifest rows (a
    file may give several rows, e.g. ``_silence_`` cuts of one noise file). A bad file
    is listed once, under the first reason found; all of its failing rows are dropped.
    """

    files: int = 0
    rows: int = 0
    rows_dropped: int = 0
    bad: dict[str, dict[str, str]] = field(default_factory=dict)  # reason -> {path: detail}

    def add(self, path: str, reason: str, detail: str) -> None:
        if reason not in BAD_REASONS:
            raise ValueError(f"reason={reason!r} is not one of: {', '.join(BAD_REASONS)}")
        self.rows_dropped += 1
        if any(path in paths for paths in self.bad.values()):
            return
        self.bad.setdefault(reason, {})[path] = detail

    @property
    def bad_files(self) -> int:
        return sum(len(paths) for paths in self.bad.values())

    @property
    def bad_fraction(self) -> float:
        return self.bad_files / self.files if self.files else 0.0

    def counts(self) -> dict[str, int]:
        """Bad files per reason, every reason present (zeros included), in a fixed order."""
        return {reason: len(self.bad.get(reason, {})) for reason in BAD_REASONS}

    def entries(self) -> list[tuple[str, str, str]]:
        """``(reason, path, detail)`` of every bad file, by reason then path."""
        return [
            (reason, path, self.bad[reason][path])
            for reason in BAD_REASONS
            for path in sorted(self.bad.get(reason, {}))
        ]

    def params(self) -> dict[str, int]:
        """Flat counts for MLflow params: ``data.bad_files`` and ``data.bad.<reason>``."""
        return {
            "data.bad_files": self.bad_files,
            **{f"data.bad.{reason}": n for reason, n in self.counts().items()},
        }

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "rows": self.rows,
            "rows_dropped": self.rows_dropped,
            "bad_files": self.bad_files,
            "counts": self.counts(),
            "bad": [{"reason": r, "path": p, "detail": d} for r, p, d in self.entries()],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> DataReport:
        tree = json.loads(text)
        report = cls(files=tree["files"], rows=tree["rows"], rows_dropped=tree["rows_dropped"])
        for entry in tree["bad"]:
            report.bad.setdefault(entry["reason"], {})[entry["path"]] = entry["detail"]
        return report

    def table(self) -> Table:
        """The bad files as a rich table, titled with the totals."""
        title = (
            f"Data report: {self.bad_files} of {self.files} files skipped "
            f"({100 * self.bad_fraction:.1f}%), {self.rows_dropped} of {self.rows} clips dropped"
        )
        table = Table(title=title, title_justify="left")
        for column in ("reason", "file", "detail"):
            table.add_column(column, overflow="fold")
        for reason, path, detail in self.entries():
            table.add_row(reason, path, detail)
        return table

    def check(self, max_bad_fraction: float) -> None:
        """Raise :class:`TooManyBadFilesError` naming the first few when the fraction is over.

        The message is one line: counts, the limit, the first files and their reasons.
        """
        if self.bad_fraction <= max_bad_fraction:
            return
        entries = self.entries()
        named = ", ".join(f"{path} ({reason})" for reason, path, _ in entries[:NAMED_IN_ERRORS])
        rest = len(entries) - NAMED_IN_ERRORS
        more = f" and {rest} more" if rest > 0 else ""
        raise TooManyBadFilesError(
            f"{self.bad_files} of {self.files} files are bad ({100 * self.bad_fraction:.1f}%), "
            f"more than dataset.max_bad_fraction={max_bad_fraction}: {named}{more}; "
            "fix or remove them, or raise dataset.max_bad_fraction",
            self,
        )
