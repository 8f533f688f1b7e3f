"""``run_training``: the run lifecycle that GAN and autoencoder training share.

Run folder, seeds, data, resume, the epoch/batch loop, periodic flushes with a non-finite check,
checkpoints, per-epoch figures and the summary live here, once. A training command supplies a
``Task``: how its models are built (``build``) and what one step does (``Task.step``); see
``gan.py`` and ``ae.py``.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional, Protocol

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
from .distributed import World, barrier, env_world, finish, mean_over_ranks, same_on_all_ranks
from .distributed import init as init_distributed
from .run_folder import RunFolder, open_run
from .state import ClassRuns, Position, epoch_order, restore_state, save_state
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
    train_x: Tensor  # (N, ...) training data on the device, in the layout the models want
    train_y: Optional[Tensor]  # (N,) its classes on the device, for a task that reads them; else None
    class_runs: Optional[ClassRuns]  # the data order in runs of one class (D's packs of one class); else None
    meta: dict[str, Any]  # checkpoint metadata: model names, z size, data shape, dataset

    def start_epoch(self, epoch: int) -> None: ...
    def step(self, real: Tensor, labels: Optional[Tensor], iteration: int) -> NamedTuple: ...  # iteration: 0-based
    def after_flush(self, rows: list[dict[str, float]], progress: tqdm) -> None: ...
    def end_epoch(self, run: RunFolder, epoch: int, log: MetricsLog) -> None: ...
    def finish(self, run: RunFolder, log: MetricsLog, pos: Position) -> dict[str, Any]: ...
    def close(self) -> None: ...


def load_training_data(cfg: Any) -> Dataset:
    """The dataset a training config names (fields dataset, data_root, download, image_size, seed, limit),
    checked to hold at least one batch."""
    data = load_dataset(cfg.dataset, DataOptions(root=Path(cfg.data_root) if cfg.data_root else None,
                                                 download=cfg.download, image_size=cfg.image_size,
                                                 seed=cfg.seed)).limit(cfg.limit)
    say(f"data: {data.describe()}")
    if len(data.train) < cfg.batch_size:
        raise GanforgeError(f"-b {cfg.batch_size} is larger than the {len(data.train)} training items")
    return data


def run_training(cfg: Any, build: Callable[[Setting], Task], *, default_out: str,
                 resume: Optional[Path] = None) -> Path:
    """Train the task ``build`` makes, as the resolved ``cfg`` says (or continue the run in folder
    ``resume``); returns the run folder. ``cfg`` is a resolved TrainConfig or AEConfig (RunOptions and
    dataset, epochs, batch_size). Rank 0 alone writes files under torchrun."""
    # ---- where and on what: processes, device, run folder, seeds, data
    world = env_world()
    if cfg.batch_size % world.size:
        raise GanforgeError(f"-b {cfg.batch_size} (the global batch) must be divisible by the {world.size} processes")
    device = init_distributed(world, pick_device(cfg.device))
    cfg.out = same_on_all_ranks(cfg.out or default_out, world)
    run = open_run(cfg.out, resume is not None)
    torch.manual_seed(cfg.seed)
    data_rng = torch.Generator().manual_seed(cfg.seed + 1)
    data = load_training_data(cfg)
    n_batches = len(data.train) // cfg.batch_size

    # ---- the task's models and optimisers; only now the folder: bad options or data leave none behind
    task = build(Setting(cfg, data, device, world, data_rng))
    barrier(world)  # every rank has checked the run folder before rank 0 creates it
    if world.main:
        run.prepare()

    # ---- resume: weights, optimiser moments, RNG states and position, as the checkpoint has them
    pos = Position()
    if resume is not None:
        pos, meta = restore_state(run.last, modules=task.modules, optimizers=task.optimizers, data_rng=data_rng,
                                  device=device)
        if meta.get("z_dim") != task.meta["z_dim"]:
            raise GanforgeError(f"latent size -z {task.meta['z_dim']} does not match the checkpoint's "
                                f"z = {meta.get('z_dim')}")
        if meta.get("clusters", {}).get("digest") != task.meta.get("clusters", {}).get("digest"):
            raise GanforgeError("the training data's clusters are not the checkpoint's (different data, --limit or "
                                "--clusters?); resume with the options the run started with")
        say(f"resuming {run.root} at epoch {pos.epoch + 1}, iteration {pos.iteration}")
    if world.main:
        write_record(run.config, task.kind, {**cfg.to_dict(), "data_source": data.describe(), "device": str(device),
                                             "processes": world.size, "iterations_per_epoch": n_batches,
                                             "versions": versions()})
    # events past the checkpoint (a run killed after it) are dropped, as metrics.csv drops its rows
    board = open_board(run.root, cfg.tensorboard and world.main, purge_step=pos.iteration + 1 if resume else None)
    if board is not None and resume is None:
        board.options(cfg.to_dict(), [f"train/{name}" for name in task.stats._fields])

    def checkpoint() -> None:
        if world.main:
            save_state(run.last, modules=task.modules, optimizers=task.optimizers, data_rng=data_rng, device=device,
                       pos=pos, meta=task.meta)

    def flush() -> None:  # the one host sync: rows to the CSV, then checks and the progress bar
        rows = log.flush()
        bad = first_non_finite(rows)
        if bad is not None:
            kept = (f"last good checkpoint kept: {run.last}" if run.last.exists()
                    else "no checkpoint had been written yet")
            values = ", ".join(f"{k}={bad[k]}" for k in task.stats._fields[:2])
            raise GanforgeError(f"loss became non-finite at iteration {int(bad['iteration'])} ({values}); run "
                                f"stopped, {kept}")
        task.after_flush(rows, progress)
        if board is not None:
            board.rows(rows, task.stats._fields)

    # ---- the loop
    log = MetricsLog(run.metrics, task.stats, resume_at=pos.iteration, write=world.main)
    progress = tqdm(total=n_batches, disable=cfg.quiet or not world.main, file=sys.stderr, dynamic_ncols=True,
                    leave=False)
    started, start_iter = time.perf_counter(), pos.iteration
    deadline = started + 60 * cfg.time_limit if cfg.time_limit else math.inf
    stopped_early = False
    try:
        for epoch in range(pos.epoch, cfg.epochs or sys.maxsize):
            order = (task.class_runs.epoch_order(cfg.seed, epoch) if task.class_runs else
                     epoch_order(len(task.train_x), cfg.seed, epoch)).to(device)
            task.start_epoch(epoch)
            progress.reset(total=n_batches)
            progress.set_description(f"epoch {epoch + 1}" + (f"/{cfg.epochs}" if cfg.epochs else ""))
            progress.update(pos.batch)
            for b in range(pos.batch, n_batches):
                index = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                real = world.shard(task.train_x[index])
                labels = None if task.train_y is None else world.shard(task.train_y[index])
                stats = task.step(real, labels, pos.iteration)
                if world.enabled:
                    stats = type(stats)(*mean_over_ranks(torch.stack(stats), world).unbind())
                pos.batch, pos.iteration = b + 1, pos.iteration + 1
                log.append(pos.iteration, epoch + 1, stats)
                progress.update(1)
                last_of_epoch = b + 1 == n_batches
                if pos.iteration % cfg.log_every == 0 or last_of_epoch:
                    flush()
                    # rank 0's clock decides, so that every rank stops after the same iteration
                    stopped_early = bool(cfg.time_limit) and same_on_all_ranks(time.perf_counter() >= deadline, world)
                    if stopped_early and not last_of_epoch:
                        break
                if cfg.checkpoint_every and pos.iteration % cfg.checkpoint_every == 0 and not last_of_epoch:
                    flush()
                    checkpoint()
            # ---- end of an epoch (or of the time limit): checkpoint, figures
            if pos.batch == n_batches:
                pos.epoch, pos.batch = epoch + 1, 0
            checkpoint()
            if world.main:
                task.end_epoch(run, epoch + 1, log)
            if board is not None:
                board.picture("samples", run.samples / f"epoch_{epoch + 1:03d}.png", pos.iteration)
            if stopped_early:
                say(f"time limit of {cfg.time_limit:g} minutes reached in epoch {epoch + 1}; "
                    f"--resume {run.root} continues")
                break
    finally:
        progress.close()
        if board is not None:
            board.close()

    # ---- the end: the generator file and the summary (rank 0), then leave the process group
    task.close()  # DDP wrappers go before the process group does (see distributed.finish)
    if not world.main:
        finish(world)
        return run.root
    extra = task.finish(run, log, pos)
    seconds = time.perf_counter() - started
    done_epochs = (pos.iteration - start_iter) / n_batches
    per_epoch = round(seconds / done_epochs, 2) if done_epochs else None
    write_record(run.summary, "run-summary", {"epochs": pos.epoch, "iterations": pos.iteration,
                                              "seconds": round(seconds, 2), "seconds_per_epoch": per_epoch,
                                              "stopped_by_time_limit": stopped_early, **extra})
    say(f"done: {pos.epoch} epochs, {pos.iteration} iterations" + (f", {per_epoch:.1f} s/epoch" if per_epoch else "")
        + "".join(f", {k.replace('_', ' ')} {v:.4g}" for k, v in extra.items() if isinstance(v, float)))
    finish(world)
    return run.root
