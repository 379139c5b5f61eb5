"""MLflow runs through an explicit client: experiments, nested runs, params, artifacts.

Every run is opened as a context so that it always ends: FINISHED on success, FAILED on an
exception, KILLED on Ctrl-C. A run left RUNNING forever is a lie in the UI.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import yaml
from matplotlib.figure import Figure
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from rnnaudio.config import ConfigError, TrackingConfig
from rnnaudio.config.checks import (
    INSTALL_DRIVER,
    first_line,
    nearest,
    shown_setting,
    without_password,
)
from rnnaudio.interrupt import interrupted
from rnnaudio.tracking.database import check_database_answers, is_database_server
from rnnaudio.tracking.server import check_answers, is_local_store, is_server, scheme

log = logging.getLogger(__name__)

# MLflow's batch endpoint takes at most this many params, or metrics, per call.
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000


class RunTracker:
    """Opens runs in one experiment of one tracking store."""

    def __init__(self, cfg: TrackingConfig, *, create: bool = True) -> None:
        """``create=False`` reads a store that must exist already (a report): a misspelt
        setting is an error naming what is there, and no empty store or experiment is made."""
        self.uri = cfg.uri
        if not create:
            _check_store_exists(cfg.uri)
        self.client = _open_client(cfg.uri)
        self.experiment_id = self._experiment(cfg, create)

    def _experiment(self, cfg: TrackingConfig, create: bool) -> str:
        existing = self.client.get_experiment_by_name(cfg.experiment)
        if existing is not None:
            return existing.experiment_id
        names = [e.name for e in self.client.search_experiments()]
        where = shown_setting("tracking.uri", cfg.uri)
        if not create:
            raise ConfigError(f"tracking.experiment={cfg.experiment!r} is not in {where}; its "
                              f"experiments are: {nearest(cfg.experiment, names)}")
        if set(names) - {"Default"}:
            # Said, not refused: a new name is how a user starts a study of their own.
            log.warning("tracking.experiment=%r is new in %s, so it is created beside: %s",
                        cfg.experiment, where, nearest(cfg.experiment, names))
        # With a local store, artifacts go beside it rather than into a server's default.
        location = Path(cfg.artifact_root).resolve().as_uri() if is_local_store(cfg.uri) else None
        try:
            return self.client.create_experiment(cfg.experiment, artifact_location=location)
        except MlflowException as error:
            # Another process (a second sweep driver on the same store) created it first.
            made = self.client.get_experiment_by_name(cfg.experiment)
            if error.error_code != "RESOURCE_ALREADY_EXISTS" or made is None:
                raise
            return made.experiment_id

    @contextmanager
    def run(
        self,
        name: str,
        parent_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        resume_id: str | None = None,
    ) -> Iterator[str]:
        """A run (a child of ``parent_id`` when given) that ends with the right status.

        ``resume_id`` reopens an earlier run instead (a resumed sweep keeps its parent run).
        """
        if resume_id is not None:
            self.client.update_run(resume_id, status="RUNNING")
            run_id = resume_id
        else:
            all_tags = {MLFLOW_RUN_NAME: name, **(tags or {})}
            if parent_id is not None:
                all_tags[MLFLOW_PARENT_RUN_ID] = parent_id
            run_id = self.client.create_run(self.experiment_id, run_name=name,
                                            tags=all_tags).info.run_id
        try:
            yield run_id
        except BaseException as error:
            self.client.set_terminated(run_id, "KILLED" if interrupted(error) else "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        items = [Param(key, str(value)) for key, value in params.items()]
        for start in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start : start + PARAMS_PER_BATCH])

    def log_metrics(
        self, run_id: str, metrics: Mapping[str, float], step: int = 0,
        timestamp_ms: int | None = None,
    ) -> None:
        """``metrics`` at one ``step``, stamped ``timestamp_ms`` (default: now)."""
        timestamp = _now_ms() if timestamp_ms is None else timestamp_ms
        items = [Metric(key, float(value), timestamp, step) for key, value in metrics.items()]
        self.log_metric_points(run_id, items)

    def log_metric_points(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Points of any keys and steps, in as few requests as the batch endpoint allows."""
        for start in range(0, len(metrics), METRICS_PER_BATCH):
            self.client.log_batch(run_id, metrics=list(metrics[start : start + METRICS_PER_BATCH]))

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_yaml(self, run_id: str, tree: Mapping[str, Any], artifact_file: str) -> None:
        text = yaml.safe_dump(dict(tree), sort_keys=False)
        self.client.log_text(run_id, text, artifact_file)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_figure(self, run_id: str, figure: Figure, artifact_file: str) -> None:
        self.client.log_figure(run_id, figure, artifact_file)
        plt.close(figure)  # pyplot keeps every open figure alive otherwise

    def log_file(self, run_id: str, path: Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_dir)

    def ui_command(self) -> str:
        """The command that shows these runs."""
        if is_local_store(self.uri):
            return f"mlflow ui --backend-store-uri {self.uri}"
        return f"open {self.uri} in a browser"


# Schemes MLflow's registry lists but refuses as a tracking store: "" and file are its
# retired folder store, the Unity Catalog ones are model registries only.
_NOT_TRACKING_STORES = {"", "file", "uc", "databricks-uc"}


def _open_client(uri: str) -> MlflowClient:
    """A client of the store at ``uri``, or a one-line ConfigError naming the field: MLflow
    itself would retry a server or database that refuses, or a file it cannot write, for
    minutes."""
    if is_server(uri):
        check_answers(uri)
    elif is_local_store(uri):
        _check_writable(uri)
    shown = shown_setting("tracking.uri", uri)
    try:
        if is_database_server(uri):
            check_database_answers(uri)
        return MlflowClient(tracking_uri=uri)
    except UnsupportedModelRegistryStoreURIException as error:  # no store for the scheme
        schemes = ", ".join(s for s in error.supported_uri_schemes
                            if s not in _NOT_TRACKING_STORES)
        raise ConfigError(
            f"{shown} is not a store MLflow can open; valid schemes are {schemes} "
            "(e.g. sqlite:///mlflow.db or http://host:5000)"
        ) from error
    except ArgumentError as error:  # SQLAlchemy's: no such dialect or driver, or no URL
        given = uri.partition(":")[0]
        advice = "database schemes are lower-case" if given != given.lower() else "give"
        raise ConfigError(
            f"{shown}: {without_password(first_line(error))}; {advice}, e.g. "
            "sqlite:///mlflow.db or postgresql://user@host/db"
        ) from error
    except ImportError as error:  # the dialect's driver module
        raise ConfigError(f"{shown}: {error}; {INSTALL_DRIVER}") from error
    except MlflowException as error:
        if scheme(uri) in ("", "file"):
            raise ConfigError(
                f"{shown} names a folder, MLflow's retired file store; give a database "
                "(e.g. sqlite:///mlflow.db) or a server (e.g. http://127.0.0.1:5000)"
            ) from error
        # MLflow's whole message: its advice (`mlflow db upgrade`, say) is in later lines.
        message = without_password(" ".join(str(error).split()))
        raise ConfigError(f"{shown}: {message}") from error


def _check_store_exists(uri: str) -> None:
    """A SQLite file that is not there: MLflow would make an empty one."""
    if not is_local_store(uri):
        return  # a server or database server: its experiments tell
    database = _sqlite_path(uri)
    if database is not None and not database.is_file():
        raise ConfigError(
            f"{shown_setting('tracking.uri', uri)}: {database.resolve()} does not exist; "
            "give the store the runs are in, e.g. tracking.uri=sqlite:///<path>/mlflow.db")


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a SQLite URI; None in memory."""
    try:
        database = make_url(uri).database
    except ArgumentError as error:
        raise ConfigError(f"{shown_setting('tracking.uri', uri)} is not a SQLAlchemy URL; give "
                          "e.g. sqlite:///mlflow.db (three slashes, then the path)") from error
    return Path(database) if database and database != ":memory:" else None


def _check_writable(uri: str) -> None:
    """MLflow retries a SQLite file in a folder it cannot write, or a folder where the file
    should be, for minutes, then prints a traceback. A missing folder is made, as MLflow
    itself would."""
    shown = shown_setting("tracking.uri", uri)
    database = _sqlite_path(uri)
    if database is None:
        return
    problem = _unwritable(database)
    if problem is not None:
        raise ConfigError(f"{shown}: {problem}; give a file in a writable folder, "
                          "e.g. tracking.uri=sqlite:///mlflow.db")


def _unwritable(path: Path) -> str | None:
    """Why SQLite could not write the database ``path``, or None."""
    try:
        if path.is_dir():
            return f"{path} is a folder, not a file"
    except OSError:  # a folder above that cannot be searched: the checks below name it
        pass
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return f"cannot make folder {path.parent} ({error.strerror or error})"
    # SQLite writes a journal beside the file, so the folder must be writable too; once it
    # can be searched, asking about the file cannot fail.
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"{path.parent} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None


def _now_ms() -> int:
    return int(time.time() * 1000)
