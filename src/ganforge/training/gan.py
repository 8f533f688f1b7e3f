"""GAN training: ``build_gan`` (the one place a trainable GAN is put together, for training and for
the benchmarks) and ``train(cfg)``, which hands a GAN task to the shared run lifecycle."""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm
from tqdm.auto import tqdm

from .. import plots
from ..checkpoint import save_generator
from ..config import TrainConfig, resolve, resumed
from ..console import say
from ..data.registry import dataset_classes
from ..errors import GanforgeError
from ..losses import get_loss
from ..models import build_model
from ..models.conditional import ProjectionD, classes_in_turn, conditional_generator
from ..models.fast import speed_up
from .clusters import check_count, find_clusters
from .distributed import SINGLE, World, convert_sync_bn, same_on_all_ranks, wrap
from .augment import Augment, Augmented
from .ema import EmaOfG
from .loop import Setting, run_training
from .run_folder import RunFolder
from .state import ClassRuns, Position
from .stats import GanStats, MetricsLog
from .step import GanParts, adam, decay_learning_rates, gan_step, generate


@dataclass
class Gan:
    """A GAN ready to train. ``G`` and ``D`` are the bare modules (what checkpoints hold); ``parts``
    has the DistributedDataParallel wrappers under torchrun, and what a step needs besides."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    parts: GanParts
    memory_format: torch.memory_format
    augment: Optional[Augment] = None  # inside D (Augmented), when D's inputs are augmented


class Packed(nn.Module):
    """PacGAN's discriminator: D judges ``m`` samples at a time, (B, C, ...) -> (B/m, m*C, ...), so
    it sees how varied a group is (Lin et al. 2018). Real and fake batches are packed separately."""

    def __init__(self, D: nn.Module, m: int):
        super().__init__()
        self.d, self.m = D, m

    def forward(self, x: Tensor) -> Tensor:
        return self.d(x.reshape(len(x) // self.m, self.m * x.shape[1], *x.shape[2:]))  # (B/m,) logits


def spectral_normalise(module: nn.Module) -> nn.Module:
    """Every weight layer under torch's spectral-norm parametrisation (one power iteration per forward)."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            spectral_norm(layer)
    return module


def build_gan(cfg: TrainConfig, shape: tuple[int, ...], device: torch.device, world: World = SINGLE,
              prior: Optional[Tensor] = None) -> Gan:
    """Models, CPU fast layers, spectral norm, packing, SyncBatchNorm, memory format, compilation,
    optimisers and DDP wrappers, as the resolved ``cfg`` says, for data of ``shape`` (``prior``: how
    often G draws each cluster, under --clusters). The order is part of the recipe: the models'
    initial weights come from the global RNG, G's first."""
    if cfg.batch_size // world.size % cfg.pack:
        raise GanforgeError(f"each of the {world.size} processes gets {cfg.batch_size // world.size} samples a "
                            f"batch, which --pack {cfg.pack} does not divide")
    classes = cfg.clusters or (dataset_classes(cfg.dataset) if cfg.conditional else 0)
    G = (conditional_generator(cfg.generator, shape=shape, z_dim=cfg.z_dim, classes=classes) if classes
         else build_model(cfg.generator, role="G", shape=shape, z_dim=cfg.z_dim)).to(device)
    D = build_model(cfg.discriminator, role="D", shape=(cfg.pack * shape[0], *shape[1:])).to(device)
    G, D = speed_up(G, device), speed_up(D, device)
    if cfg.spectral_norm in ("g", "both"):
        G = spectral_normalise(G)
    if cfg.spectral_norm in ("d", "both"):
        D = spectral_normalise(D)
    if cfg.pack > 1:
        D = Packed(D, cfg.pack)
    if classes:
        D = ProjectionD(D, classes).to(device)
    augment = None
    if cfg.augment != "none":
        augment = Augment(cfg.augment.split(","), p=cfg.augment_p, target=cfg.ada_target, batch=cfg.batch_size,
                          world=world).to(device)
        D = Augmented(D, augment)
    if cfg.sync_bn:
        G, D = convert_sync_bn(G, device), convert_sync_bn(D, device)
    memory = torch.channels_last if _channels_last(cfg, device, shape) else torch.contiguous_format
    G, D = G.to(memory_format=memory), D.to(memory_format=memory)
    if cfg.compile:
        G.compile()
        if double_backward(cfg):
            say("note: --compile leaves D uncompiled: torch.compile cannot differentiate twice, which "
                + ("--r1/--r2 need" if cfg.r1 or cfg.r2 else "--unroll-mode differentiable needs"))
        else:
            D.compile()
    opt_g = adam(G.parameters(), cfg.lr_g, (cfg.beta1, cfg.beta2), device)
    opt_d = adam(D.parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2), device)
    parts = GanParts(wrap(G, world, device), wrap(D, world, device), opt_g, opt_d, get_loss(cfg.loss), cfg.z_dim,
                     cfg.real_label, world, r1=cfg.r1, r2=cfg.r2, reg_every=cfg.reg_every, classes=classes,
                     prior=prior, class_runs=cfg.pack if cfg.pack_by_class else 1)
    return Gan(G, D, opt_g, opt_d, parts, memory, augment)


def double_backward(cfg: TrainConfig) -> bool:
    """Whether a step differentiates through D's gradient: the R1/R2 penalties and Metz et al.'s
    differentiable unrolling do."""
    return bool(cfg.r1 or cfg.r2) or (cfg.unroll_steps > 0 and cfg.unroll_mode == "differentiable")


def _channels_last(cfg: TrainConfig, device: torch.device, shape: tuple[int, ...]) -> bool:
    """--channels-last as given; by default on for image models (faster convolutions on CPU and CUDA,
    see docs/benchmarks/throughput.md)."""
    if cfg.channels_last is not None:
        return cfg.channels_last and len(shape) == 3
    return device.type in ("cpu", "cuda") and len(shape) == 3


def autocast(cfg: TrainConfig, device: torch.device):
    """The step's autocast context: bfloat16 with --amp bf16, else none."""
    if cfg.amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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


@dataclass
class GanTask:
    """GAN training as ``run_training`` drives it: ``d_steps`` D updates and ``g_steps`` G updates per
    batch (see step.py for the maths)."""

    cfg: TrainConfig
    gan: Gan
    train_x: Tensor
    train_y: Optional[Tensor]  # (N,) classes of train_x on the device, when conditional
    draw_rng: torch.Generator
    fixed_z: Tensor  # (sample_count, z) the latents of every epoch's sample grid
    fixed_y: Optional[Tensor]  # (sample_count,) their classes, cycled, when conditional
    centres: Optional[Tensor]  # mode centres of a 2-D toy, drawn under its samples
    meta: dict[str, Any]
    kind: str = "gan-run"
    stats: type = GanStats
    modules: dict[str, nn.Module] = field(init=False)
    optimizers: dict[str, torch.optim.Optimizer] = field(init=False)
    ema: Optional[EmaOfG] = None
    prior: Optional[Tensor] = None  # (classes,) how often G draws each cluster, under --clusters
    class_runs: Optional[ClassRuns] = None  # under --pack-by-class: the data in runs of one class, a pack each
    vanish: VanishingWatch = field(init=False)
    autocast: Any = field(init=False)

    def __post_init__(self) -> None:
        self.modules = {"G": self.gan.G, "D": self.gan.D}
        if self.ema is not None:
            self.modules["G_ema"] = self.ema.model
        self.optimizers = {"opt_g": self.gan.opt_g, "opt_d": self.gan.opt_d}
        self.vanish = VanishingWatch(self.cfg.vanish_threshold, self.cfg.vanish_patience)
        self.autocast = autocast(self.cfg, self.train_x.device)

    def draw(self) -> tuple[Tensor, Optional[Tensor]]:
        """A fresh random batch for look-ahead D steps and its classes: this rank's share of them."""
        world, x, y = self.gan.parts.world, self.train_x, self.train_y
        index = (self.class_runs.draw(self.cfg.batch_size, self.draw_rng) if self.class_runs else
                 torch.randint(len(x), (self.cfg.batch_size,), generator=self.draw_rng)).to(x.device)
        return world.shard(x[index]), None if y is None else world.shard(y[index])

    def start_epoch(self, epoch: int) -> None:
        self.gan.G.train(), self.gan.D.train()

    def step(self, real: Tensor, labels: Optional[Tensor], iteration: int) -> GanStats:
        cfg = self.cfg
        penalise = bool(cfg.r1 or cfg.r2) and iteration % cfg.reg_every == 0  # lazy regularisation
        if cfg.lr_half_life:
            decay_learning_rates(self.gan.parts, cfg.lr_g, cfg.lr_d, iteration * cfg.batch_size,
                                 cfg.lr_half_life * 1000)
        with self.autocast:
            augment = self.gan.augment
            stats = gan_step(self.gan.parts, real, labels, d_steps=cfg.d_steps, g_steps=cfg.g_steps,
                             unroll_steps=cfg.unroll_steps, unroll_mode=cfg.unroll_mode, draw=self.draw,
                             penalise=penalise,
                             observe=None if augment is None else lambda logits: augment.observe(logits, iteration))
        if self.ema is not None:
            self.ema.update(self.gan.G, (iteration + 1) * cfg.batch_size, cfg.batch_size)
        return stats

    def shown_G(self) -> nn.Module:
        """The G whose samples a run shows: the moving average (its BatchNorm statistics measured on it)
        when there is one."""
        if self.ema is None:
            return self.gan.G
        self.ema.refresh_batchnorm(self.cfg.z_dim, self.cfg.batch_size, self.train_x.device, self.meta["classes"],
                                  prior=self.prior)
        return self.ema.model.module

    def after_flush(self, rows: list[dict[str, float]], progress: tqdm) -> None:
        if rows:
            last = rows[-1]
            progress.set_postfix(d=f"{last['d_loss']:.3f}", g=f"{last['g_loss']:.3f}",
                                 Dx=f"{last['d_real']:.2f}", DGz=f"{last['d_fake']:.2f}")
        message = self.vanish.update(rows)
        if message:
            progress.write(message, file=sys.stderr)

    @torch.no_grad()
    def end_epoch(self, run: RunFolder, epoch: int, log: MetricsLog) -> None:
        G, cfg = self.shown_G(), self.cfg
        G.eval()
        samples = generate(G, self.fixed_z, self.fixed_y)
        G.train()
        plots.save_samples(run.samples / f"epoch_{epoch:03d}.png", samples, self.centres, title=f"epoch {epoch}")
        h = log.history
        plots.loss_plot(run.loss_plot, [r["iteration"] for r in h], [r["g_loss"] for r in h],
                        [r["d_loss"] for r in h], len(self.train_x) // cfg.batch_size,
                        title=f"{cfg.dataset}: {cfg.generator}/{cfg.discriminator}, {cfg.loss}, k={cfg.unroll_steps}")

    def finish(self, run: RunFolder, log: MetricsLog, pos: Position) -> dict[str, Any]:
        save_generator(run.generator, self.gan.G, {**self.meta, "epochs": pos.epoch, "iterations": pos.iteration},
                       ema=None if self.ema is None else self.shown_G())
        return {"vanishing_warnings": self.vanish.warnings}

    def close(self) -> None:
        self.gan.parts = None  # the DDP wrappers hold the process group


def build_gan_task(s: Setting) -> GanTask:
    """The GAN task of a training run (also what the quality benchmark trains with)."""
    cfg = s.cfg
    clusters = None
    if cfg.clusters:  # found by rank 0 alone, so that every process trains on the same ones
        check_count(cfg.clusters, len(s.data.train))  # on every rank: none may wait for a rank 0 that failed
        clusters = same_on_all_ranks(find_clusters(s.data.train, cfg.clusters, cfg.seed) if s.world.main else None,
                                     s.world)
    gan = build_gan(cfg, s.data.shape, s.device, s.world, prior=None if clusters is None else clusters.prior)
    train_x = s.data.train.to(s.device).contiguous(memory_format=gan.memory_format)
    classes = gan.parts.classes
    labels = s.data.train_labels if clusters is None else clusters.assignment
    train_y = labels.to(s.device) if classes else None
    fixed_z = torch.randn(cfg.sample_count, cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(s.device)
    fixed_y = classes_in_turn(cfg.sample_count, classes, gan.parts.prior, s.device) if classes else None
    meta = {"generator": cfg.generator, "discriminator": cfg.discriminator, "z_dim": cfg.z_dim,
            "shape": list(s.data.shape), "dataset": cfg.dataset, "loss": cfg.loss, "classes": classes}
    if clusters is not None:
        meta["clusters"] = {"prior": clusters.prior.tolist(), "digest": clusters.digest()}
    ema = EmaOfG(gan.G, half_life=cfg.ema * 1000, rampup=cfg.ema_rampup) if cfg.ema else None
    return GanTask(cfg, gan, train_x, train_y, s.data_rng, fixed_z, fixed_y, s.data.extras.get("centres"), meta,
                   ema=ema, prior=gan.parts.prior,
                   class_runs=ClassRuns(labels, cfg.pack) if cfg.pack_by_class else None)


def train(cfg: TrainConfig, *, resume: Optional[Path] = None) -> Path:
    """Train a GAN as ``cfg`` says (or continue the run in folder ``resume``); returns the run folder."""
    cfg = resolve(cfg if resume is None else resumed(cfg, resume))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{cfg.dataset}-{cfg.generator}-{cfg.discriminator}-{cfg.loss}-k{cfg.unroll_steps}"
    return run_training(cfg, build_gan_task, default_out=str(Path("runs") / name), resume=resume)
