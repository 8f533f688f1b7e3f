"""Helpers shared by the benchmark scripts: timing, machine description, writing JSON + Markdown."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Callable, Iterable

import torch

from ganforge.config import TrainConfig, resolve
from ganforge.training.gan import build_gan_trainer
from ganforge.training.loop import Run, iterate, setup

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def write(name: str, results: dict, markdown: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (DOCS / f"{name}.md").write_text(markdown)
    print(markdown)
    print(f"wrote {DOCS / name}.md and .json")


def training_run(cfg: TrainConfig) -> Run:
    """The run ``ganforge train`` makes of the options ``cfg``, set up by the trainer's own ``setup`` but
    writing no files and with epochs without end: ``iterate(run)`` then yields its iterations exactly as
    the user's loop runs them (epoch order, batches, the trainer's step, flushes)."""
    cfg = resolve(cfg)
    cfg.epochs, cfg.quiet = 10**9, True
    return setup(cfg, build_gan_trainer, default_out="benchmark (no files)", files=False)


def loop_step(cfg: TrainConfig) -> Callable[[], object]:
    """One iteration of the user's loop per call (see ``training_run``)."""
    iterations = iterate(training_run(cfg))
    return lambda: next(iterations)


def table(header: str, rows: Iterable[str]) -> list[str]:
    """A Markdown table's lines: the header, the alignment row (the first column left, the others right),
    the rows and a blank line."""
    return [header, "|---|" + "---:|" * (header.count("|") - 2), *rows, ""]
