"""The run loop that GAN and autoencoder training share, in three parts: ``setup`` (processes,
device, run folder, seeds, data, the task, resume), ``iterate`` (the epoch/batch loop with periodic
flushes, a non-finite check, checkpoints, per-epoch figures and the time limit) and ``finish`` (the
task's files and the summary). ``run_training`` runs all three; the benchmarks call ``setup`` and
``iterate`` to time exactly the step users run. A training command supplies a ``Task``: how it is
built (``build``), the order it reads its data in and what one step does; see gan.py and ae.py.
It knows nothing of GANs.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..board import open_board
from ..checkpoint import versions
from ..console import say
from ..data import DataOptions, Dataset, load_dataset
from ..device import pick_device
from ..errors import GanforgeError
from ..records import write_record
from .distributed import World, barrier, env_world, mean_over_ranks, same_on_all_ranks
from .distributed import finish as finish_world
from .distributed import init as init_distributed
from .run_folder import RunFolder, open_run
from .batches import Batches
from .state import Position, restore_state, save_state
from .stats import MetricsLog, first_non_finite


@dataclass
class Setting:
    """What a task is built from: the resolved options and what the lifecycle has set up."""

    cfg: Any  # the command's resolved config (TrainConfig, AEConfig)
    data: Dataset
    device: torch.device
    world: World
    data_rng: torch.Generator  # batch draws beyond the epoch order (look-ahead batches); saved in checkpoints


class Task(Protocol):
    """One kind of training, as ``run_training`` drives it."""

    kind: str  # the record kind of its config.json
    stats: type[NamedTuple]  # the fields ``step`` returns, one metrics.csv column each
    modules: dict[str, nn.Module]  # saved in and restored from checkpoints under these names
    optimizers: dict[str, torch.optim.Optimizer]
    batches: Batches  # its training data on the device and the order of each epoch
    meta: dict[str, Any]  # checkpoint metadata: model names, z size, data shape, dataset

    def start_epoch(self, epoch: int) -> None: ...
    def step(self, index: Tensor, iteration: int) -> NamedTuple: ...  # index: the batch's items; iteration: 0-based
    def after_flush(self, rows: list[dict[str, float]], progress: tqdm) -> None: ...
    def end_epoch(self, run: RunFolder, epoch: int, log: MetricsLog) -> None: ...
    def finish(self, run: RunFolder, log: MetricsLog, pos: Position) -> dict[str, Any]: ...
    def close(self) -> None: ...


def data_options(cfg: Any) -> DataOptions:
    """What a loader reads of a training config (any object with the data group's options)."""
    return DataOptions(root=Path(cfg.data_root) if cfg.data_root else None, download=cfg.download,
                       image_size=cfg.image_size, seed=cfg.seed, images=Path(cfg.images) if cfg.images else None,
                       background=cfg.background, fit=cfg.fit, channels=cfg.channels)


def load_training_data(cfg: Any) -> Dataset:
    """The dataset a training config names (its data options and seed), checked to hold at least one batch."""
    data = load_dataset(cfg.dataset, data_options(cfg)).limit(cfg.limit)
    say(f"data: {data.describe()}")
    if len(data.train) < cfg.batch_size:
        raise GanforgeError(f"-b {cfg.batch_size} is larger than the {len(data.train)} training items")
    return data


@dataclass
class Run:
    """A run under way: what ``setup`` made and where ``iterate`` stands."""

    cfg: Any
    task: Task
    folder: RunFolder
    setting: Setting
    pos: Position
    n_batches: int  # iterations per epoch
    log: MetricsLog
    files: bool  # whether this run writes its folder (rank 0 of a training run; not a benchmark's)
    board: Any = None
    progress: Any = None
    stopped_early: bool = False  # by --time-limit
    started: float = 0.0
    start_iter: int = 0

    def checkpoint(self) -> None:
        if self.files:
            s = self.setting
            save_state(self.folder.last, modules=self.task.modules, optimizers=self.task.optimizers,
                       data_rng=s.data_rng, device=s.device, pos=self.pos, meta=self.task.meta)

    def flush(self) -> None:
        """The one host sync: rows to the CSV, then checks and the progress bar."""
        rows = self.log.flush()
        bad = first_non_finite(rows)
        if bad is not None:
            kept = (f"last good checkpoint kept: {self.folder.last}" if self.folder.last.exists()
                    else "no checkpoint had been written yet")
            values = ", ".join(f"{k}={bad[k]}" for k in self.task.stats._fields[:2])
            raise GanforgeError(f"loss became non-finite at iteration {int(bad['iteration'])} ({values}); run "
                                f"stopped, {kept}")
        self.task.after_flush(rows, self.progress)
        if self.board is not None:
            self.board.rows(rows, self.task.stats._fields)

    def close(self) -> None:
        self.progress.close()
        if self.board is not None:
            self.board.close()


def setup(cfg: Any, build: Callable[[Setting], Task], *, default_out: str, resume: Optional[Path] = None,
          files: bool = True) -> Run:
    """Everything before the first step, for the resolved ``cfg`` (a TrainConfig or AEConfig): processes,
    device, run folder, seeds, data, the task ``build`` makes, and with ``resume`` its state from the run
    folder's checkpoint. ``files=False`` (benchmarks): no folder is made or written."""
    # ---- where and on what: processes, device, run folder, seeds, data
    world = env_world()
    if cfg.batch_size % world.size:
        raise GanforgeError(f"-b {cfg.batch_size} (the global batch) must be divisible by the {world.size} processes")
    device = init_distributed(world, pick_device(cfg.device))
    cfg.out = same_on_all_ranks(cfg.out or default_out, world)
    files = files and world.main
    # the writer holds the folder from here on (one process per run folder); it decides whether to resume
    folder, resuming = open_run(cfg.out, resume is not None) if files else (RunFolder(Path(cfg.out)), resume)
    resume = resume if same_on_all_ranks(bool(resuming), world) else None
    try:
        run = _setup_held(cfg, build, folder, world, device, resume, files)
    except BaseException:
        folder.release(failed=True)  # a run that did not start leaves no folder it made
        raise
    return run


def _setup_held(cfg: Any, build: Callable[[Setting], Task], folder: RunFolder, world: World, device: torch.device,
                resume: Optional[Path], files: bool) -> Run:
    torch.manual_seed(cfg.seed)
    data_rng = torch.Generator().manual_seed(cfg.seed + 1)
    data = load_training_data(cfg)
    n_batches = len(data.train) // cfg.batch_size

    # ---- the task's models and optimisers; only now the folder's files: bad options or data leave none behind
    setting = Setting(cfg, data, device, world, data_rng)
    task = build(setting)
    barrier(world)  # every rank has its task before rank 0 writes the folder
    if files:
        folder.prepare()

    # ---- resume: weights, optimiser moments, RNG states and position, as the checkpoint has them
    pos = Position()
    if resume is not None:
        pos, meta = restore_state(folder.last, modules=task.modules, optimizers=task.optimizers, data_rng=data_rng,
                                  device=device, expect=task.meta)
        if meta.get("clusters", {}).get("digest") != task.meta.get("clusters", {}).get("digest"):
            raise GanforgeError("the training data's clusters are not the checkpoint's (different data, --limit or "
                                "--clusters?); resume with the options the run started with")
        say(f"resuming {folder.root} at epoch {pos.epoch + 1}, iteration {pos.iteration}")
    if files:
        write_record(folder.config, task.kind, {**cfg.to_dict(), "data_source": data.describe(), "device": str(device),
                                                "processes": world.size, "iterations_per_epoch": n_batches,
                                                "versions": versions()})
    # events past the checkpoint (a run killed after it) are dropped, as metrics.csv drops its rows
    board = open_board(folder.root, cfg.tensorboard and files, purge_step=pos.iteration + 1 if resume else None)
    if board is not None and resume is None:
        board.options(cfg.to_dict(), [f"train/{name}" for name in task.stats._fields])
    log = MetricsLog(folder.metrics, task.stats, resume_at=pos.iteration, write=files)
    progress = tqdm(total=n_batches, disable=cfg.quiet or not world.main, file=sys.stderr, dynamic_ncols=True,
                    leave=False)
    return Run(cfg, task, folder, setting, pos, n_batches, log, files, board, progress,
               started=time.perf_counter(), start_iter=pos.iteration)


def iterate(run: Run) -> Iterator[Position]:
    """The epoch/batch loop from where ``run`` stands, yielding after every iteration (a caller may stop
    early); it ends after the last epoch, or at a flush once --time-limit has passed."""
    cfg, task, pos, world = run.cfg, run.task, run.pos, run.setting.world
    deadline = run.started + 60 * cfg.time_limit if cfg.time_limit else math.inf
    for epoch in range(pos.epoch, cfg.epochs or sys.maxsize):
        order = task.batches.epoch_order(epoch)
        task.start_epoch(epoch)
        run.progress.reset(total=run.n_batches)
        run.progress.set_description(f"epoch {epoch + 1}" + (f"/{cfg.epochs}" if cfg.epochs else ""))
        run.progress.update(pos.batch)
        for b in range(pos.batch, run.n_batches):
            if b + 1 < run.n_batches:  # streamed data gathers the next batch while this one trains
                task.batches.prefetch(order[(b + 1) * cfg.batch_size:(b + 2) * cfg.batch_size])
            stats = task.step(order[b * cfg.batch_size:(b + 1) * cfg.batch_size], pos.iteration)
            if world.enabled:
                stats = type(stats)(*mean_over_ranks(torch.stack(stats), world).unbind())
            pos.batch, pos.iteration = b + 1, pos.iteration + 1
            run.log.append(pos.iteration, epoch + 1, stats)
            run.progress.update(1)
            last_of_epoch = b + 1 == run.n_batches
            if pos.iteration % cfg.log_every == 0 or last_of_epoch:
                run.flush()
                # rank 0's clock decides, so that every rank stops after the same iteration
                run.stopped_early = bool(cfg.time_limit) and same_on_all_ranks(time.perf_counter() >= deadline, world)
                if run.stopped_early and not last_of_epoch:
                    break
            if cfg.checkpoint_every and pos.iteration % cfg.checkpoint_every == 0 and not last_of_epoch:
                run.flush()
                run.checkpoint()
            yield pos
        # ---- end of an epoch (or of the time limit): checkpoint, figures
        if pos.batch == run.n_batches:
            pos.epoch, pos.batch = epoch + 1, 0
        run.checkpoint()
        if run.files:
            task.end_epoch(run.folder, epoch + 1, run.log)
        if run.board is not None:
            run.board.picture("samples", run.folder.samples / f"epoch_{epoch + 1:03d}.png", pos.iteration)
        if run.stopped_early:
            say(f"time limit of {cfg.time_limit:g} minutes reached in epoch {epoch + 1}; "
                f"--resume {run.folder.root} continues")
            break


def finish(run: Run) -> Path:
    """After the loop: the task's files (the generator) and the summary (rank 0), then leave the process group."""
    task, pos, world = run.task, run.pos, run.setting.world
    task.close()  # DDP wrappers go before the process group does (see distributed.finish)
    if not world.main:
        finish_world(world)
        return run.folder.root
    extra = task.finish(run.folder, run.log, pos)
    seconds = time.perf_counter() - run.started
    done_epochs = (pos.iteration - run.start_iter) / run.n_batches
    per_epoch = round(seconds / done_epochs, 2) if done_epochs else None
    write_record(run.folder.summary, "run-summary", {"epochs": pos.epoch, "iterations": pos.iteration,
                                                     "seconds": round(seconds, 2), "seconds_per_epoch": per_epoch,
                                                     "stopped_by_time_limit": run.stopped_early, **extra})
    say(f"done: {pos.epoch} epochs, {pos.iteration} iterations" + (f", {per_epoch:.1f} s/epoch" if per_epoch else "")
        + "".join(f", {k.replace('_', ' ')} {v:.4g}" for k, v in extra.items() if isinstance(v, float)))
    finish_world(world)
    return run.folder.root


def run_training(cfg: Any, build: Callable[[Setting], Task], *, default_out: str,
                 resume: Optional[Path] = None) -> Path:
    """Train the task ``build`` makes, as the resolved ``cfg`` says (or continue the run in folder
    ``resume``); returns the run folder. Rank 0 alone writes files under torchrun."""
    run = setup(cfg, build, default_out=default_out, resume=resume)
    try:
        try:
            for _ in iterate(run):
                pass
        finally:
            run.close()
        return finish(run)
    finally:
        run.folder.release()  # the OS would at exit; a library caller may train into the folder again
