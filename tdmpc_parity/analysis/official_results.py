"""The official TD-MPC2 learning curves, shipped as data: `tdmpc_parity/data/official_tdmpc2/<task>.csv`.

Copied from nicklashansen/tdmpc2 @ e9f5932, `results/tdmpc2/<task>.csv` (MIT, see LICENSE.official and the
README.md beside the files) for the official tasks of tdmpc_parity/core/tasks.py (`TaskSpec.official`; the file name is
the task's official name). Columns: `step` (env steps, every 100,000), `reward` (mean eval episode return),
`seed`; 5M-parameter model, official settings.

`load_official(task)` gives each seed's (steps, rewards); `official_curve(task)` the mean over seeds with its
95 % bootstrap CI (tdmpc_parity/core/stats.py). Errors are ValueErrors: a task without a file (naming the tasks that
have one), a malformed file (naming the file, line and column).
"""

from __future__ import annotations

import csv
import math
from importlib.resources import files
from pathlib import Path

import numpy as np

from tdmpc_parity.core.stats import Curve, seed_curve

COLUMNS = ("step", "reward", "seed")
SOURCE = "nicklashansen/tdmpc2 @ e9f5932, results/tdmpc2/<task>.csv"


def data_dir() -> Path:
    """The folder of the shipped CSVs (inside the installed tdmpc_parity package)."""
    return Path(str(files("tdmpc_parity") / "data" / "official_tdmpc2"))


def available_tasks(directory: Path | None = None) -> list[str]:
    """Tasks with an official result file, sorted."""
    return sorted(p.stem for p in Path(directory or data_dir()).glob("*.csv"))


def _number(text: str, path: Path, line: int, column: str, integer: bool) -> float | int:
    """A finite number from a cell; integers may be written as 100000 or 100000.0 / 1e5."""
    where = f"{str(path)!r} line {line}, column {column!r}"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not finite")
    if integer:
        if value != int(value):
            raise ValueError(f"{where}: {text!r} is not an integer")
        return int(value)
    return value


def read_results_csv(path: str | Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{seed: (steps int64, rewards float64)} of one official result CSV, each seed sorted by step.

    ValueError naming the file, line and column for a missing column, a short row, a cell that is not a
    finite number (an integer for step and seed), a negative step or a seed with the same step twice.
    """
    path = Path(path)
    per_seed: dict[int, dict[int, float]] = {}
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{str(path)!r} is empty: expected the header {','.join(COLUMNS)}")
        header = [h.strip() for h in header]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{str(path)!r} line 1: missing column(s) {missing}; the header is {header}")
        index = {c: header.index(c) for c in COLUMNS}
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            for col, i in index.items():
                if i >= len(cells) or not cells[i].strip():
                    raise ValueError(f"{str(path)!r} line {line}, column {col!r}: the cell is empty or missing")
            step = _number(cells[index["step"]], path, line, "step", integer=True)
            reward = _number(cells[index["reward"]], path, line, "reward", integer=False)
            seed = _number(cells[index["seed"]], path, line, "seed", integer=True)
            if step < 0:
                raise ValueError(f"{str(path)!r} line {line}, column 'step': {step} is negative")
            rows = per_seed.setdefault(int(seed), {})
            if step in rows:
                raise ValueError(f"{str(path)!r} line {line}, column 'step': seed {seed} has step {step} twice")
            rows[int(step)] = float(reward)
    if not per_seed:
        raise ValueError(f"{str(path)!r} has a header but no rows")
    out = {}
    for seed in sorted(per_seed):
        steps = np.array(sorted(per_seed[seed]), dtype=np.int64)
        out[seed] = (steps, np.array([per_seed[seed][s] for s in steps.tolist()], dtype=np.float64))
    return out


def load_official(task: str, directory: str | Path | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{seed: (env steps, mean eval return)} of the official TD-MPC2 runs of `task`.

    `directory` defaults to the shipped data. ValueError when there is no file for the task (the message lists
    the tasks that have one) or the file is malformed (file, line and column).
    """
    directory = Path(directory) if directory is not None else data_dir()
    path = directory / f"{task}.csv"
    if not path.is_file():
        known = ", ".join(available_tasks(directory)) or "none"
        raise ValueError(f"no official TD-MPC2 results for task {task!r} (no {path.name} in {str(directory)!r}); "
                         f"tasks with results: {known}")
    return read_results_csv(path)


def official_curve(task: str, directory: str | Path | None = None) -> Curve:
    """The official mean eval return over seeds per env step with its 95 % percentile-bootstrap CI and IQM.

    `Curve.steps` are env steps, `Curve.n` the seeds per step (3 in the shipped files; 2 at the
    last step of the tasks where one seed stops an eval earlier).
    """
    return seed_curve(load_official(task, directory))
