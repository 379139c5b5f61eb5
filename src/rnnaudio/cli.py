"""The ``rnnaudio`` command: ``rnnaudio <command> [key=value ...] [hydra flags]``.

Each command is a Hydra app over ``conf/``, so overrides, ``--cfg job``, ``--help`` and
``-m`` behave as in any Hydra program. Before Hydra starts, the overrides are composed and
validated once, so a bad value stops with one line and exit code 2 before any work.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rnnaudio.compose import CONF_DIR, compose_config, register_all
from rnnaudio.config import Config, ConfigError, to_config

USAGE = """\
usage: rnnaudio <command> [key=value ...] [--cfg job] [--help] [-m]

commands:
  train        cross-validate one config; runs land in MLflow (tracking.uri)
  sweep        an Optuna study over config keys by cross-validated loss (sweep=<spec>)
  data synth   generate the embedded synth_commands corpus at dataset.root

examples:
  rnnaudio train model=gru model.hidden_size=96 cv.folds=5 trainer.max_epochs=20
  rnnaudio train -m model=rnn,lstm,gru model.hidden_size=32,64
  rnnaudio train --cfg job
  rnnaudio sweep sweep=hidden_size sweep.n_trials=30 sweep.workers=2"""

# Flags that hand control to Hydra itself (help, printing, multirun) rather than run one job.
HYDRA_FLAGS = {
    "-h", "--help", "--hydra-help", "-c", "--cfg", "-m", "--multirun", "-i", "--info",
    "-p", "--package", "--resolve", "-sc", "--shell-completion",
}


def fail(message: str) -> None:
    """One line on stderr and exit code 2: the convention for bad input."""
    print(f"rnnaudio: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def validated(cfg: DictConfig) -> Config:
    try:
        config = to_config(cfg)
        config.dataset.check_root()
    except ConfigError as error:
        fail(str(error))
    return config


def _output_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


# Jobs import torch, Lightning and MLflow only when they run: `--help` stays instant.


def train_job(cfg: DictConfig) -> None:
    from rnnaudio.report.console import print_train_result
    from rnnaudio.training.run import train

    config = validated(cfg)
    print_train_result(train(config, _output_dir()))


def synth_job(cfg: DictConfig) -> None:
    from rnnaudio.data.synth import build_synth_commands

    config = validated(cfg)
    root = build_synth_commands(Path(config.dataset.root), config.dataset.synth)
    print(f"synth_commands written to {root}")


def sweep_job(cfg: DictConfig) -> None:
    from rnnaudio.report.console import print_sweep_result
    from rnnaudio.sweep.driver import run_sweep

    validated(cfg)
    overrides = list(HydraConfig.get().overrides.task)
    print_sweep_result(run_sweep(overrides, _output_dir()))


JOBS: dict[str, Callable[[DictConfig], None]] = {
    "train": train_job, "sweep": sweep_job, "data synth": synth_job,
}
DEFAULT_SWEEP = "hidden_size"


def _sweep_overrides(overrides: list[str]) -> list[str]:
    """``sweep=<name>`` selects a spec from ``sweeps/``; the group is optional in ``train``."""
    chosen = [o for o in overrides if o.startswith("sweep=")]
    rest = [o for o in overrides if not o.startswith("sweep=")]
    name = chosen[-1].split("=", 1)[1] if chosen else DEFAULT_SWEEP
    return [f"+sweep={name}", *rest]


def _split_command(args: list[str]) -> tuple[str, list[str]]:
    if args[0] == "data":
        action = args[1] if len(args) > 1 else ""
        if f"data {action}" not in JOBS:
            fail(f"data action {action!r} is not one of: synth")
        return f"data {action}", args[2:]
    if args[0] == "sweep":
        return "sweep", _sweep_overrides(args[1:])
    if args[0] not in JOBS:
        fail(f"command {args[0]!r} is not one of: train, sweep, data")
    return args[0], args[1:]


def _preflight(overrides: list[str]) -> None:
    """Compose and validate exactly what Hydra is about to run, before it creates anything."""
    if any(arg.split("=")[0] in HYDRA_FLAGS for arg in overrides):
        return  # Hydra prints or sweeps; every multirun job is validated when it starts
    try:
        compose_config(overrides).dataset.check_root()
    except ConfigError as error:
        fail(str(error))


def _quiet_third_party_warnings() -> None:
    # Lightning 2.6 trips torch's own deprecation of its pytree API on every fit.
    warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")
    # Heartbeats and Optuna's matplotlib plots are stable in use but still flagged.
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return
    command, overrides = _split_command(args)
    _preflight(overrides)
    register_all()
    _quiet_third_party_warnings()
    sys.argv = [f"rnnaudio {command}", *overrides]
    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    app(JOBS[command])()


if __name__ == "__main__":
    main()
