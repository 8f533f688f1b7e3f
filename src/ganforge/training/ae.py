"""Autoencoder training, optionally forcing the latent towards N(0, 1) by matching its moments.

Loss = image MSE + factor * z_mse, where z_mse = MSE([mean, variance, kurtosis] of z, [0, 1, 3])
(the report's Non-Adversarial Q2). The factor starts small so that the huge early z_mse of an
unbounded encoder does not swamp the image term, and doubles each epoch up to a cap: 0.001,
0.002, ..., 2.048 at epoch 11, then 2.048 (the report's schedule).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import plots
from ..checkpoint import prefixed, save_checkpoint
from ..config import AEConfig, resolve_ae, resumed
from ..errors import GanforgeError
from ..io import RUNS, timestamp
from ..models import build_model
from ..models.fast import speed_up
from ..records import read_record, write_record
from .distributed import env_world
from .batches import Batches, data_budget, hold
from .loop import Setting, run_training
from .run_folder import RunFolder
from .state import Position
from .stats import AEStats, MetricsLog
from .optim import adam

TARGET_MOMENTS = (0.0, 1.0, 3.0)  # mean, variance, kurtosis of N(0, 1)
KS_FILE = "latent_ks.json"


def latent_moments(z: Tensor, over: str = "dims") -> Tensor:
    """[mean, variance, kurtosis] of latents z (B, d).

    over="dims": each latent dimension's moments over the batch, then averaged over dimensions
    (each coordinate of z should be N(0, 1)); over="all": of all B*d values pooled. Variance is
    the population variance; kurtosis is E[(z - mean)^4] / variance^2 (3 for a normal).
    """
    if over == "all":
        z = z.reshape(-1, 1)
    mean = z.mean(0)  # (d,)
    centred = z - mean
    var = (centred**2).mean(0)
    kurt = (centred**4).mean(0) / var.clamp_min(1e-12) ** 2
    return torch.stack([mean.mean(), var.mean(), kurt.mean()])


def moment_loss(z: Tensor, over: str = "dims") -> Tensor:
    target = torch.tensor(TARGET_MOMENTS, dtype=z.dtype, device=z.device)
    return ((latent_moments(z, over) - target) ** 2).mean()


def factor_at(epoch: int, start: float = 0.001, growth: float = 2.0, cap: float = 2.048) -> float:
    """The z-term weight in (0-based) epoch ``epoch``."""
    return min(start * growth**epoch, cap)


def ks_statistic(values: Tensor) -> float:
    """Kolmogorov-Smirnov distance between the empirical CDF of ``values`` and N(0, 1)'s CDF."""
    x = values.detach().double().flatten().sort().values
    n = len(x)
    cdf = torch.special.ndtr(x)
    upper = torch.arange(1, n + 1, dtype=torch.float64, device=x.device) / n - cdf
    lower = cdf - torch.arange(0, n, dtype=torch.float64, device=x.device) / n
    return float(torch.maximum(upper, lower).max())


def ae_step(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, *, factor: float, latent_reg: str,
            moments_over: str) -> AEStats:
    """One update; returns its statistics, detached (no host sync)."""
    recon, z = model(x)
    image_mse = ((recon - x) ** 2).mean()
    z_mse = moment_loss(z, moments_over)
    z_term = factor * z_mse
    loss = image_mse + z_term if latent_reg == "moments" else image_mse
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return AEStats(loss.detach(), image_mse.detach(), z_mse.detach(), z_term.detach(),
                   torch.tensor(factor, device=x.device))


@dataclass
class AETask:
    """Autoencoder training as ``run_training`` drives it."""

    cfg: AEConfig
    model: nn.Module
    opt: torch.optim.Optimizer
    batches: Batches
    probe: Tensor  # fixed test images whose latents make the per-epoch CDF and KS statistic
    shown: Tensor  # fixed test images shown with their reconstructions
    ks_history: list[dict]
    meta: dict[str, Any]
    kind: str = "ae-run"
    stats: type = AEStats
    factor: float = 0.0
    modules: dict[str, nn.Module] = field(init=False)
    optimizers: dict[str, torch.optim.Optimizer] = field(init=False)

    def __post_init__(self) -> None:
        self.modules, self.optimizers = {"AE": self.model}, {"opt": self.opt}

    def start_epoch(self, epoch: int) -> None:
        cfg = self.cfg
        self.factor = factor_at(epoch, cfg.factor_start, cfg.factor_growth, cfg.factor_cap)
        self.ks_history = [r for r in self.ks_history if r["epoch"] <= epoch]  # a resumed run's, up to here
        self.model.train()

    def step(self, index: Tensor, iteration: int) -> AEStats:
        real, _ = self.batches.take(index)
        return ae_step(self.model, self.opt, real, factor=self.factor, latent_reg=self.cfg.latent_reg,
                       moments_over=self.cfg.moments_over)

    def after_flush(self, rows: list[dict[str, float]], progress: tqdm) -> None:
        if rows:
            progress.set_postfix(mse=f"{rows[-1]['image_mse']:.4f}", z=f"{rows[-1]['z_mse']:.3g}")

    @torch.no_grad()
    def end_epoch(self, run: RunFolder, epoch: int, log: MetricsLog) -> None:
        model = self.model
        model.eval()
        recon, _ = model(self.shown)
        z = torch.cat([model.encode(chunk) for chunk in self.probe.split(500)])
        model.train()
        plots.image_table(run.samples / f"epoch_{epoch:03d}.png", torch.stack([self.shown, recon]),
                          row_titles=["input", "output"])
        ks = ks_statistic(z)
        reference = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
        plots.latent_cdf(run.root / "cdf" / f"epoch_{epoch:03d}.png", z.flatten().cpu(), reference,
                         title=f"epoch {epoch}: KS {ks:.4f}")
        h = log.history
        plots.ae_losses(run.loss_plot, [r["iteration"] for r in h],
                        {k: [r[k] for r in h] for k in ("z_mse", "image_mse", "z_term")},
                        len(self.batches) // self.cfg.batch_size)
        self.ks_history.append({"epoch": epoch, "ks": round(ks, 6),
                                "moments": [round(float(v), 5) for v in latent_moments(z)]})
        write_record(run.root / KS_FILE, "latent-normality", {"epochs": self.ks_history})

    def finish(self, run: RunFolder, log: MetricsLog, pos: Position) -> dict[str, Any]:
        save_checkpoint(run.generator, prefixed("AE", self.model.state_dict()),
                        {"kind": "autoencoder", **self.meta, "epochs": pos.epoch})
        return {"final_ks": self.ks_history[-1]["ks"] if self.ks_history else None,
                "final_image_mse": log.history[-1]["image_mse"] if log.history else None}

    def close(self) -> None:
        self.batches.close()


def _build_task(s: Setting) -> AETask:
    cfg, device = s.cfg, s.device
    model = speed_up(build_model(cfg.model, role="AE", shape=s.data.shape, z_dim=cfg.z_dim).to(device), device)
    opt = adam(model.parameters(), cfg.lr, (0.9, 0.999), device)
    meta = {"model": cfg.model, "z_dim": cfg.z_dim, "shape": list(s.data.shape), "dataset": cfg.dataset,
            "latent_reg": cfg.latent_reg}
    ks_path = Path(cfg.out) / KS_FILE
    ks_history = read_record(ks_path, expect=("latent-normality",))["epochs"] if ks_path.is_file() else []
    x, streamed = hold(s.data.train, device, data_budget(cfg.data_memory, device))
    batches = Batches(x, batch_size=cfg.batch_size, seed=cfg.seed, draw_rng=s.data_rng, device=device,
                      streamed=streamed)
    # the latents' CDF and the reconstruction figure read test images across the classes (the test
    # split may come grouped by class: its first 8 would all be zeros)
    return AETask(cfg, model, opt, batches, s.data.test[s.data.test_picks(cfg.cdf_samples)].to(device),
                  s.data.test[s.data.test_picks(8)].to(device), ks_history, meta)


def train_ae(cfg: AEConfig, *, resume: Optional[Path] = None) -> Path:
    """Train an autoencoder (or continue the run in folder ``resume``); returns the run folder."""
    cfg = resolve_ae(cfg if resume is None else resumed(cfg, resume))
    if env_world().enabled:
        raise GanforgeError("train-ae runs in one process; start it without torchrun")
    name = f"{timestamp()}-ae-{cfg.dataset}-{cfg.latent_reg}"
    return run_training(cfg, _build_task, default_out=str(RUNS / name), resume=resume)
