"""Autoencoder training, optionally forcing the latent towards N(0, 1) by matching its moments.

Loss = image MSE + factor * z_mse, where z_mse = MSE([mean, variance, kurtosis] of z, [0, 1, 3])
(the report's Non-Adversarial Q2). The factor starts small so that the huge early z_mse of an
unbounded encoder does not swamp the image term, and doubles each epoch up to a cap: 0.001,
0.002, ..., 2.048 at epoch 11, then 2.048 (the report's schedule).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from .. import plots
from ..checkpoint import save_checkpoint, prefixed, versions
from ..data import DATASETS
from ..errors import GanforgeError
from ..io import atomic_write_json
from ..models import MODELS, build_model
from ..models.fast import speed_up
from .metrics import MetricsLog, first_non_finite
from .runstate import Position, Run, RunOptions, epoch_order, restore_state, save_state, say, start_run

TARGET_MOMENTS = (0.0, 1.0, 3.0)  # mean, variance, kurtosis of N(0, 1)
AE_STATS = ("loss", "image_mse", "z_mse", "z_term", "factor")
LATENT_REGS = ("none", "moments")
MOMENTS_OVER = ("dims", "all")


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
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n - cdf
    lower = cdf - torch.arange(0, n, dtype=torch.float64) / n
    return float(torch.maximum(upper, lower).max())


def ae_step(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, *, factor: float, latent_reg: str,
            moments_over: str) -> Tensor:
    """One update; returns [loss, image_mse, z_mse, factor * z_mse, factor] (detached, no host sync)."""
    recon, z = model(x)
    image_mse = ((recon - x) ** 2).mean()
    z_mse = moment_loss(z, moments_over)
    z_term = factor * z_mse
    loss = image_mse + z_term if latent_reg == "moments" else image_mse
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return torch.stack([loss.detach(), image_mse.detach(), z_mse.detach(), z_term.detach(),
                        torch.tensor(factor, device=x.device)])


@dataclass
class AEConfig(RunOptions):
    dataset: str = "mnist"
    model: Optional[str] = None  # default: AE (28x28) or AE64
    epochs: int = 20
    batch_size: int = 64
    z_dim: int = 100
    lr: float = 1e-3
    latent_reg: str = "none"
    moments_over: str = "dims"
    factor_start: float = 0.001
    factor_growth: float = 2.0
    factor_cap: float = 2.048
    cdf_samples: int = 2000  # test images whose latents make the per-epoch CDF and KS statistic

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_ae(cfg: AEConfig) -> AEConfig:
    cfg = AEConfig(**cfg.to_dict())
    cfg.dataset = DATASETS.canonical(cfg.dataset)
    family = DATASETS.entry(cfg.dataset).meta["family"]
    if family == "toy":
        raise GanforgeError(f"the autoencoder is for images; {cfg.dataset} is 2-D points")
    cfg.model = MODELS.canonical(cfg.model or ("AE" if family == "mnist" else "AE64"))
    meta = MODELS.entry(cfg.model).meta
    if meta["role"] != "AE":
        raise GanforgeError(f"--model {cfg.model} is not an autoencoder; autoencoders: "
                            + ", ".join(e.name for e in MODELS if e.meta["role"] == "AE"))
    if meta["family"] != family:
        raise GanforgeError(f"--model {cfg.model} is for {meta['family']} data, not {cfg.dataset}")
    if cfg.latent_reg not in LATENT_REGS:
        raise GanforgeError(f"unknown --latent-reg {cfg.latent_reg!r}; valid: {', '.join(LATENT_REGS)}")
    if cfg.moments_over not in MOMENTS_OVER:
        raise GanforgeError(f"unknown --moments-over {cfg.moments_over!r}; valid: {', '.join(MOMENTS_OVER)}")
    for name, low in (("epochs", 1), ("batch_size", 2), ("z_dim", 1), ("log_every", 1), ("cdf_samples", 10)):
        if getattr(cfg, name) < low:
            raise GanforgeError(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(cfg, name)}")
    for name in ("lr", "factor_start", "factor_growth", "factor_cap"):
        v = getattr(cfg, name)
        if not (math.isfinite(v) and v > 0):
            raise GanforgeError(f"--{name.replace('_', '-')} must be a positive number, got {v}")
    return cfg


def train_ae(cfg: AEConfig, *, resume: Optional[Path] = None) -> Path:
    """Train an autoencoder (or continue the run in folder ``resume``); returns the run folder."""
    cfg = resolve_ae(cfg)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    cfg.out = cfg.out or str(Path("runs") / f"{stamp}-ae-{cfg.dataset}-{cfg.latent_reg}")
    run, device, data_rng, data = start_run(cfg, resume is not None)
    n_batches = len(data.train) // cfg.batch_size
    model = speed_up(build_model(cfg.model, role="AE", shape=data.shape, z_dim=cfg.z_dim).to(device), device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    run.prepare()
    modules, optimizers = {"AE": model}, {"opt": opt}
    pos = Position()
    if resume is not None:
        pos, _ = restore_state(run.last, modules=modules, optimizers=optimizers, data_rng=data_rng, device=device)
        say(f"resuming {run.root} at epoch {pos.epoch + 1}, iteration {pos.iteration}")
    atomic_write_json(run.config, {**cfg.to_dict(), "kind": "autoencoder", "data_source": data.describe(),
                                   "device": str(device), "iterations_per_epoch": n_batches, "versions": versions()})
    train_x = data.train.to(device)
    probe = data.test[: cfg.cdf_samples].to(device)  # fixed images for the latent CDF and KS
    shown = data.test[:8].to(device)
    log = MetricsLog(run.metrics, resume_at=pos.iteration, stats=AE_STATS)
    meta = {"model": cfg.model, "z_dim": cfg.z_dim, "shape": list(data.shape), "dataset": cfg.dataset,
            "latent_reg": cfg.latent_reg}
    from tqdm.auto import tqdm

    progress = tqdm(total=n_batches, disable=cfg.quiet, leave=False, dynamic_ncols=True)
    ks_path = run.root / "latent_ks.json"
    ks_history = _read_ks(ks_path, pos.epoch)
    started = time.perf_counter()
    try:
        for epoch in range(pos.epoch, cfg.epochs):
            factor = factor_at(epoch, cfg.factor_start, cfg.factor_growth, cfg.factor_cap)
            order = epoch_order(len(train_x), cfg.seed, epoch).to(device)
            progress.reset(total=n_batches)
            progress.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
            progress.update(pos.batch)
            model.train()
            for b in range(pos.batch, n_batches):
                x = train_x[order[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
                stats = ae_step(model, opt, x, factor=factor, latent_reg=cfg.latent_reg,
                                moments_over=cfg.moments_over)
                pos.batch, pos.iteration = b + 1, pos.iteration + 1
                log.append(pos.iteration, epoch + 1, stats)
                progress.update(1)
                if pos.iteration % cfg.log_every == 0 or b + 1 == n_batches:
                    rows = log.flush()
                    bad = first_non_finite(rows)
                    if bad is not None:
                        raise GanforgeError(f"loss became non-finite at iteration {int(bad['iteration'])}; run "
                                            f"stopped, last good checkpoint kept: {run.last}")
                    if rows:
                        progress.set_postfix(mse=f"{rows[-1]['image_mse']:.4f}", z=f"{rows[-1]['z_mse']:.3g}")
            pos.epoch, pos.batch = epoch + 1, 0
            save_state(run.last, modules=modules, optimizers=optimizers, data_rng=data_rng, device=device, pos=pos,
                       meta={**meta, "kind_of_model": "autoencoder"})
            ks_history.append(_epoch_figures(run, model, shown, probe, log, n_batches, pos.epoch))
            atomic_write_json(ks_path, ks_history)
    finally:
        progress.close()
    save_checkpoint(run.generator, prefixed("AE", model.state_dict()), {"kind": "autoencoder", **meta,
                                                                          "epochs": pos.epoch})
    seconds = time.perf_counter() - started
    atomic_write_json(run.summary, {"epochs": pos.epoch, "iterations": pos.iteration, "seconds": round(seconds, 2),
                                    "final_ks": ks_history[-1]["ks"] if ks_history else None,
                                    "final_image_mse": log.history[-1]["image_mse"] if log.history else None})
    say(f"done: {pos.epoch} epochs, latent KS to N(0,1) {ks_history[-1]['ks']:.4f}" if ks_history else "done")
    print(f"outputs in {run.root}")
    return run.root


def _read_ks(path: Path, epochs: int) -> list[dict]:
    import json

    if not path.exists():
        return []
    return [r for r in json.loads(path.read_text()) if r["epoch"] <= epochs]


@torch.no_grad()
def _epoch_figures(run: Run, model: nn.Module, shown: Tensor, probe: Tensor, log: MetricsLog, n_batches: int,
                   epoch: int) -> dict:
    model.eval()
    recon, _ = model(shown)
    z = torch.cat([model.encode(chunk) for chunk in probe.split(500)])
    model.train()
    plots.image_table(run.samples / f"epoch_{epoch:03d}.png", torch.stack([shown, recon]),
                      row_titles=["input", "output"])
    ks = ks_statistic(z)
    reference = torch.randn(10_000, generator=torch.Generator().manual_seed(0))
    plots.latent_cdf(run.root / "cdf" / f"epoch_{epoch:03d}.png", z.flatten().cpu(), reference,
                     title=f"epoch {epoch}: KS {ks:.4f}")
    h = log.history
    plots.ae_losses(run.loss_plot, [r["iteration"] for r in h], {k: [r[k] for r in h] for k in
                                                                 ("z_mse", "image_mse", "z_term")}, n_batches)
    return {"epoch": epoch, "ks": round(ks, 6), "moments": [round(float(v), 5) for v in latent_moments(z)]}
