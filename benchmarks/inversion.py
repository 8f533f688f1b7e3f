"""Inversion and restoration: batched restarts against one restart and against the report's sequential method.

    python benchmarks/inversion.py [--generator RUN] [--images 64] [--iters 300]

Without --generator it first trains a small MNIST generator (the DCGAN-style M4/M5, 10 epochs on
the bundled sample, about 3.5 CPU-minutes) so that the numbers are about a generator that makes
clean digits. All timings are measured
in one run on the same machine; ratios, not absolute seconds, are the result.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table, timed, write  # noqa: E402

from ganforge.cli import main as ganforge  # noqa: E402
from ganforge.data import load_dataset  # noqa: E402
from ganforge.loading import open_generator  # noqa: E402
from ganforge.latent.inversion import invert  # noqa: E402
from ganforge.latent.masks import MASK_KINDS, apply_mask, make_mask  # noqa: E402
from ganforge.latent.fidelity import psnr  # noqa: E402


def sequential(G, images, *, restarts, iters, optimizer, lr, z_dim, hidden=None, seed=0):
    """The report's method: one image and one random start at a time, keeping the best."""
    best = []
    for i, x in enumerate(images):
        results = [invert(G, x[None], restarts=1, iters=iters, optimizer=optimizer, lr=lr, z_dim=z_dim,
                          hidden=None if hidden is None else hidden[i:i + 1], seed=seed * 100_003 + i * 101 + j)
                   for j in range(restarts)]
        best.append(min(results, key=lambda r: float(r.final[0, 0])).reconstructions[0])
    return torch.stack(best)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", help="run folder or generator file (default: train one)")
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--train-epochs", type=int, default=10)
    p.add_argument("--sequential-images", type=int, default=16,
                   help="images for the (slow) sequential timing; its time is scaled to --images")
    args = p.parse_args()
    torch.manual_seed(0)

    tmp = tempfile.TemporaryDirectory()
    trained = args.generator is None
    if trained:
        args.generator = str(Path(tmp.name) / "run")
        ganforge(["train", "-g", "M4", "-d", "M5", "-b", "64", "-e", str(args.train_epochs), "-q",
                  "-o", args.generator])
    gen = open_generator(args.generator)
    data = load_dataset(gen.dataset or "mnist")
    idx = torch.randperm(len(data.test), generator=torch.Generator().manual_seed(0))[: args.images]
    x = data.test[idx]
    n, it = len(x), args.iters

    # Warm-up, so that the first timing does not pay for allocations.
    invert(gen.G, x[:4], restarts=2, iters=5, z_dim=gen.z_dim)

    t1, r1 = timed(lambda: invert(gen.G, x, restarts=1, iters=it, z_dim=gen.z_dim, seed=1))
    t5, r5 = timed(lambda: invert(gen.G, x, restarts=5, iters=it, z_dim=gen.z_dim, seed=1))
    tp, rp = timed(lambda: invert(gen.G, x, restarts=5, iters=it, z_dim=gen.z_dim, seed=1, prune_after=0.1))
    m = min(args.sequential_images, n)
    ts, _ = timed(lambda: sequential(gen.G, x[:m], restarts=5, iters=it, optimizer="adam", lr=None,
                                     z_dim=gen.z_dim))
    ts_scaled = ts * n / m
    mse1 = float(((r1.reconstructions - x) ** 2).mean())
    mse5 = float(((r5.reconstructions - x) ** 2).mean())
    msep = float(((rp.reconstructions - x) ** 2).mean())

    g = torch.Generator().manual_seed(0)
    masks = {}
    for kind in MASK_KINDS:
        hidden = torch.stack([make_mask(kind, x.shape[-2:], generator=g) for _ in range(n)])
        masked = apply_mask(x, hidden)
        ours = invert(gen.G, masked, restarts=5, iters=it, hidden=hidden, z_dim=gen.z_dim, seed=2).reconstructions
        report = invert(gen.G, masked, restarts=1, iters=it, optimizer="sgd", hidden=hidden, z_dim=gen.z_dim,
                        seed=2).reconstructions
        where = hidden[:, None]
        masks[kind] = {
            "psnr_ours": float(psnr(ours, x).mean()), "psnr_report": float(psnr(report, x).mean()),
            "psnr_hidden_ours": float(psnr(ours, x, where).mean()),
            "psnr_hidden_report": float(psnr(report, x, where).mean()),
        }
        masks[kind]["gain_db"] = masks[kind]["psnr_ours"] - masks[kind]["psnr_report"]

    results = {
        "machine": machine(),
        "generator": f"ganforge train -g M4 -d M5 -b 64 -e {args.train_epochs} (seed 0)" if trained else gen.source, "model": gen.model, "images": n, "iters": it,
        "seconds_1_restart": t1, "seconds_5_restarts_batched": t5,
        "seconds_5_restarts_sequential": ts_scaled, "sequential_measured_on_images": m,
        "seconds_5_restarts_pruned": tp, "cost_5_vs_1_restart": t5 / t1, "cost_5_pruned_vs_1_restart": tp / t1, "speedup_batched_vs_sequential": ts_scaled / t5,
        "mse_1_restart": mse1, "mse_5_restarts": mse5, "mse_5_restarts_pruned": msep, "restoration": masks,
    }
    md = [
        "# Inversion benchmark",
        "",
        f"`python benchmarks/inversion.py` on {machine()['device']} ({machine()['cores']} cores), torch "
        f"{torch.__version__}. Generator: {gen.model} ({'trained by the script for ' + str(args.train_epochs) + ' epochs' if trained else gen.source}); "
        f"{n} MNIST test images, {it} Adam iterations (lr 0.05). All numbers from one run.",
        "",
        "| inversion | seconds | ratio |",
        "|---|---:|---:|",
        f"| 1 restart, batched | {t1:.2f} | 1.00 |",
        f"| 5 restarts, batched (ganforge) | {t5:.2f} | {t5 / t1:.2f} |",
        f"| 5 restarts, batched, pruned to the best after 10 % (`--prune-after 0.1`) | {tp:.2f} | {tp / t1:.2f} |",
        f"| 5 restarts, sequential (the report's method; timed on {m} images, scaled) | {ts_scaled:.2f} | "
        f"{ts_scaled / t1:.2f} |",
        "",
        f"Batched restarts are **{ts_scaled / t5:.1f}x** faster than the sequential method. "
        f"Reconstruction MSE: {mse1:.4f} with 1 restart, {mse5:.4f} with 5, {msep:.4f} with 5 pruned.",
        "",
    ]
    md += table("| mask | PSNR ganforge (5 restarts, Adam) | PSNR report (1 restart, SGD lr 1) | gain | "
                "hidden-pixel PSNR ganforge | hidden-pixel PSNR report |",
                (f"| {kind} | {r['psnr_ours']:.2f} dB | {r['psnr_report']:.2f} dB | {r['gain_db']:+.2f} dB | "
                 f"{r['psnr_hidden_ours']:.2f} dB | {r['psnr_hidden_report']:.2f} dB |" for kind, r in masks.items()))
    write("inversion", results, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
