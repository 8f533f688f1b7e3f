"""Step statistics: named records of 0-d device tensors, gathered every iteration and moved to
the host and to metrics.csv every few iterations, in one stack.

The CSV is the run's record. On resume it is cut back to the checkpoint's iteration, so a
killed run never leaves duplicated or missing iterations.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from ..io import atomic_write_text


class GanStats(NamedTuple):
    """One GAN iteration, as 0-d tensors on the device (no host sync until a flush)."""

    d_loss: Tensor
    g_loss: Tensor
    d_real: Tensor  # mean sigmoid(D(x)) over the real batch
    d_fake: Tensor  # mean sigmoid(D(G(z))) over the fake batch
    g_grad_norm: Tensor  # norm of G's whole gradient in its last update


class AEStats(NamedTuple):
    """One autoencoder iteration."""

    loss: Tensor
    image_mse: Tensor
    z_mse: Tensor  # MSE of z's [mean, variance, kurtosis] against N(0, 1)'s
    z_term: Tensor  # factor * z_mse: what the loss adds when moments are matched
    factor: Tensor


COLUMNS = ("iteration", "epoch", *GanStats._fields)


def read_metrics(path: Path, up_to: int | None = None, columns: Sequence[str] = COLUMNS) -> list[dict[str, float]]:
    """Rows of a metrics CSV (up to iteration ``up_to``); a torn last line is ignored."""
    rows: list[dict[str, float]] = []
    if not path.exists():
        return rows
    with open(path, newline="") as f:
        for rec in csv.DictReader(f):
            try:
                row = {k: float(rec[k]) for k in columns}
            except (TypeError, ValueError, KeyError):
                continue
            if up_to is not None and row["iteration"] > up_to:
                break
            rows.append(row)
    return rows


class MetricsLog:
    """metrics.csv of a run: rows of ``stats`` fields (a NamedTuple type) per iteration."""

    def __init__(self, path: Path, stats: type[NamedTuple], resume_at: int | None = None, write: bool = True):
        self.path, self.write = path, write  # write=False: rows are still gathered, for checks
        self.stats = tuple(stats._fields)
        self.columns = ("iteration", "epoch", *self.stats)
        self.pending: list[tuple[int, int, NamedTuple]] = []
        self.history = read_metrics(path, resume_at, self.columns) if resume_at is not None else []
        if not write:
            return
        lines = [",".join(self.columns)] + [self._format(r) for r in self.history]
        atomic_write_text(path, "\n".join(lines) + "\n")

    def append(self, iteration: int, epoch: int, stats: NamedTuple) -> None:
        self.pending.append((iteration, epoch, stats))

    def flush(self) -> list[dict[str, float]]:
        """Move pending rows to the host (one sync) and to disk; returns them."""
        if not self.pending:
            return []
        width = len(self.stats)
        flat = torch.stack([t.float() for _, _, s in self.pending for t in s])  # one stack, one transfer
        values = flat.view(-1, width).cpu().tolist()
        rows = [dict(zip(self.columns, (it, ep, *v))) for (it, ep, _), v in zip(self.pending, values)]
        self.pending.clear()
        bad = next((i for i, r in enumerate(rows) if not _finite(r, self.stats)), None)
        if bad is not None:
            rows = rows[: bad + 1]  # keep the first non-finite row as evidence, nothing after it
        if self.write:
            with open(self.path, "a") as f:
                f.write("".join(self._format(r) + "\n" for r in rows))
                f.flush()
                os.fsync(f.fileno())
        self.history.extend(rows)
        return rows

    def _format(self, row: dict[str, float]) -> str:
        return ",".join([str(int(row["iteration"])), str(int(row["epoch"]))] + [f"{row[k]:.6g}" for k in self.stats])


def _finite(row: dict[str, float], stats: Sequence[str]) -> bool:
    return all(math.isfinite(row[k]) for k in stats)


def first_non_finite(rows: list[dict[str, float]]) -> dict[str, float] | None:
    return next((r for r in rows if not _finite(r, [k for k in r if k not in ("iteration", "epoch")])), None)


class VanishingWatch:
    """Warns when G's gradient norm stays below ``threshold`` for ``patience`` iterations in a row."""

    def __init__(self, threshold: float, patience: int):
        self.threshold, self.patience = threshold, patience
        self.streak, self.since, self.warned = 0, None, False
        self.warnings: list[dict] = []

    def update(self, rows: list[dict[str, float]]) -> Optional[str]:
        message = None
        for r in rows:
            if r["g_grad_norm"] < self.threshold:
                self.since = self.since if self.streak else int(r["iteration"])
                self.streak += 1
                if self.streak >= self.patience and not self.warned:
                    self.warned = True
                    self.warnings.append({"since_iteration": self.since, "threshold": self.threshold})
                    message = (f"warning: vanishing gradients: G's gradient norm below {self.threshold:g} for "
                               f"{self.streak} iterations since iteration {self.since}; try -l non_saturated, "
                               "fewer -ds steps, -k unrolling or --real-label 0.9")
            else:
                self.streak, self.warned = 0, False
        return message
