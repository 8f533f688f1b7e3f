"""Live training curves: TensorBoard event files in a run folder's ``tensorboard/``, written by
TensorBoard's own writer (torch.utils.tensorboard) and read by ``tensorboard --logdir runs``.

A run with ``--tensorboard`` logs every metrics.csv column per iteration (losses, mean D outputs,
G's gradient norm), each epoch's sample grid and its options as hyperparameters; ``evaluate`` on
such a run adds its metrics at the run's last iteration. A resumed run drops events past its
checkpoint (TensorBoard's purge step), as metrics.csv drops rows.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
from PIL import Image

from .errors import GanforgeError

FOLDER = "tensorboard"


class Board:
    """One run's event writer."""

    def __init__(self, run_root: Path, *, purge_step: Optional[int] = None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GanforgeError("--tensorboard needs the tensorboard package: pip install 'ganforge[tensorboard]'") \
                from None
        self.writer = SummaryWriter(str(run_root / FOLDER), purge_step=purge_step, flush_secs=30)

    def rows(self, rows: Iterable[Mapping[str, float]], fields: Sequence[str], prefix: str = "train") -> None:
        for row in rows:
            for name in fields:
                self.writer.add_scalar(f"{prefix}/{name}", row[name], int(row["iteration"]))

    def scalars(self, values: Mapping[str, Any], step: int, prefix: str) -> None:
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def picture(self, tag: str, png: Path, step: int) -> None:
        """A figure ganforge wrote (an epoch's sample grid), as TensorBoard's image."""
        with Image.open(png) as im:
            self.writer.add_image(tag, np.asarray(im.convert("RGB")), step, dataformats="HWC")

    def options(self, config: Mapping[str, Any], metrics: Sequence[str]) -> None:
        """The run's options in TensorBoard's hyperparameter view, beside the tags of ``metrics``."""
        from torch.utils.tensorboard.summary import hparams

        plain = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in config.items()}
        for summary in hparams(plain, {m: math.nan for m in metrics}):
            self.writer.file_writer.add_summary(summary)

    def close(self) -> None:
        self.writer.close()


def open_board(run_root: Path, enabled: bool, *, purge_step: Optional[int] = None) -> Optional[Board]:
    return Board(run_root, purge_step=purge_step) if enabled else None
