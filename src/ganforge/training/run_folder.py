"""A training run's folder: where each file lives, checks before a run starts, and creating it."""
from __future__ import annotations

from pathlib import Path

from ..errors import GanforgeError


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


def open_run(out: str, resume: bool) -> RunFolder:
    """The run folder for a fresh run (which must not hold files yet) or for a resumed one."""
    run = RunFolder(Path(out))
    if not resume and run.root.exists() and any(run.root.iterdir()):
        raise GanforgeError(f"output folder {run.root} already holds files; pass --resume {run.root} "
                            "to continue it, or choose another --out")
    if resume and not run.last.is_file():
        raise GanforgeError(f"{run.root} has no checkpoint to resume from ({run.last} is missing)")
    if resume:  # a run killed while writing leaves its temporary file; the finished files are intact
        for folder in (run.root, run.checkpoints, run.samples):
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
    return run
