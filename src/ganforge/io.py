"""Files: atomic writes (a reader, or a resumed run, never sees a half-written file) and the folders
commands write to when not told."""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import GanforgeError


RUNS = Path("runs")  # where commands write when not told


def timestamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def output_folder(command: str) -> Path:
    """runs/<command>-<time>: a command's output folder when not told."""
    return RUNS / f"{command}-{timestamp()}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # the mode open() would give, not mkstemp's private 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename into it survives a power cut as the file's data does."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def make_folder(path: Path | str) -> Path:
    """Create an output folder (and its parents); GanforgeError with one line if it cannot be."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanforgeError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    return path
