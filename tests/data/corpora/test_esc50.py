"""ESC-50 from its published layout: meta/esc50.csv, audio/, five predefined folds."""

from __future__ import annotations

from pathlib import Path

import pytest
from miniature import ESC50_CLASSES, build_esc50, logged_report, train_and_read, train_overrides
from mlflow.tracking import MlflowClient

from rnnaudio.compose import compose_config
from rnnaudio.config import ConfigError
from rnnaudio.data.corpora.esc50 import load_esc50
from rnnaudio.data.data_report import TooManyBadFilesError
from rnnaudio.training.run import train

LAYOUT = "meta/esc50.csv (filename, fold, target, category) and audio/<filename>"


@pytest.fixture
def esc50(tmp_path) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path / "ESC-50-master"
    return root, build_esc50(root)


def test_manifest_has_the_predefined_folds_and_classes_by_target(esc50):
    root, _ = esc50
    df = load_esc50(root)
    assert list(df.columns) == ["path", "label", "speaker", "split", "start", "frames", "fold"]
    assert df.attrs["classes"] == [ESC50_CLASSES[t] for t in sorted(ESC50_CLASSES)]
    assert len(df) == 5 * 4 + 7
    assert sorted(df.fold.unique()) == [1, 2, 3, 4, 5]
    assert all(Path(p).parent == root / "audio" for p in df.path)
    # A filename is <fold>-<src_file>-<take>-<target>.wav; the fold column agrees with it.
    assert all(Path(p).name.split("-")[0] == str(f) for p, f in zip(df.path, df.fold,
                                                                   strict=True))
    assert all(Path(p).name.split("-")[1] == s for p, s in zip(df.path, df.speaker, strict=True))
    assert (df.split == "train").all()


def test_esc10_keeps_the_esc10_rows(esc50, tmp_path):
    root, _ = esc50
    csv = root / "meta" / "esc50.csv"
    lines = csv.read_text().splitlines()
    # Mark the rooster clips as outside ESC-10.
    csv.write_text("\n".join([lines[0]] + [line.replace("rooster,True", "rooster,False")
                                            for line in lines[1:]]) + "\n")
    df = load_esc50(root, "esc10")
    assert "rooster" not in set(df.label) and "rooster" not in df.attrs["classes"]


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: (root / "audio").mkdir(parents=True), "has no meta/esc50.csv"),
        (lambda root: ((root / "audio").mkdir(parents=True), (root / "meta").mkdir(),
                       (root / "meta" / "esc50.csv").write_text("name,fold\nx.wav,1\n")),
         "has esc50.csv without the column 'filename'"),
    ],
)
def test_a_root_in_the_wrong_layout_is_one_line_naming_path_and_layout(tmp_path, damage,
                                                                       problem):
    root = tmp_path / "esc"
    damage(root)
    with pytest.raises(ConfigError) as caught:
        load_esc50(root)
    assert str(caught.value) == f"{root} {problem}; expected the esc50 layout {LAYOUT}"


def test_check_root_catches_the_wrong_layout_before_any_work(tmp_path):
    cfg = compose_config(["dataset=esc50", f"dataset.root={tmp_path}"])
    with pytest.raises(ConfigError) as caught:
        cfg.dataset.check_root()
    assert str(caught.value) == (f"dataset.root={str(tmp_path)!r} is not in the esc50 layout "
                                 f"(no meta/esc50.csv); expected {LAYOUT}")


@pytest.mark.slow
def test_trains_on_the_predefined_folds_and_reports_every_planted_bad_file(esc50, tmp_path,
                                                                          capsys):
    root, planted = esc50
    overrides = train_overrides("esc50", root, tmp_path, "dataset.max_bad_fraction=0.3",
                                "dataset.test_folds=[3,4,5]", "cv.folds=2")
    result, parent, folds, client = train_and_read(overrides, tmp_path)
    printed = capsys.readouterr().err
    assert "Data report: 7 of 27 files skipped (25.9%)" in printed
    assert all(reason in printed for reason in planted)

    assert parent["params.cv.scheme"] == "predefined"
    assert parent["params.cv.predefined_folds"] == "1,2"
    assert list(folds["params.cv.val_fold"]) == ["1", "2"]
    # Four good clips per fold; the bad ones planted in folds 1 and 2 are gone.
    df = load_esc50(root)
    bad = {p for paths in planted.values() for p in paths}
    for _, run in folds.iterrows():
        fold = int(run["params.cv.val_fold"])
        good = df[(df.fold == fold) & ~df.path.isin(bad)]
        assert run["params.data.fold_val_clips"] == str(len(good)) == "4"
        assert run["params.data.fold_train_clips"] == "4"
    assert parent["params.data.test_clips"] == "12"

    assert parent["params.data.bad_files"] == str(len(planted))
    for reason, paths in planted.items():
        assert parent[f"params.data.bad.{reason}"] == str(len(paths))
    report = logged_report(client, result.parent_run_id)
    assert {(e["reason"], e["path"]) for e in report["bad"]} == {
        (reason, path) for reason, paths in planted.items() for path in paths
    }


def test_too_many_bad_files_stop_before_any_run(esc50, tmp_path, capsys):
    root, _ = esc50
    cfg = compose_config(train_overrides("esc50", root, tmp_path))  # default limit: 1%
    with pytest.raises(TooManyBadFilesError) as caught:
        train(cfg)
    message = str(caught.value)
    assert message.startswith("7 of 27 files are bad (25.9%), more than "
                              "dataset.max_bad_fraction=0.01: ")
    assert "(missing), " in message and "and 4 more" in message and "\n" not in message
    assert "Data report: 7 of 27 files skipped" in capsys.readouterr().err
    # The tracking store is opened (and checked) before the data is read, but holds no run.
    client = MlflowClient(cfg.tracking.uri)
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


def test_another_k_is_a_clear_error(esc50, tmp_path):
    root, _ = esc50
    cfg = compose_config(train_overrides("esc50", root, tmp_path, "dataset.max_bad_fraction=0.3",
                                         "cv.folds=3"))
    with pytest.raises(ConfigError) as caught:
        train(cfg)
    assert str(caught.value) == (
        "cv.folds=3 does not match the 5 predefined folds of esc50; use cv.folds=5"
    )
