"""A training run's folder: where each file lives, checks before a run starts, the lock that keeps
it to one writer, and creating it."""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Optional

from ..console import say
from ..errors import GanforgeError

# What a run writes before its first checkpoint: a folder holding these and nothing else, with no
# checkpoint and no generator, is a run killed early, which may be started again in place.
EARLY_FILES = {"config.json", "metrics.csv", "samples", "checkpoints", "tensorboard", "loss.png"}


class RunFolder:
    """Paths of a run folder (see the README's "A run folder")."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "config.json"
        self.metrics = root / "metrics.csv"
        self.loss_plot = root / "loss.png"
        self.samples = root / "samples"
        self.checkpoints = root / "checkpoints"
        self.last = self.checkpoints / "last.safetensors"
        self.generator = root / "generator.safetensors"
        self.summary = root / "summary.json"
        self.made = False  # whether this process created the folder (removed again if a run fails to start)
        self._lock: Optional[int] = None

    def lock(self) -> None:
        """Hold the folder for this process, creating it if need be: another process that tries to write
        it gets one line. An flock on the folder, which the OS releases however the process ends."""
        self.made = not self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise GanforgeError(f"cannot write to output folder {self.root}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise GanforgeError(f"{self.root} is in use: another ganforge process is writing it; wait for it "
                                "to end, or choose another --out") from None
        self._lock = fd

    def release(self, *, failed: bool = False) -> None:
        """Let the folder go; after a run that ``failed`` to start, remove the folder if this process made
        it and nothing is in it."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if failed and self.made and all(p.is_dir() for p in self.root.rglob("*")):  # nothing written yet
            shutil.rmtree(self.root, ignore_errors=True)

    def killed_early(self) -> bool:
        """Whether the folder holds a run that was stopped before its first checkpoint, and nothing else."""
        names = {p.name for p in self.root.iterdir() if not p.name.startswith(".")}
        return (self.config.is_file() and names <= EARLY_FILES and not self.last.exists()
                and not self.generator.exists())

    def clear_early(self) -> None:
        """Remove what a run killed before its first checkpoint wrote, so that it starts again in place."""
        for p in self.root.iterdir():
            if p.name in EARLY_FILES or p.name.endswith(".tmp"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()

    def prepare(self) -> None:
        """Create the folder and check that it takes files; on failure leave no empty folder behind."""
        made: list[Path] = []
        try:
            for d in (self.root, self.samples, self.checkpoints):
                if not d.exists():
                    d.mkdir(parents=True)
                    made.append(d)
            probe = self.root / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            for d in reversed(made):  # an empty run folder would block the next try
                try:
                    d.rmdir()
                except OSError:
                    pass
            raise GanforgeError(f"cannot write to output folder {self.root}: {exc.strerror or exc}") from None


def open_run(out: str, resume: bool, *, lock: bool = True) -> tuple[RunFolder, bool]:
    """The run folder for a fresh run (which must not hold files yet) or for a resumed one, held by this
    process when ``lock`` (the one that writes it); and whether to resume, which is False for a folder
    whose run was stopped before its first checkpoint: it starts again from the beginning, in place."""
    run = RunFolder(Path(out))
    if lock:
        run.lock()
    try:
        if run.root.is_dir() and any(run.root.iterdir()) and run.killed_early():
            say(f"{run.root} holds a run stopped before its first checkpoint; starting it from the beginning")
            if lock:
                run.clear_early()
            return run, False
        if not resume and run.root.exists() and any(run.root.iterdir()):
            raise GanforgeError(f"output folder {run.root} already holds files; pass --resume {run.root} "
                                "to continue it, or choose another --out")
        if resume and not run.last.is_file():
            raise GanforgeError(f"{run.root} has no checkpoint to resume from ({run.last} is missing)")
        if resume and lock:  # a run killed while writing leaves its temporary file; the finished files are intact
            for folder in (run.root, run.checkpoints, run.samples):
                for stale in folder.glob(".*.tmp"):
                    stale.unlink(missing_ok=True)
    except BaseException:
        run.release(failed=True)
        raise
    return run, resume
