"""Reading JSON that came from someone else (run folders, sweep folders, result files) as data only.

`json` never runs code, but a hostile or damaged file can still fail in ways a caller does not expect: bytes
that are not UTF-8, a syntax error, or nesting so deep that the parser raises RecursionError. Each becomes one
ValueError sentence naming the file, so the CLI prints it and exits 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def parse_json(text: str, where: str) -> Any:
    """`json.loads(text)`; ValueError naming `where` when the text is not valid JSON or is nested too deeply."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be read as JSON (damaged or not written by "
                         "tdmpc-parity)") from None


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """The JSON value of the file `path`; ValueError naming it when it cannot be read or parsed."""
    path = Path(path)
    where = f"{what} {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not UTF-8 text, so it is not JSON") from None
    except IsADirectoryError:
        raise ValueError(f"{where} is a folder, not a JSON file") from None
    return parse_json(text, where)
