"""Config of the work built on many runs: sweeps, paper-table experiments, reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from omegaconf import MISSING

from rnnaudio.config.checks import ConfigError, check_choice, check_range


@dataclass
class SearchParam:
    """One dimension of a sweep's search space over a config key.

    ``categorical`` draws from ``choices``; ``int`` and ``float`` draw from
    ``[low, high]``, on a log scale when ``log`` is set, in steps of ``step`` when given.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("categorical", "int", "float")

    type: str = "categorical"
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def check(self, key: str) -> None:
        """Raises a one-line :class:`ConfigError` naming ``sweep.space.<key>``."""
        field_name = f"sweep.space.{key}"
        check_choice(field_name, "type", self.type, self.KINDS)
        if self.type == "categorical":
            if not self.choices:
                raise ConfigError(f"{field_name}.choices is empty; list the values to try")
            return
        if self.low is None or self.high is None or self.low >= self.high:
            article = "an" if self.type == "int" else "a"
            raise ConfigError(
                f"{field_name}: low={_shown(self.low)}, high={_shown(self.high)}; {article} "
                f"{self.type} dimension needs numbers with low < high"
            )
        if self.log and self.low <= 0:
            raise ConfigError(f"{field_name}.low={self.low!r}: a log scale needs low > 0")


def _shown(bound: float | None) -> str:
    """A bound as its YAML was written: OmegaConf reads ``low: 128`` as 128.0."""
    if bound is None:
        return "null"
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


@dataclass
class SweepConfig:
    """An Optuna study over config keys, minimising the mean cross-validated loss.

    Specs live in ``sweeps/<name>.yaml`` and are selected with ``sweep=<name>``.
    ``overrides`` apply to every trial (the user's command-line overrides win over them,
    and the trial's own choices over both).
    """

    SAMPLERS: ClassVar[tuple[str, ...]] = ("tpe", "random", "grid")
    PRUNERS: ClassVar[tuple[str, ...]] = ("median", "hyperband", "successive_halving", "none")

    study_name: str = "sweep"
    n_trials: int | None = 12
    timeout: float | None = None
    storage: str = "sqlite:///optuna.db"
    workers: int = 1
    sampler: str = "tpe"
    seed: int = 0
    pruner: str = "median"
    pruner_warmup_folds: int = 0  # folds a trial runs before the pruner may stop it
    pruner_startup_trials: int = 3
    max_retry: int = 2
    # A worker stops after this many failed trials in a row: one failure is a bad point of
    # the space (a diverging rate), several in a row are a broken setup (data, code, disk).
    max_failures: int = 3
    heartbeat_interval: int = 10
    grace_period: int = 30
    refit: bool = True
    overrides: list[str] = field(default_factory=list)
    space: dict[str, SearchParam] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("sweep", "sampler", self.sampler, self.SAMPLERS)
        check_choice("sweep", "pruner", self.pruner, self.PRUNERS)
        if self.n_trials is None and self.timeout is None:
            raise ConfigError("sweep.n_trials=null and sweep.timeout=null; give at least one")
        if self.n_trials is not None:
            check_range("sweep", "n_trials", self.n_trials, 1)
        if "://" not in self.storage:
            raise ConfigError(
                f"sweep.storage={self.storage!r} is not a database URL; give e.g. "
                "sqlite:///optuna.db or postgresql://user@host/db"
            )
        check_range("sweep", "workers", self.workers, 1)
        check_range("sweep", "max_failures", self.max_failures, 1)
        check_range("sweep", "heartbeat_interval", self.heartbeat_interval, 1)
        check_range("sweep", "grace_period", self.grace_period, self.heartbeat_interval + 1)
        if not self.space:
            raise ConfigError("sweep.space is empty; name at least one config key to search")
        for key, param in self.space.items():
            param.check(key)


@dataclass
class PaperRef:
    """Where a table's published numbers come from."""

    authors: str = ""
    year: int | None = None
    title: str = ""
    arxiv: str | None = None
    table: str = ""


@dataclass
class ExperimentRow:
    """One row of a table: its overrides and, when published, the paper's number for it.

    ``sweep`` names a spec in ``sweeps/`` whose best trial (run on this row's config)
    supplies the row's remaining choices, e.g. the hidden units of each cell.
    """

    name: str = MISSING
    overrides: list[str] = field(default_factory=list)
    sweep: str | None = None
    published: float | None = None
    source: str = ""


@dataclass
class ExperimentConfig:
    """A paper table (or a study of our own) as data: rows x seeds, each a tracked run.

    Every row runs the k-fold CV of ``rnnaudio train`` on train+validation, then refits on
    all of it and is scored once on the test split; ``metric`` is the number the table
    compares (``test_acc``, ``test_loss``, ``cv_val_loss_mean``, ...).
    """

    METRICS: ClassVar[tuple[str, ...]] = (
        "test_acc", "test_loss", "test_f1", "test_nll", "cv_val_acc_mean", "cv_val_loss_mean",
    )
    OWN_SWEEP_KEYS: ClassVar[tuple[str, ...]] = ("sweep.study_name", "sweep.refit")

    name: str = MISSING
    description: str = ""
    paper: PaperRef | None = None
    comparable: bool = True  # False: a smoke run, not the paper's corpus or budget
    metric: str = "test_acc"
    overrides: list[str] = field(default_factory=list)
    # Changes to every row's sweep spec, after the spec's own: `rnnaudio run` puts its
    # command line's sweep.* here (sweep.n_trials=2 for a smoke run; its report is then not
    # comparable). A file names another sweep spec instead.
    sweep_overrides: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    rows: list[ExperimentRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_choice("experiment", "metric", self.metric, self.METRICS)
        if not self.rows:
            raise ConfigError(f"experiment.rows is empty in experiment {self.name!r}")
        if not self.seeds:
            raise ConfigError("experiment.seeds=[] is empty; give at least one seed")
        names = [row.name for row in self.rows]
        if len(set(names)) != len(names):
            raise ConfigError(f"experiment.rows repeat a name: {names}")
        self._check_sweep_overrides()

    def _check_sweep_overrides(self) -> None:
        """``sweep.<field>=<value>`` each, typed on ``rnnaudio run``'s command line."""
        for override in self.sweep_overrides:
            key = override.split("=", 1)[0]
            if override.startswith(("+", "~")):
                raise ConfigError(f"{override}: a row's sweep spec has every field, so drop "
                                  "the + or ~; valid is sweep.<field>=<value>")
            if not key.startswith("sweep.") or "=" not in override or key in self.OWN_SWEEP_KEYS:
                raise ConfigError(
                    f"{override}: not a change to the rows' sweeps; valid is "
                    "sweep.<field>=<value>, e.g. sweep.n_trials=2, but not sweep.study_name or "
                    "sweep.refit: the experiment names each row's study and refits each seed")
        if self.sweep_overrides and not any(row.sweep for row in self.rows):
            raise ConfigError(
                f"{' '.join(self.sweep_overrides)}: no row of experiment {self.name!r} has a "
                "sweep for it to change; leave it out")


@dataclass
class ReportConfig:
    """``rnnaudio report``: which runs, grouped by which keys, compared on which metric.

    ``filter`` narrows the runs with MLflow's search syntax, as typed in its UI's search box
    (``params.dataset.name = 'synth_commands' and metrics.test_acc > 0.5``); it is and-ed with
    what the report selects itself. Empty: every finished run of the tracking experiment.
    """

    group_by: list[str] = field(default_factory=lambda: ["model.cell", "model.hidden_size"])
    metric: str = "cv_val_loss_mean"
    out_dir: str = "reports"
    filter: str = ""
