"""The data report: counts by reason, the verdict against max_bad_fraction, its JSON form."""

from __future__ import annotations

import pytest

from rnnaudio.config import ConfigError
from rnnaudio.data.audio import BAD_REASONS
from rnnaudio.data.data_report import DataReport, TooManyBadFilesError


def report_with(bad: dict[str, list[str]], files: int = 100) -> DataReport:
    report = DataReport(files=files, rows=files)
    for reason, paths in bad.items():
        for path in paths:
            report.add(path, reason, f"{reason} detail")
    return report


def test_counts_list_every_reason_in_a_fixed_order():
    report = report_with({"empty": ["/a.wav"], "non_finite": ["/b.wav", "/c.wav"]})
    assert list(report.counts()) == list(BAD_REASONS)
    assert report.counts()["empty"] == 1 and report.counts()["non_finite"] == 2
    assert report.counts()["corrupt"] == 0
    assert report.bad_files == 3 and report.bad_fraction == pytest.approx(0.03)


def test_a_file_is_counted_once_but_every_failing_row_is_dropped():
    report = DataReport(files=2, rows=10)
    for _ in range(4):  # four _silence_ cuts of one broken noise file
        report.add("/noise.wav", "corrupt", "bad header")
    report.add("/noise.wav", "too_short", "ignored: already listed")
    assert report.bad_files == 1 and report.rows_dropped == 5
    assert report.entries() == [("corrupt", "/noise.wav", "bad header")]


def test_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError, match="not one of"):
        DataReport().add("/a.wav", "haunted", "")


def test_params_are_flat_counts():
    params = report_with({"not_audio": ["/x.wav"]}).params()
    assert params["data.bad_files"] == 1
    assert params["data.bad.not_audio"] == 1
    assert params["data.bad.missing"] == 0
    assert set(params) == {"data.bad_files", *(f"data.bad.{r}" for r in BAD_REASONS)}


def test_json_round_trip():
    report = report_with({"empty": ["/a.wav"], "truncated": ["/b.wav"]}, files=7)
    again = DataReport.from_json(report.to_json())
    assert again == report
    assert again.to_dict()["counts"]["truncated"] == 1


def test_within_the_limit_passes():
    report_with({"empty": ["/a.wav"]}, files=100).check(0.01)
    report_with({}, files=0).check(0.0)


def test_over_the_limit_names_the_first_few_in_one_line():
    report = report_with({"empty": ["/e1.wav", "/e2.wav"], "corrupt": ["/c1.wav", "/c2.wav"]},
                         files=20)
    with pytest.raises(TooManyBadFilesError) as caught:
        report.check(0.1)
    message = str(caught.value)
    assert isinstance(caught.value, ConfigError) and "\n" not in message
    assert message.startswith("4 of 20 files are bad (20.0%), more than "
                              "dataset.max_bad_fraction=0.1: ")
    assert "/e1.wav (empty), /e2.wav (empty), /c1.wav (corrupt) and 1 more" in message
    assert caught.value.report is report


def test_table_title_has_the_totals():
    table = report_with({"empty": ["/a.wav"]}, files=4).table()
    assert "1 of 4 files skipped (25.0%)" in str(table.title)
    assert table.row_count == 1
