"""What every benchmark shares: alternated timing, medians, the machine's state, tables, results.

Speed goals are printed as ratios against a baseline measured in the same process, never
asserted: a ratio survives a busy machine far better than an absolute number does, and the
load average before and after each run is written beside the numbers so a reader can tell.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

T = TypeVar("T")
RESULTS = Path(__file__).resolve().parent / "results"
# Wide enough that a table's headers stay whole when the output is a file, not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)


def quiet() -> None:
    """Silences the library chatter (Lightning tips, deprecations, TF logs) that buries tables."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging

    for name in ("pytorch_lightning", "lightning", "lightning_fabric", "mlflow", "alembic",
                 "optuna", "rnnaudio"):
        logging.getLogger(name).setLevel(logging.ERROR)


def set_threads(threads: int | None) -> int:
    """Intra-op threads for torch (None: its default); returns the count in force.

    On a machine shared with other busy processes, 2 OpenMP threads on 2 cores can run
    many times slower than 1: each parallel region waits for a descheduled thread.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def load_average() -> float:
    """The 1-minute load average (runnable processes); above the core count, numbers skew."""
    return os.getloadavg()[0]


def machine() -> dict[str, Any]:
    """Where the numbers came from: CPU, cores, threads, library versions, GPU if any."""
    import torch

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "load_average_1m": round(load_average(), 2),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> str:
    """The vector and matrix extensions that decide float32 and bf16 speed on a CPU."""
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                present = set(line.split(":", 1)[1].split())
                return " ".join(flag for flag in wanted if flag in present)
    except OSError:
        pass
    return ""


def alternate(contenders: Mapping[str, Callable[[], T]], repeats: int) -> dict[str, list[T]]:
    """Calls each contender ``repeats`` times, interleaved, rotating who goes first.

    Interleaving spreads slow drift in the machine's load over every contender alike; the
    rotation keeps any "second in line" advantage (warm caches, allocator) from sticking.
    """
    names = list(contenders)
    values: dict[str, list[T]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            values[name].append(contenders[name]())
    return values


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """Relative spread (max - min) / median: how much to trust a median."""
    mid = median(values)
    return (max(values) - min(values)) / mid if mid else float("nan")


class Clock:
    """Wall and CPU seconds of this process over a span: ``start()``, then ``stop()``.

    On a machine shared with other work, CPU seconds of the process are far steadier than
    wall seconds (time slices lost to other processes do not count), so both are kept.
    """

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self._wall, time.process_time() - self._cpu


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` took, and what it returned."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                caption: str | None = None) -> None:
    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def write_results(name: str, rows: Sequence[Mapping[str, Any]], args: Any,
                  load_before: float, out: str | None = None, **extra: Any) -> Path:
    """``bench/results/<name>.json`` (rows, machine, arguments, load) and a CSV of the rows."""
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": vars(args) if args is not None else {},
        "machine": machine(),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(load_average(), 2),
        **extra,
        "rows": list(rows),
    }
    path.write_text(json.dumps(record, indent=2, default=str))
    if rows:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with path.with_suffix(".csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    load_note(load_before)
    console.print(f"wrote {path}")
    return path


def load_note(load_before: float) -> None:
    """Says so when other processes competed for the cores during the run."""
    cores = os.cpu_count() or 1
    after = load_average()
    if max(load_before, after) > cores:
        console.print(f"[yellow]note: load average {load_before:.1f} before, {after:.1f} after "
                      f"on {cores} cores: other processes competed; absolute numbers are low "
                      "and noisy, ratios (alternated in one process) less so[/yellow]")
