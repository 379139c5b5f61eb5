"""The ``rnnaudio`` command: ``rnnaudio <command> [key=value ...] [hydra flags]``.

Each command is a Hydra app over ``conf/``, so overrides, ``--cfg job``, ``--help`` and
``-m`` behave as in any Hydra program. Before Hydra starts, the overrides are composed and
validated once, so a bad value stops with one line and exit code 2 before any work.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, OverrideParseException
from omegaconf import DictConfig

from rnnaudio.compose import CONF_DIR, compose_config, describe_error, register_all
from rnnaudio.config import Config, ConfigError, to_config
from rnnaudio.interrupt import INTERRUPTED_EXIT_CODE, interrupted, terminate_as_interrupt
from rnnaudio.quiet import quiet_third_party

USAGE = """\
usage: rnnaudio <command> [key=value ...] [--cfg job] [--help] [-m]

commands:
  train        cross-validate one config; runs land in MLflow (tracking.uri)
  sweep        an Optuna study over config keys by cross-validated loss (sweep=<spec>)
  run          every row and seed of a paper table or study (experiment=<name>)
  report       tables (Markdown, LaTeX, CSV) and figures from MLflow runs
  data synth   generate the embedded synth_commands corpus at dataset.root

examples:
  rnnaudio train model=gru model.hidden_size=96 cv.folds=5 trainer.max_epochs=20
  rnnaudio train -m model=rnn,lstm,gru model.hidden_size=32,64
  rnnaudio train --cfg job
  rnnaudio sweep sweep=hidden_size sweep.n_trials=30 sweep.workers=2
  rnnaudio run experiment=seed_cells
  rnnaudio run experiment=seed_cells sweep.n_trials=2 trainer.max_epochs=2   (a smoke run)
  rnnaudio report experiment=seed_cells
  rnnaudio report report.group_by=[model.cell,model.hidden_size]"""

# Flags that hand control to Hydra itself (help, printing, multirun) rather than run one job.
HYDRA_FLAGS = {
    "-h", "--help", "--hydra-help", "-c", "--cfg", "-m", "--multirun", "-i", "--info",
    "-p", "--package", "--resolve", "-sc", "--shell-completion",
}
MULTIRUN_FLAGS = {"-m", "--multirun"}


def fail(message: str) -> None:
    """One line on stderr and exit code 2: the convention for bad input."""
    print(f"rnnaudio: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def validated(cfg: DictConfig) -> Config:
    with one_line_errors():
        config = to_config(cfg)
        config.dataset.check_root()
    return config


# What an interrupt leaves behind, said after "rnnaudio: interrupted".
KILLED = "its runs end KILLED in MLflow"
RESUMES = f"{KILLED}, and the same command resumes the work"


@contextmanager
def one_line_errors(left_behind: str = "") -> Iterator[None]:
    """Bad input found only once the data is read (too many bad files, folds that do not
    match a corpus's predefined ones), or a sweep whose trials all fail, still ends in one
    line and exit code 2. Ctrl-C or SIGTERM ends in one line and exit code 130."""
    from rnnaudio.sweep.errors import SweepFailedError

    try:
        yield
    except (ConfigError, SweepFailedError) as error:
        fail(str(error))
    except BaseException as error:
        if not interrupted(error):
            raise
        print(f"rnnaudio: interrupted{'; ' if left_behind else ''}{left_behind}",
              file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None


def _output_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


# Jobs import torch, Lightning and MLflow only when they run, so `--help` stays instant,
# and inside one_line_errors: a Ctrl-C during those seconds of imports is one line too.


def train_job(cfg: DictConfig) -> None:
    config = validated(cfg)
    with one_line_errors(f"{KILLED}; the same command trains again from the start"):
        from rnnaudio.report.console import print_train_result
        from rnnaudio.training.run import train

        print_train_result(train(config, _output_dir()))


def synth_job(cfg: DictConfig) -> None:
    config = validated(cfg)
    with one_line_errors("no corpus is left half-built; the same command builds it"):
        from rnnaudio.data.synth import build_synth_commands, check_split_speakers

        check_split_speakers(config.dataset.synth)
        root = build_synth_commands(Path(config.dataset.root), config.dataset.synth)
    print(f"synth_commands written to {root}")


def sweep_job(cfg: DictConfig) -> None:
    from rnnaudio.sweep.early_start import started_early

    config = validated(cfg)
    overrides = list(HydraConfig.get().overrides.task)
    # Before the driver's imports: the workers' fork server and MLflow server (5 s of CPU
    # each) start beside them instead of after them.
    with one_line_errors(RESUMES), started_early(config) as server:
        from rnnaudio.report.console import print_sweep_result
        from rnnaudio.sweep.driver import run_sweep

        print_sweep_result(run_sweep(overrides, _output_dir(), server))


def run_job(cfg: DictConfig) -> None:
    validated(cfg)
    overrides = list(HydraConfig.get().overrides.task)
    with one_line_errors(RESUMES):
        from rnnaudio.experiment.runner import run_experiment

        runs = run_experiment(overrides, _output_dir())
    skipped = sum(run.skipped for run in runs)
    print(f"{len(runs) - skipped} row runs done, {skipped} finished earlier and skipped")
    report_job(cfg)


def report_job(cfg: DictConfig) -> None:
    with one_line_errors():
        from rnnaudio.report.build import build_report
        from rnnaudio.report.console import print_report

        print_report(build_report(validated(cfg)))


JOBS: dict[str, Callable[[DictConfig], None]] = {
    "train": train_job, "sweep": sweep_job, "run": run_job, "report": report_job,
    "data synth": synth_job,
}
DEFAULT_SWEEP = "hidden_size"


def _select(group: str, overrides: list[str], default: str | None) -> list[str]:
    """``<group>=<name>`` picks a spec; the group is optional in ``train``, hence ``+``."""
    chosen = [o for o in overrides if o.startswith(f"{group}=")]
    rest = [o for o in overrides if not o.startswith(f"{group}=")]
    name = chosen[-1].split("=", 1)[1] if chosen else default
    if name is None:
        fail(f"{group}=<name> is required; see experiments/ for the choices")
    return [f"+{group}={name}", *rest]


def _row_sweeps(overrides: list[str]) -> list[str]:
    """``sweep.<field>=<value>`` in ``run`` changes every row's sweep: there is no sweep of the
    run itself. They travel as one ``experiment.sweep_overrides`` list, each quoted, since a
    Hydra list element cannot hold a bare ``=``."""
    swept = [o for o in overrides if o.lstrip("+~").startswith("sweep.")]
    if not swept:
        return overrides
    if any(o.startswith("experiment.sweep_overrides=") for o in overrides):
        fail(f"{swept[0]}: give the rows' sweep changes as sweep.<field>=<value> alone, "
             "without experiment.sweep_overrides")
    try:
        parsed = OverridesParser.create().parse_overrides(swept)
    except OverrideParseException:
        parsed = []  # the row's sweep, composed, names what does not parse
    for override in parsed:
        if override.is_sweep_override():
            fail(f"{override.input_line}: each row's sweep takes one value; run `rnnaudio run` "
                 "once per value")
    quoted = ",".join(f"'{_hydra_quoted(o)}'" for o in swept)
    return [*(o for o in overrides if o not in swept), f"experiment.sweep_overrides=[{quoted}]"]


def _hydra_quoted(text: str) -> str:
    """``text`` inside Hydra's single quotes: a backslash escapes only a quote or the closing
    quote, so only backslashes before those are doubled."""
    text = re.sub(r"(\\*)'", lambda m: m[1] * 2 + "\\'", text)
    return re.sub(r"(\\+)$", lambda m: m[1] * 2, text)


def _report_overrides(overrides: list[str]) -> list[str]:
    experiment = [o for o in overrides if o.startswith("experiment=")]
    selected = _select("experiment", overrides, None) if experiment else overrides
    return ["+report=default", *selected]


def _split_command(args: list[str]) -> tuple[str, list[str]]:
    if args[0] == "data":
        action = args[1] if len(args) > 1 else ""
        if f"data {action}" not in JOBS:
            fail(f"data action {action!r} is not one of: synth")
        return f"data {action}", args[2:]
    if args[0] == "sweep":
        return "sweep", _select("sweep", args[1:], DEFAULT_SWEEP)
    if args[0] == "run":
        return "run", _row_sweeps(_select("experiment", args[1:], None))
    if args[0] == "report":
        return "report", _report_overrides(args[1:])
    if args[0] not in JOBS:
        fail(f"command {args[0]!r} is not one of: train, sweep, run, report, data")
    return args[0], args[1:]


def _preflight(command: str, overrides: list[str]) -> None:
    """Compose and validate exactly what Hydra is about to run, before it creates anything:
    each job of a multirun; the device of a job that trains; for a sweep, every value its
    space can give, and for an experiment, every row (``run_sweep`` and ``run_experiment``
    check again, for callers without this command line)."""
    flags = {arg.split("=")[0] for arg in overrides} & HYDRA_FLAGS
    if flags - MULTIRUN_FLAGS:
        return  # Hydra prints (--cfg, --help, ...) rather than runs
    try:
        for job in _jobs(overrides) if flags else [overrides]:
            _check_job(command, job)
    except (ConfigError, HydraException) as error:
        fail(str(error) if isinstance(error, ConfigError) else describe_error(error))


def _jobs(overrides: list[str]) -> list[list[str]]:
    """The overrides of each job of a multirun: the grid of its comma lists and ranges,
    expanded as Hydra's basic sweeper expands them."""
    parsed = OverridesParser.create().parse_overrides(
        [o for o in overrides if o not in MULTIRUN_FLAGS])
    values = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
              if o.is_sweep_override() else [o.input_line] for o in parsed]
    return [list(job) for job in itertools.product(*values)]


def _check_job(command: str, overrides: list[str]) -> None:
    config = compose_config(overrides)
    config.dataset.check_root()
    if command in ("train", "sweep", "run"):
        config.trainer.check_device()
        config.augment.check_noise_folder(config.dataset)
    if command == "sweep" and config.sweep is not None:
        from rnnaudio.sweep.space import check_trials

        check_trials(config.sweep, overrides)
    if command == "run":
        from rnnaudio.experiment.rows import check_rows

        check_rows(overrides)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return
    command, overrides = _split_command(args)
    _preflight(command, overrides)
    terminate_as_interrupt()
    register_all()
    quiet_third_party()
    sys.argv = [f"rnnaudio {command}", *overrides]
    app = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
    try:
        app(JOBS[command])()
    except KeyboardInterrupt:  # in Hydra's start, before the job: nothing began
        print("rnnaudio: interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None


if __name__ == "__main__":
    main()
