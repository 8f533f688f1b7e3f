"""GAN training: ``GanTrainer``, the one object that holds a GAN in training (G and D, their
optimisers, the loss, the schedule of a step, the data); ``build_gan``, the one place a trainer is
put together (training, tests and benchmarks call it); and ``train(cfg)``, which hands the trainer
to the shared run loop. The maths of each update is in step.py."""
from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import plots
from ..animation import progress_animation
from ..checkpoint import save_generator
from ..config import PLAIN, TrainConfig, resolve, resumed
from ..console import say
from ..data import DATASETS
from ..data.registry import dataset_classes
from ..errors import GanforgeError
from ..io import RUNS, timestamp
from ..losses import GanLoss, get_loss
from ..models import build_model
from ..models.conditional import (ProjectionD, class_shares, class_strength, classes_in_turn,
                                  conditional_generator, set_class_strength)
from ..models.fast import speed_up
from ..models.wrappers import Packed, spectral_normalise
from .augment import Augment, Augmented
from .batches import Batches, ClassRuns, data_budget, hold
from .clusters import check_count, find_clusters
from .cuda_graphs import GraphedStep, why_eager
from .distributed import SINGLE, World, convert_sync_bn, same_on_all_ranks, wrap
from .ema import EmaOfG
from .loop import Setting, run_training
from .optim import adam, set_decayed_rates
from .run_folder import RunFolder
from .state import Position
from .stats import GanStats, MetricsLog, VanishingWatch
from .step import (Labelled, d_step, g_step, g_step_unrolled_differentiable, g_step_unrolled_restore, generate)


@dataclass(frozen=True)
class Schedule:
    """What one iteration runs, as data (stylegan2-ada's phases): ``d_steps`` D updates, the first of them
    carrying the R1/R2 penalties every ``reg_every`` iterations (lazy regularisation); then ``g_steps`` G
    updates, each against a D ``unroll_steps`` steps ahead when unrolling; both learning rates halve every
    ``lr_half_life`` images (0: constant); with top-k training, the share of fakes G learns from halves
    every ``top_k_half_life`` images until it reaches the trainer's ``top_k``."""

    d_steps: int = 1
    g_steps: int = 1
    unroll_steps: int = 0
    unroll_mode: str = "restore"
    reg_every: int = PLAIN["reg_every"]
    lr_half_life: float = 0.0  # images
    condition_ramp: int = 0  # iterations without classes, then as many blending them in (0: classes throughout)
    top_k_half_life: float = 800_000.0  # images

    @classmethod
    def of(cls, cfg: TrainConfig) -> Schedule:
        return cls(cfg.d_steps, cfg.g_steps, cfg.unroll_steps, cfg.unroll_mode, cfg.reg_every, cfg.lr_half_life * 1000,
                   cfg.condition_ramp if cfg.conditional or cfg.clusters else 0, cfg.top_k_half_life * 1000)


@dataclass(eq=False)
class GanTrainer:
    """A GAN in training. ``G`` and ``D`` are the bare modules (what checkpoints hold, and what a pass
    whose gradients must not reach a model goes through); ``G_ddp`` and ``D_ddp`` are the modules
    gradients flow through: the DistributedDataParallel wrappers under torchrun, else G and D."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: GanLoss
    z_dim: int
    real_label: float = PLAIN["real_label"]
    r1: float = 0.0  # gamma of the R1 penalty on real samples (Mescheder et al. 2018); 0: none
    r2: float = 0.0  # gamma of the R2 penalty on fake samples
    schedule: Schedule = Schedule()
    classes: int = 0  # class-conditional G(z, y) and D(x, y) over this many classes; 0: unconditional
    prior: Optional[Tensor] = None  # (classes,) how often G draws each class (self-conditioning); None: uniform
    class_run: int = 1  # G's classes come in runs of this many, one class to each of D's packs (--pack-by-class)
    world: World = SINGLE
    G_ddp: Optional[nn.Module] = None  # None: G (one process)
    D_ddp: Optional[nn.Module] = None
    augment: Optional[Augment] = None  # inside D (Augmented), when D's inputs are augmented
    ema: Optional[EmaOfG] = None
    batches: Optional[Batches] = None  # the training data; the loop and look-ahead D steps read it
    autocast: ContextManager = field(default_factory=contextlib.nullcontext)
    graphed: Optional[Callable[..., GanStats]] = None  # ``update`` as CUDA graphs (--cuda-graphs)
    top_k: float = 1.0  # top-k training: the least share of fakes G learns from (1: all of them, always)
    # ---- what a run shows and saves (build_gan sets these)
    cfg: Optional[TrainConfig] = None
    fixed_z: Optional[Tensor] = None  # (sample_count, z) the latents of every epoch's sample grid
    fixed_y: Optional[Tensor] = None  # (sample_count,) their classes, when conditional
    centres: Optional[Tensor] = None  # mode centres of a 2-D toy, drawn under its samples
    meta: dict[str, Any] = field(default_factory=dict)  # checkpoint metadata
    kind = "gan-run"  # the record kind of a run's config.json
    stats = GanStats

    def __post_init__(self) -> None:
        self.G_ddp = self.G if self.G_ddp is None else self.G_ddp
        self.D_ddp = self.D if self.D_ddp is None else self.D_ddp
        # D scores real and fake batches in one pass only when no layer of D mixes the samples of a
        # batch (BatchNorm does), so that one pass over both is the same as two
        self.joint_d = not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.D.modules())
        # the share top-k training keeps, set on the host each iteration (prepare) and read by the step
        self.top_k_share = torch.ones((), device=next(self.G.parameters()).device)
        self.rates = {self.opt_g: self.opt_g.param_groups[0]["lr"], self.opt_d: self.opt_d.param_groups[0]["lr"]} \
            if self.opt_g is not None else {}
        self.modules = {"G": self.G, "D": self.D, **({"G_ema": self.ema.model} if self.ema else {})}
        self.optimizers = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        watch = self.cfg or TrainConfig()
        self.vanish = VanishingWatch(watch.vanish_threshold, watch.vanish_patience)

    # ---- random inputs of G, drawn for the global batch and sharded, so that every process's random
    # stream stays the one a single process would have
    def latents(self, n: int, device: torch.device | str) -> Tensor:
        """(n, z) latents for this process."""
        return self.world.shard(torch.randn(n * self.world.size, self.z_dim, device=device))

    def labels(self, n: int, device: torch.device | str) -> Optional[Tensor]:
        """(n,) classes for G's samples, uniform or drawn from ``prior`` (in runs of ``class_run``); None
        when unconditional."""
        if not self.classes:
            return None
        draws = n * self.world.size // self.class_run
        y = (torch.randint(self.classes, (draws,), device=device) if self.prior is None
             else torch.multinomial(self.prior, draws, replacement=True).to(device))
        return self.world.shard(y.repeat_interleave(self.class_run) if self.class_run > 1 else y)

    # ---- one iteration
    def train_step(self, real: Tensor, real_y: Optional[Tensor] = None, iteration: int = 0) -> GanStats:
        """One batch of training on ``real`` (this process's share; of classes ``real_y`` when conditional).
        Returns its statistics as detached device tensors (no host sync here)."""
        penalise = self.prepare(iteration, len(real))
        return (self.graphed or self.update)(real, real_y, self.lookahead(), penalise)

    def prepare(self, iteration: int, batch: int) -> bool:
        """What changes from one iteration to the next, set on the host before the step's maths: the
        learning rates, the classes' strength, the moving average's weights, top-k's share (as data the step reads);
        returns whether this iteration carries the lazy penalties."""
        s, images = self.schedule, batch * self.world.size  # images per global batch
        if s.lr_half_life:
            set_decayed_rates(self.rates, iteration * images, s.lr_half_life)
        if s.condition_ramp:
            set_class_strength(class_strength(iteration, s.condition_ramp), self.G, self.D,
                               *([self.ema.model] if self.ema else []))
        if self.ema is not None:
            self.ema.set_position((iteration + 1) * images, images)
        if self.top_k < 1:
            self.top_k_share.fill_(max(self.top_k, 0.5 ** (iteration * images / s.top_k_half_life)))
        return bool(self.r1 or self.r2) and iteration % s.reg_every == 0

    def update(self, real: Tensor, real_y: Optional[Tensor], lookahead: list[Labelled], penalise: bool) -> GanStats:
        """The step's maths, device work alone: D's updates, then G's (against a look-ahead D on the
        ``lookahead`` batches when unrolling), then the moving average. Every call with the same
        ``penalise`` runs the same operators on the same shapes and never waits for the device, so it
        can be captured as a CUDA graph (cuda_graphs.py)."""
        s = self.schedule
        with self.autocast:
            # D: d_steps updates. The last keeps its fake batch for the first plain G update (G is unchanged
            # in between, so it is the same update on the same distribution with one G pass fewer).
            reuse = s.unroll_steps == 0
            for i in range(s.d_steps):
                d_loss, real_logits, fake_logits, fake, fake_y = d_step(
                    self, real, real_y, keep_fake=reuse and i == s.d_steps - 1, penalise=penalise and i == 0)
            if self.loss.paired:  # only differences of a paired D's logits mean anything: real against its fake
                real_logits, fake_logits = real_logits - fake_logits, fake_logits - real_logits
            if self.augment is not None:  # ADA moves its probability from D's view of the real batch
                self.augment.observe(real_logits)
            # G: g_steps updates, against a look-ahead D when unrolling
            for j in range(s.g_steps):
                if reuse:
                    loss, g_norm = g_step(self, len(real), real.device, *((fake, fake_y) if j == 0 else (None, None)),
                                          real=real, real_y=real_y)
                elif s.unroll_mode == "restore":
                    loss, g_norm = g_step_unrolled_restore(self, lookahead[j * s.unroll_steps:][:s.unroll_steps])
                else:
                    loss, g_norm = g_step_unrolled_differentiable(self, lookahead[j * s.unroll_steps:][:s.unroll_steps])
        # the moving average of G
        if self.ema is not None:
            self.ema.blend(self.G)
        return GanStats(d_loss, loss, torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean(),
                        g_norm.to(d_loss))

    def lookahead(self) -> list[Labelled]:
        """Fresh real batches, one per look-ahead D step of every G update (none without unrolling)."""
        return [self.batches.draw() for _ in range(self.schedule.unroll_steps * self.schedule.g_steps)]

    # ---- what the run loop calls (loop.Task)
    def start_epoch(self, epoch: int) -> None:
        self.G.train(), self.D.train()

    def step(self, index: Tensor, iteration: int) -> GanStats:
        return self.train_step(*self.batches.take(index), iteration)

    def after_flush(self, rows: list[dict[str, float]], progress: tqdm) -> None:
        if rows:
            last = rows[-1]
            progress.set_postfix(d=f"{last['d_loss']:.3f}", g=f"{last['g_loss']:.3f}",
                                 Dx=f"{last['d_real']:.2f}", DGz=f"{last['d_fake']:.2f}")
        message = self.vanish.update(rows)
        if message:
            progress.write(message, file=sys.stderr)

    def shown_G(self) -> nn.Module:
        """The G whose samples a run shows: the moving average (its BatchNorm statistics measured on it)
        when there is one."""
        if self.ema is None:
            return self.G
        self.ema.refresh_batchnorm(self.z_dim, self.cfg.batch_size, self.batches.device, self.classes,
                                  prior=self.prior)
        return self.ema.model.module

    @torch.no_grad()
    def end_epoch(self, run: RunFolder, epoch: int, log: MetricsLog) -> None:
        G, cfg = self.shown_G(), self.cfg
        G.eval()
        samples = generate(G, self.fixed_z, self.fixed_y)
        G.train()
        plots.save_samples(run.samples / f"epoch_{epoch:03d}.png", samples, self.centres, title=f"epoch {epoch}")
        h = log.history
        plots.loss_plot(run.loss_plot, [r["iteration"] for r in h], [r["g_loss"] for r in h],
                        [r["d_loss"] for r in h], len(self.batches) // cfg.batch_size,
                        title=f"{cfg.dataset}: {cfg.generator}/{cfg.discriminator}, {cfg.loss}, k={cfg.unroll_steps}")

    def finish(self, run: RunFolder, log: MetricsLog, pos: Position) -> dict[str, Any]:
        ramp = self.schedule.condition_ramp
        if ramp and pos.iteration < 2 * ramp:
            say(f"note: the run stopped at iteration {pos.iteration:,}, before --condition-ramp {ramp:,} had blended "
                f"the classes in fully (iteration {2 * ramp:,}); its generator is used fully conditional")
            set_class_strength(1.0, self.G, *([self.ema.model] if self.ema else []))
        save_generator(run.generator, self.G, {**self.meta, "epochs": pos.epoch, "iterations": pos.iteration},
                       ema=None if self.ema is None else self.shown_G())
        if self.cfg.progress_video:
            progress_animation(run.root)
        return {"vanishing_warnings": self.vanish.warnings}

    def close(self) -> None:
        self.G_ddp = self.D_ddp = None  # the DDP wrappers hold the process group
        self.batches.close()


def build_gan(cfg: TrainConfig, shape: tuple[int, ...], device: torch.device, world: World = SINGLE,
              prior: Optional[Tensor] = None, *, labels: Optional[int] = None, batches: Optional[Batches] = None,
              **run: Any) -> GanTrainer:
    """Models, CPU fast layers, spectral norm, packing, SyncBatchNorm, memory format, compilation,
    optimisers and DDP wrappers, as the resolved ``cfg`` says, for data of ``shape`` (``prior``: how
    often G draws each cluster, under --clusters; ``labels``: how many classes the data's labels have,
    where the dataset does not say). The order is part of the recipe: the models' initial weights come
    from the global RNG, G's first. ``run``: GanTrainer's fields of a run."""
    if cfg.batch_size // world.size % cfg.pack:
        raise GanforgeError(f"each of the {world.size} processes gets {cfg.batch_size // world.size} samples a "
                            f"batch, which --pack {cfg.pack} does not divide")
    labels = dataset_classes(cfg.dataset) if labels is None else labels
    if cfg.conditional and not labels:
        raise GanforgeError("--conditional needs labels: put the images in one subfolder per class")
    classes = cfg.clusters or (labels if cfg.conditional else 0)
    G = (conditional_generator(cfg.generator, shape=shape, z_dim=cfg.z_dim, classes=classes,
                               batchnorm=cfg.class_batchnorm) if classes
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
    memory = memory_format(cfg, device, shape)
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
    return GanTrainer(G, D, opt_g, opt_d, get_loss(cfg.loss), cfg.z_dim, cfg.real_label, cfg.r1, cfg.r2,
                      Schedule.of(cfg), classes, None if prior is None else prior.to(device),  # drawn on the device
                      cfg.pack if cfg.pack_by_class else 1, world,
                      wrap(G, world, device), wrap(D, world, device), augment, batches=batches,
                      autocast=autocast(cfg, device), top_k=cfg.top_k, cfg=cfg, **run)


def double_backward(cfg: TrainConfig) -> bool:
    """Whether a step differentiates through D's gradient: the R1/R2 penalties and Metz et al.'s
    differentiable unrolling do."""
    return bool(cfg.r1 or cfg.r2) or (cfg.unroll_steps > 0 and cfg.unroll_mode == "differentiable")


def memory_format(cfg: TrainConfig, device: torch.device, shape: tuple[int, ...]) -> torch.memory_format:
    """--channels-last as given; by default on for image models (faster convolutions on CPU and CUDA,
    see docs/benchmarks/throughput.md)."""
    on = cfg.channels_last if cfg.channels_last is not None else device.type in ("cpu", "cuda")
    return torch.channels_last if on and len(shape) == 3 else torch.contiguous_format


def autocast(cfg: TrainConfig, device: torch.device) -> ContextManager:
    """The step's autocast context: bfloat16 with --amp bf16, else none."""
    if cfg.amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_gan_trainer(s: Setting) -> GanTrainer:
    """The GAN trainer of a run: its clusters (under --clusters), models and optimisers, data and what its
    figures show. Training, the benchmarks and the tests build it here."""
    cfg = s.cfg
    clusters = None
    if cfg.clusters:  # found by rank 0 alone, so that every process trains on the same ones
        check_count(cfg.clusters, len(s.data.train))  # on every rank: none may wait for a rank 0 that failed
        clusters = same_on_all_ranks(find_clusters(s.data.train, cfg.clusters, cfg.seed) if s.world.main else None,
                                     s.world)
    label_count = dataset_classes(cfg.dataset)
    if label_count is None:  # a folder's class subfolders
        label_count = len(s.data.extras.get("classes", ()))
    prior = None if clusters is None else clusters.prior
    if cfg.conditional and label_count and cfg.class_prior == "data":
        prior = class_shares(s.data.train_labels, label_count)  # G draws each class as often as the data holds it
    gan = build_gan(cfg, s.data.shape, s.device, s.world, prior=prior, labels=label_count)
    train_x, streamed = hold(s.data.train, s.device, data_budget(cfg.data_memory, s.device),
                   memory_format(cfg, s.device, s.data.shape))
    labels = s.data.train_labels if clusters is None else clusters.assignment
    gan.batches = Batches(train_x, labels if gan.classes else None, batch_size=cfg.batch_size, seed=cfg.seed,
                          draw_rng=s.data_rng, world=s.world, device=s.device, streamed=streamed,
                          class_runs=ClassRuns(labels, cfg.pack) if cfg.pack_by_class else None)
    gan.fixed_z = torch.randn(cfg.sample_count, cfg.z_dim,
                              generator=torch.Generator().manual_seed(cfg.seed)).to(s.device)
    gan.fixed_y = classes_in_turn(cfg.sample_count, gan.classes, gan.prior, s.device) if gan.classes else None
    gan.centres = s.data.extras.get("centres")
    gan.meta = {"generator": cfg.generator, "discriminator": cfg.discriminator, "z_dim": cfg.z_dim,
                "shape": list(s.data.shape), "dataset": cfg.dataset, "loss": cfg.loss, "classes": gan.classes,
                **({"class_batchnorm": True} if gan.classes and cfg.class_batchnorm else {})}
    if DATASETS.entry(cfg.dataset).meta["family"] == "by-size":  # what evaluate needs to read the same data
        gan.meta["data"] = {k: getattr(cfg, k) for k in ("images", "data_root", "image_size", "background", "fit")}
    if clusters is not None:
        gan.meta["clusters"] = {"prior": clusters.prior.tolist(), "digest": clusters.digest()}
    elif prior is not None:
        gan.meta["class_prior"] = prior.tolist()
    if cfg.ema:
        gan.ema = EmaOfG(gan.G, half_life=cfg.ema * 1000, rampup=cfg.ema_rampup)
        gan.modules["G_ema"] = gan.ema.model
    if cfg.cuda_graphs:
        why = why_eager(gan, s.device, compiled=cfg.compile, streamed=streamed)
        if why:
            say(f"note: {why}; the step runs eagerly")
        else:
            gan.graphed = GraphedStep(gan)
    return gan


def train(cfg: TrainConfig, *, resume: Optional[Path] = None) -> Path:
    """Train a GAN as ``cfg`` says (or continue the run in folder ``resume`` with the options of ``cfg``
    that may change); returns the run folder."""
    cfg = resolve(cfg if resume is None else resumed(cfg, resume))
    name = f"{timestamp()}-{cfg.dataset}-{cfg.generator}-{cfg.discriminator}-{cfg.loss}-k{cfg.unroll_steps}"
    return run_training(cfg, build_gan_trainer, default_out=str(RUNS / name), resume=resume)
