"""The value of `--benchmark-json` that every pytest-benchmark version writes through.

pytest-benchmark >= 5.3 writes its final JSON with `open(value, "wb")`, so the option holds a path;
versions up to 5.2 declare the option as `argparse.FileType("wb")` and write with `with value as fh:`. A
`BenchmarkJsonTarget` is both: an `os.PathLike` for the first, a context manager that opens the file for
writing for the second. bench/conftest.py sets it whenever it names the JSON file itself (`--bench-results`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any


class BenchmarkJsonTarget(os.PathLike):
    """A JSON path that `open()` accepts and that `with target as fh` opens for binary writing."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh: IO[bytes] | None = None

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"BenchmarkJsonTarget({str(self.path)!r})"

    def __enter__(self) -> IO[bytes]:
        self._fh = open(self.path, "wb")  # closed by __exit__
        return self._fh

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def json_path(value: Any) -> Path | None:
    """The file path behind `--benchmark-json`'s value: a path, a `BenchmarkJsonTarget`, or (pytest-benchmark
    <= 5.2, the option given on the command line) a file object argparse already opened; None when unset."""
    if value is None or value is False:
        return None
    if isinstance(value, os.PathLike | str):
        return Path(value)
    name = getattr(value, "name", None)
    return Path(name) if isinstance(name, str) else None
