"""The config files shipped inside the package (`tdmpc_parity/configs/<name>.yaml`) and what a config value names.

A config value (`--config`, `load_config(yaml_path=...)`, a sweep file's `config`) is a path to a YAML file (or a
run's config.json), or the bare name of a shipped config: `tiny` is `tdmpc_parity/configs/tiny.yaml`. Shipped
configs are found with `importlib.resources`, so a name works from an installed wheel as from a checkout. A value
that is an existing file is always that file; a name is a value without a folder and without a file suffix.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path, PurePath

SUFFIX = ".yaml"


def configs_dir() -> Path:
    """The folder of the shipped configs (inside the installed tdmpc_parity package)."""
    return Path(str(files("tdmpc_parity") / "configs"))


def shipped_names() -> list[str]:
    """The names of the shipped configs, sorted (`tiny`, ...)."""
    return sorted(p.name[: -len(SUFFIX)] for p in configs_dir().iterdir() if p.name.endswith(SUFFIX))


def is_config_name(value: str | PurePath) -> bool:
    """True for a bare name such as `tiny`: a str without a folder part and without a file suffix."""
    if not isinstance(value, str) or not value or value in (".", ".."):
        return False
    path = PurePath(value)
    return len(path.parts) == 1 and "/" not in value and "\\" not in value and not path.suffix


def shipped_config(name: str) -> Path:
    """The file of the shipped config `name`; ValueError naming the shipped configs for any other name."""
    path = configs_dir() / f"{name}{SUFFIX}"
    if not is_config_name(name) or not path.is_file():
        raise ValueError(f"unknown config {name!r}: it is neither a file nor the name of a shipped config "
                         f"({', '.join(shipped_names())}); give one of those names or the path of a YAML file")
    return path


def config_file(value: str | PurePath | None) -> Path | None:
    """The file a config value names: None stays None; an existing file or a path (with a folder or a suffix) is
    taken as given (a missing one is reported by the reader); a bare name is a shipped config (`shipped_config`)."""
    if value is None:
        return None
    if Path(value).is_file() or not is_config_name(value):
        return Path(value)
    return shipped_config(str(value))
