"""Overrides of a tiny, fully local run: the test corpus, and caches and MLflow in ``work``."""

from pathlib import Path


def local_overrides(corpus: Path, work: Path, *extra: str) -> list[str]:
    return [
        f"dataset.root={corpus}",
        f"features.cache_dir={work / 'cache'}",
        f"tracking.uri=sqlite:///{work / 'mlflow.db'}",
        f"tracking.artifact_root={work / 'mlartifacts'}",
        "model.hidden_size=16",
        "cv.folds=2",
        "trainer.max_epochs=1",
        "trainer.progress=false",
        *extra,
    ]
