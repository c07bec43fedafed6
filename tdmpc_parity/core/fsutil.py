"""Atomic file writes (a temporary file in the same folder, fsynced, then renamed over the target), and the check
that a shared folder has no symbolic link leading out of it.

A crash or kill leaves either the old file or the new one, never a torn one. New files get the usual
permissions (0666 minus the umask), not mkstemp's 0600.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def require_inside(root: str | Path, path: str | Path, what: str = "run folder") -> Path:
    """`path` itself, after checking that it does not lead out of `root` through a symbolic link.

    A shared folder is data: a link inside it to a file elsewhere (`/etc/passwd`, another user's files) would
    make the project read or write that file. Refused with a ValueError naming both paths.
    """
    path = Path(path)
    real_root, real = Path(root).resolve(), path.resolve()
    if real != real_root and not real.is_relative_to(real_root):
        raise ValueError(f"{str(path)!r} is a symbolic link to {str(real)!r}, outside the {what} {str(root)!r}: "
                         f"refused (a {what} must hold its files itself; copy the file in instead of linking it)")
    return path


def check_links(root: str | Path, what: str = "run folder", boundary: str | Path | None = None) -> None:
    """Refuse every symbolic link under `root` (recursively, without following links) that leads out of
    `boundary` (default: `root` itself)."""
    root = Path(root)
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in (*dirs, *files):
            entry = Path(folder) / name
            if entry.is_symlink():
                require_inside(root if boundary is None else boundary, entry, what)
