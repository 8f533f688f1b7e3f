"""``train(config)``: epochs, logging, samples and checkpoints around ``gan_step``."""
from __future__ import annotations

import contextlib
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from .. import plots
from ..checkpoint import save_generator, versions
from ..errors import GanforgeError
from ..io import atomic_write_json
from ..losses import get_loss
from ..models import build_model
from ..models.fast import speed_up
from .config import TrainConfig, resolve
from .metrics import MetricsLog, first_non_finite
from .distributed import (barrier, check_batch, convert_sync_bn, env_world, finish, init as init_distributed,
                          mean_over_ranks, same_on_all_ranks, wrap)
from .runstate import Position, Run, epoch_order, pick_device, restore_state, save_state, say, start_run
from .step import GanParts, adam, gan_step


def default_out(cfg: TrainConfig) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return str(Path("runs") / f"{stamp}-{cfg.dataset}-{cfg.generator}-{cfg.discriminator}-{cfg.loss}-k{cfg.unroll_steps}")


def train(cfg: TrainConfig, *, resume: Optional[Path] = None) -> Path:
    """Train a GAN as ``cfg`` says (or continue the run in folder ``resume``); returns the run folder."""
    cfg = resolve(cfg)
    world = env_world()
    check_batch(world, cfg.batch_size)
    device = init_distributed(world, pick_device(cfg.device))
    cfg.out = same_on_all_ranks(cfg.out or default_out(cfg), world)
    run, _, data_rng, data = start_run(cfg, resume is not None)
    n_batches = len(data.train) // cfg.batch_size

    G = build_model(cfg.generator, role="G", shape=data.shape, z_dim=cfg.z_dim).to(device)
    D = build_model(cfg.discriminator, role="D", shape=data.shape).to(device)
    G, D = speed_up(G, device), speed_up(D, device)
    if cfg.sync_bn:
        G, D = convert_sync_bn(G, device), convert_sync_bn(D, device)
    memory = torch.channels_last if _channels_last(cfg, device, data.shape) else torch.contiguous_format
    G, D = G.to(memory_format=memory), D.to(memory_format=memory)
    if cfg.compile:
        G.compile(), D.compile()
    opt_g = adam(G.parameters(), cfg.lr_g, (cfg.beta1, cfg.beta2), device)
    opt_d = adam(D.parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2), device)
    parts = GanParts(wrap(G, world, device), wrap(D, world, device), opt_g, opt_d, get_loss(cfg.loss), cfg.z_dim,
                     cfg.real_label, world)
    barrier(world)  # every rank has checked the run folder before rank 0 creates it
    if world.main:
        run.prepare()  # only now: bad options or missing data leave no folder behind

    modules, optimizers = {"G": G, "D": D}, {"opt_g": opt_g, "opt_d": opt_d}
    pos = Position()
    if resume is not None:
        pos, meta = restore_state(run.last, modules=modules, optimizers=optimizers, data_rng=data_rng, device=device)
        if meta.get("z_dim") != cfg.z_dim:
            raise GanforgeError(f"latent size -z {cfg.z_dim} does not match the checkpoint's z = {meta.get('z_dim')}")
        say(f"resuming {run.root} at epoch {pos.epoch + 1}, iteration {pos.iteration}")

    if world.main:
        atomic_write_json(run.config, {**cfg.to_dict(), "data_source": data.describe(), "device": str(device),
                                       "processes": world.size, "iterations_per_epoch": n_batches,
                                       "versions": versions()})
    train_x = data.train.to(device)
    if memory == torch.channels_last:
        train_x = train_x.contiguous(memory_format=memory)
    fixed_z = torch.randn(cfg.sample_count, cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    centres = data.extras.get("centres")
    log = MetricsLog(run.metrics, resume_at=pos.iteration, write=world.main)
    autocast = _autocast(cfg, device)

    def draw() -> Tensor:  # a fresh random batch, for look-ahead D steps; this rank's share of it
        return world.shard(train_x[torch.randint(len(train_x), (cfg.batch_size,), generator=data_rng).to(device)])

    def checkpoint() -> None:
        if world.main:
            save_state(run.last, modules=modules, optimizers=optimizers, data_rng=data_rng, device=device, pos=pos,
                       meta=_model_meta(cfg, data.shape))

    progress = _progress(cfg, n_batches, world.main)
    vanish = VanishingWatch(cfg.vanish_threshold, cfg.vanish_patience)
    started, start_iter = time.perf_counter(), pos.iteration
    try:
        for epoch in range(pos.epoch, cfg.epochs):
            order = epoch_order(len(train_x), cfg.seed, epoch).to(device)
            progress.reset(total=n_batches)
            progress.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
            progress.update(pos.batch)
            G.train(), D.train()
            for b in range(pos.batch, n_batches):
                real = world.shard(train_x[order[b * cfg.batch_size:(b + 1) * cfg.batch_size]])
                with autocast:
                    stats = gan_step(parts, real, d_steps=cfg.d_steps, g_steps=cfg.g_steps,
                                     unroll_steps=cfg.unroll_steps, unroll_mode=cfg.unroll_mode, draw=draw)
                stats = mean_over_ranks(stats, world)
                pos.batch, pos.iteration = b + 1, pos.iteration + 1
                log.append(pos.iteration, epoch + 1, stats)
                progress.update(1)
                last_of_epoch = b + 1 == n_batches
                if pos.iteration % cfg.log_every == 0 or last_of_epoch:
                    _check(log.flush(), progress, vanish, run)
                if cfg.checkpoint_every and pos.iteration % cfg.checkpoint_every == 0 and not last_of_epoch:
                    _check(log.flush(), progress, vanish, run)
                    checkpoint()
            pos.epoch, pos.batch = epoch + 1, 0
            checkpoint()
            if world.main:
                _epoch_figures(run, G, fixed_z, centres, log, n_batches, pos.epoch, cfg)
    finally:
        progress.close()
    del parts  # the DDP wrappers, before the process group goes (see finish)
    if not world.main:
        finish(world)
        return run.root
    save_generator(run.generator, G, {**_model_meta(cfg, data.shape), "epochs": pos.epoch,
                                      "iterations": pos.iteration})
    seconds = time.perf_counter() - started
    done_epochs = (pos.iteration - start_iter) / n_batches
    per_epoch = round(seconds / done_epochs, 2) if done_epochs else None
    atomic_write_json(run.summary, {"epochs": pos.epoch, "iterations": pos.iteration, "seconds": round(seconds, 2),
                                    "seconds_per_epoch": per_epoch, "vanishing_warnings": vanish.warnings})
    say(f"done: {pos.epoch} epochs, {pos.iteration} iterations"
        + (f", {per_epoch:.1f} s/epoch" if per_epoch else ""))
    print(f"outputs in {run.root}")
    finish(world)
    return run.root


def _model_meta(cfg: TrainConfig, shape: tuple[int, ...]) -> dict:
    return {"generator": cfg.generator, "discriminator": cfg.discriminator, "z_dim": cfg.z_dim,
            "shape": list(shape), "dataset": cfg.dataset, "loss": cfg.loss}


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


def _check(rows: list[dict[str, float]], progress, vanish: VanishingWatch, run: Run) -> None:
    bad = first_non_finite(rows)
    if bad is not None:
        kept = f"last good checkpoint kept: {run.last}" if run.last.exists() else "no checkpoint had been written yet"
        raise GanforgeError(f"loss became non-finite at iteration {int(bad['iteration'])} (d_loss={bad['d_loss']}, "
                            f"g_loss={bad['g_loss']}); run stopped, {kept}")
    if rows:
        last = rows[-1]
        progress.set_postfix(d=f"{last['d_loss']:.3f}", g=f"{last['g_loss']:.3f}",
                             Dx=f"{last['d_real']:.2f}", DGz=f"{last['d_fake']:.2f}")
    message = vanish.update(rows)
    if message:
        progress.write(message, file=sys.stderr)


@torch.no_grad()
def _epoch_figures(run: Run, G, fixed_z: Tensor, centres, log: MetricsLog, n_batches: int, epoch: int,
                   cfg: TrainConfig) -> None:
    G.eval()
    samples = G(fixed_z)
    G.train()
    plots.save_samples(run.samples / f"epoch_{epoch:03d}.png", samples, centres, title=f"epoch {epoch}")
    h = log.history
    plots.loss_plot(run.loss_plot, [r["iteration"] for r in h], [r["g_loss"] for r in h],
                    [r["d_loss"] for r in h], n_batches,
                    title=f"{cfg.dataset}: {cfg.generator}/{cfg.discriminator}, {cfg.loss}, k={cfg.unroll_steps}")


def _progress(cfg: TrainConfig, n_batches: int, main: bool = True):
    from tqdm.auto import tqdm

    return tqdm(total=n_batches, disable=cfg.quiet or not main, file=sys.stderr, dynamic_ncols=True, leave=False)


def _channels_last(cfg: TrainConfig, device: torch.device, shape: tuple[int, ...]) -> bool:
    """--channels-last as given; by default on for image models (faster convolutions on CPU and CUDA,
    see docs/benchmarks/throughput.md)."""
    if cfg.channels_last is not None:
        return cfg.channels_last and len(shape) == 3
    return device.type in ("cpu", "cuda") and len(shape) == 3


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
