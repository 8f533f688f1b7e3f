"""Training throughput: ganforge's step against a peer-style reference loop, in one run.

    python benchmarks/throughput.py [--rounds 15] [--recipes | --streaming | --cuda-only | --graphs]

For M1/M3 and the convolutional pair M4/M5, at batch 64 and 256, images per second of:

- ganforge: ``ganforge train``'s own loop and step (training/loop.py ``iterate``): the training tensor
  on the device, batches by index, softplus losses on logits, fused Adam, a host sync every 50 steps,
  channels-last, and on CPU the fast layers of ``ganforge.models.fast``;
- reference: what a typical PyTorch GAN script does (PyTorch-GAN's gan.py and dcgan.py):
  torchvision's MNIST read from IDX files through a DataLoader with per-sample ToTensor and
  Normalize, D ending in Sigmoid with BCELoss, the default Adam, ``loss.item()`` every step.

Both train the same models on the same 8,000 digits, each in a process of its own (ganforge's with
the allocator setting the ``ganforge`` command makes, the reference's with the C library's defaults;
a second reference process with ganforge's setting shows the speedup without that share). They
take turns of about half a second each, with a matmul between, many rounds over (the host is shared
and its speed drifts within seconds); speedups and shares are medians over rounds of ratios within
a round. Achieved GFLOP/s (FLOPs of one step counted by torch's FlopCounterMode) is compared with
a float32 matmul peak measured in the same turns. On CUDA the script also measures batch 256 and
2048 with and without bf16 autocast and torch.compile.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCS, loop_step, machine, write  # noqa: E402

from ganforge.data import load_dataset  # noqa: E402
from ganforge.models import build_model  # noqa: E402
from ganforge.device import keep_freed_memory  # noqa: E402
from ganforge.training import TrainConfig, build_gan, resolve  # noqa: E402

PAIRS = (("M1", "M3"), ("M4", "M5"))
Z = 50


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as MNIST ships it: magic (0, 0, type 0x08, ndim), big-endian sizes, bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def mnist_folder(root: Path) -> Path:
    """The bundled sample's digits written in torchvision's MNIST layout, for the reference loop."""
    data = load_dataset("mnist")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, x, y in (("train", data.train, data.train_labels), ("t10k", data.test, data.test_labels)):
        pixels = ((x[:, 0] + 1) * 127.5).round().clamp(0, 255).numpy()
        write_idx(raw / f"{split}-images-idx3-ubyte", pixels)
        write_idx(raw / f"{split}-labels-idx1-ubyte", y.numpy())
    return root


def local(fn: Callable[[], object], device: torch.device) -> Callable[[int], float]:
    """A turn taker for ``interleaved`` that runs ``fn`` in this process: seconds per call of n calls."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def turn(calls: int) -> float:
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        return (time.perf_counter() - start) / calls

    return turn


def _serve(conn, build: Callable[..., dict], args: tuple, threads: int, keep_memory: bool) -> None:
    torch.set_num_threads(threads)
    if keep_memory:
        keep_freed_memory()
    turns = {name: local(fn, torch.device("cpu")) for name, fn in build(*args).items()}
    conn.send(list(turns))
    while (request := conn.recv()) is not None:
        name, calls = request
        conn.send(turns[name](calls))


class Worker:
    """A process of its own that builds CPU step functions with ``build(*args)`` and takes turns of
    them on request. ganforge and the reference loop each get one, so each runs with the C library's
    allocator as its own program would: ganforge's as ``ganforge train`` sets it
    (``keep_freed_memory``), the reference's untouched."""

    def __init__(self, build: Callable[..., dict], args: tuple, *, keep_memory: bool):
        context = mp.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, daemon=True,
                                       args=(child, build, args, torch.get_num_threads(), keep_memory))
        self.process.start()
        self.names = self.conn.recv()

    def turn(self, name: str) -> Callable[[int], float]:
        def ask(calls: int) -> float:
            self.conn.send((name, calls))
            return self.conn.recv()
        return ask

    def turns(self) -> dict:
        return {name: self.turn(name) for name in self.names}

    def close(self) -> None:
        self.conn.send(None)
        self.process.join()


def interleaved(turns: dict, calls: dict, rounds: int) -> dict:
    """Seconds per call of each variant, timed in short turns taken in rotation, ``rounds`` times.

    ``turns`` maps a name to a function that makes n calls and returns seconds per call (``local``
    or ``Worker.turn``). The host is shared and its speed drifts by tens of percent within seconds,
    so ratios are taken between turns of one round (a fraction of a second apart), never between
    runs minutes apart. Returns {name: [seconds per call in each round]}."""
    for turn in turns.values():  # warm-up: allocator, oneDNN primitives, the DataLoader's first batch
        turn(3)
    times = {name: [] for name in turns}
    names = list(turns)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate who goes first
            times[name].append(turns[name](calls[name]))
    return times


def ganforge_step(g: str, d: str, batch: int, device: torch.device, *, amp: bool = False, compile: bool = False,
                  channels_last: bool = False):
    """One training iteration as ``ganforge train -g G -d D`` runs it: the user's loop and step
    (common.loop_step) with the options a user would pass."""
    return loop_step(TrainConfig(generator=g, discriminator=d, batch_size=batch, z_dim=Z, amp="bf16" if amp else None,
                                 compile=compile, channels_last=channels_last, device=device.type))


# What the recipes add to a step; the "without stabilisers" variant sets them off.
STABILISERS_OFF = dict(ema=0.0, pack=1, augment="none", r1=0.0, r2=0.0, spectral_norm="none", clusters=0,
                       pack_by_class=False, lr_half_life=0.0, loss="non_saturated")
RECIPE_DATASETS = ("mnist", "fashion", "stacked-mnist", "ring", "grid", "celeb")


def noise_folder(root: Path, count: int = 512, side: int = 64) -> None:
    """An image folder of ``count`` random RGB images: CelebA's stand-in, as its cost does not depend on faces."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / f"{i:04d}.png")


def task_step(dataset: str, device: torch.device, data_root: Optional[Path] = None, **options):
    """One iteration of ``ganforge train --dataset DATASET`` with ``options``, as the user's loop runs it,
    with the moving average, penalties and augmentation the trainer applies."""
    return loop_step(TrainConfig(dataset=dataset, device=device.type, data_root=data_root and str(data_root),
                                 **options))


def recipe_turns(dataset: str, images: Path) -> dict:
    """Runs in a worker: for CelebA, ``images`` is the image folder, its decoded copy cached beside it."""
    device, root = torch.device("cpu"), None
    if dataset == "celeb":
        os.environ["GANFORGE_CACHE"] = str(images.parent / "cache")
        root = images
    batch = resolve(TrainConfig(dataset=dataset)).batch_size
    return {"recipe": task_step(dataset, device, root),
            "without stabilisers": task_step(dataset, device, root, **STABILISERS_OFF),
            "plain": task_step(dataset, device, root, recipe="none", batch_size=batch)}


def recipe_table(args) -> list[dict]:
    """A row per recipe; CelebA's on a folder of noise images of its size, as no faces are offline."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        noise_folder(images)
        for dataset in RECIPE_DATASETS:
            rows.append(recipe_row(dataset, images, args.rounds))
    return rows


def recipe_row(dataset: str, images: Path, rounds: int) -> dict:
    """One recipe's step against the same models and batch with the stabilisers off, and against the dataset's
    plain step (``--recipe none``: its default models, where the recipe picks others) at the recipe's batch."""
    worker = Worker(recipe_turns, (dataset, images), keep_memory=True)
    turns = worker.turns()
    steps = max(1, min(20, round(1.0 / turns["recipe"](2))))  # turns of about a second, at most 20 steps
    t = interleaved(turns, {"recipe": steps, "without stabilisers": steps, "plain": steps}, rounds)
    worker.close()
    ratios = [r / p for r, p in zip(t["recipe"], t["without stabilisers"])]
    plain_ratios = [r / p for r, p in zip(t["recipe"], t["plain"])]
    row = {"recipe": dataset, "steps_per_turn": steps, "cost_ratio": statistics.median(ratios),
           "ratio_per_round": ratios, "plain_ratio": statistics.median(plain_ratios),
           "plain_ratio_per_round": plain_ratios,
           "recipe_ms": 1000 * statistics.median(t["recipe"]),
           "plain_ms": 1000 * statistics.median(t["without stabilisers"]),
           "plain_models_ms": 1000 * statistics.median(t["plain"])}
    print(row, flush=True)
    return row


def streaming_turns(images: Path, size: int) -> dict:
    """Runs in a worker: one iteration of ``ganforge train --images FOLDER`` with the images on the device,
    and the same with ``--data-memory 0`` (every batch gathered from host memory on the worker thread)."""
    os.environ["GANFORGE_CACHE"] = str(images.parent / "cache")
    options = dict(images=str(images), image_size=size, generator="M10", discriminator="M13", device="cpu")
    return {"in memory": loop_step(TrainConfig(**options)),
            "streamed": loop_step(TrainConfig(**options, data_memory=0.0))}


def streaming_table(args) -> list[dict]:
    """The streamed step against the in-memory one, at 32x32 and 64x64 with the cheapest colour pair (where
    the data's share of a step is largest), on a folder of noise images."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        noise_folder(images)
        for size in (32, 64):
            worker = Worker(streaming_turns, (images, size), keep_memory=True)
            turns = worker.turns()
            steps = max(1, min(20, round(1.0 / turns["in memory"](2))))
            t = interleaved(turns, {"in memory": steps, "streamed": steps}, args.rounds)
            worker.close()
            ratios = [s / m for s, m in zip(t["streamed"], t["in memory"])]
            rows.append({"size": size, "steps_per_turn": steps,
                         "in_memory_ms": 1000 * statistics.median(t["in memory"]),
                         "streamed_ms": 1000 * statistics.median(t["streamed"]), "ratio": statistics.median(ratios),
                         "ratio_per_round": ratios})
            print(rows[-1], flush=True)
    return rows


def streaming_markdown(r: dict) -> list[str]:
    md = ["## Streamed data against data on the device", "",
          "`python benchmarks/throughput.py --streaming`: one iteration of `ganforge train --images FOLDER -g M10 "
          "-d M13` (batch 64, 512 noise images) with the images on the device, and with `--data-memory 0`, which "
          "keeps them in host memory and gathers each batch on a worker thread while the step before it trains "
          "(on a GPU the batch is also copied over from pinned memory); "
          f"{r['rounds']} rounds, the median of the ratios within a round.", "",
          "| image size | in memory, ms per step | streamed, ms per step | streamed / in memory (middle half) |",
          "|---|---:|---:|---:|"]
    md += [f"| {row['size']}x{row['size']} | {row['in_memory_ms']:.1f} | {row['streamed_ms']:.1f} | "
           f"{row['ratio']:.3f}x ({spread(row['ratio_per_round'])}) |" for row in r["rows"]]
    return md + [""]


# Each recipe at its own batch, eager against graphed; the colour recipe on a 64x64 folder (the emoji recipe's
# models and options), CelebA's 0.2 pair M11/M12 beside it.
GRAPH_ROWS = {"mnist": dict(dataset="mnist"), "fashion": dict(dataset="fashion"),
              "stacked-mnist": dict(dataset="stacked-mnist"), "ring": dict(dataset="ring"),
              "grid": dict(dataset="grid"),
              "colour 64x64 (emoji recipe)": dict(dataset="images", image_size=64),
              "colour 64x64, M11/M12 at batch 128": dict(dataset="images", image_size=64, generator="M11",
                                                         discriminator="M12", batch_size=128)}


def graphs_table(args, save=lambda rows: None) -> list[dict]:
    """Iterations per second of every recipe's step, eager and as CUDA graphs (--cuda-graphs), timed in
    alternating turns on one card; ``save`` gets the rows after each recipe."""
    device, rows = torch.device("cuda"), []
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        noise_folder(images)
        for name, options in GRAPH_ROWS.items():
            root = dict(images=str(images)) if options["dataset"] == "images" else {}
            fns = {graphed: loop_step(TrainConfig(**options, **root, device="cuda", cuda_graphs=graphed))
                   for graphed in (False, True)}
            batch = resolve(TrainConfig(**options, **root)).batch_size
            t = interleaved({k: local(fn, device) for k, fn in fns.items()}, {False: 50, True: 50}, 5)
            ratios = [e / g for e, g in zip(t[False], t[True])]
            rows.append({"recipe": name, "batch": batch, "eager_it_per_s": 1 / statistics.median(t[False]),
                         "graphed_it_per_s": 1 / statistics.median(t[True]), "speedup": statistics.median(ratios),
                         "images_per_s_graphed": batch / statistics.median(t[True])})
            print(rows[-1], flush=True)
            save(rows)
    return rows


def graphs_markdown(r: dict) -> list[str]:
    md = [f"## CUDA graphs: {r['card']}", "",
          "`python benchmarks/throughput.py --graphs` (run by `bash scripts/gpu-check.sh`), "
          f"{r['measured']}: one iteration of `ganforge train --dataset X --device cuda` with and without "
          "`--cuda-graphs` (the user's loop and step; 3 eager iterations, then the captured step replayed), each "
          "recipe at its own batch, turns of 50 iterations taken in turn, 5 rounds, the median of the ratios "
          "within a round. The colour rows train on a folder of 64x64 noise images (same models and cost as the "
          "pictures). Goal: the MNIST recipe at least 5x the eager step.", "",
          "| recipe | batch | eager it/s | graphed it/s | graphed / eager | graphed img/s |",
          "|---|---:|---:|---:|---:|---:|"]
    md += [f"| {row['recipe']} | {row['batch']} | {row['eager_it_per_s']:,.0f} | {row['graphed_it_per_s']:,.0f} | "
           f"{row['speedup']:.2f}x | {row['images_per_s_graphed']:,.0f} |" for row in r["rows"]]
    return md + [""]


def reference_step(g: str, d: str, batch: int, device: torch.device, root: Path):
    from torchvision import datasets, transforms

    torch.manual_seed(0)
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    loader = torch.utils.data.DataLoader(datasets.MNIST(str(root), train=True, transform=tf), batch_size=batch,
                                         shuffle=True, drop_last=True)
    G = build_model(g, role="G", shape=(1, 28, 28), z_dim=Z).to(device)
    D = nn.Sequential(build_model(d, role="D", shape=(1, 28, 28)), nn.Sigmoid()).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    batches = iter(())

    def step() -> None:
        nonlocal batches
        try:
            real, _ = next(batches)
        except StopIteration:
            batches = iter(loader)
            real, _ = next(batches)
        real = real.to(device)
        valid, fake_t = torch.ones(batch, device=device), torch.zeros(batch, device=device)
        opt_g.zero_grad()
        gen = G(torch.randn(batch, Z, device=device))
        g_loss = bce(D(gen).view(-1), valid)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        d_loss = (bce(D(real).view(-1), valid) + bce(D(gen.detach()).view(-1), fake_t)) / 2
        d_loss.backward()
        opt_d.step()
        g_loss.item(), d_loss.item()  # the per-step logging such scripts do

    return step


def step_flops(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul(device: torch.device, n: int = 2048):
    """A float32 n x n matmul and its FLOPs: the yardstick for the machine's peak."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return (lambda: a @ b), 2 * n**3


def matmul_peak(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a float32 n x n matmul on this device and thread count."""
    fn, flops = matmul(device, n)
    return flops / statistics.median(interleaved({"mm": local(fn, device)}, {"mm": repeats}, 3)["mm"]) / 1e9


def ganforge_turns(g: str, d: str, batch: int) -> dict:
    """Built in ganforge's worker: its step, the step without channels-last, and the matmul."""
    device = torch.device("cpu")
    return {"ganforge": ganforge_step(g, d, batch, device, channels_last=True),
            "ganforge contiguous": ganforge_step(g, d, batch, device), "matmul": matmul(device)[0]}


def reference_turns(g: str, d: str, batch: int, root: Path, name: str = "reference") -> dict:
    return {name: reference_step(g, d, batch, torch.device("cpu"), root)}


def cpu_table(args, device: torch.device, root: Path) -> dict:
    """Per pair and batch: ganforge, the reference, ganforge without channels-last, the reference with
    ganforge's allocator setting and a matmul take turns of about half a second, ``args.rounds`` times;
    ganforge (with the matmul) and the reference run in processes of their own. Speedup and share of
    the matmul peak are medians over rounds of ratios within a round."""
    rows = []
    mm_flops = matmul(device)[1]
    for g, d in PAIRS:
        for batch in (64, 256):
            workers = [Worker(ganforge_turns, (g, d, batch), keep_memory=True),
                       Worker(reference_turns, (g, d, batch, root), keep_memory=False),
                       Worker(reference_turns, (g, d, batch, root, "reference kept"), keep_memory=True)]
            turns = {name: turn for w in workers for name, turn in w.turns().items()}
            calls = {name: max(1, args.turn_images // batch) for name in turns}
            calls["matmul"] = 4
            flops = step_flops(ganforge_step(g, d, batch, device, channels_last=True))
            t = interleaved(turns, calls, args.rounds)
            for w in workers:
                w.close()
            ratios = [r / a for a, r in zip(t["ganforge"], t["reference"])]
            same = [r / a for a, r in zip(t["ganforge"], t["reference kept"])]
            peaks = [mm_flops / m / 1e9 for m in t["matmul"]]
            shares = [flops / a / 1e9 / p for a, p in zip(t["ganforge"], peaks)]
            speeds = {name: batch / statistics.median(v) for name, v in t.items() if name != "matmul"}
            rows.append({"pair": f"{g}/{d}", "batch": batch, "images_per_s": speeds,
                         "speedup_vs_reference": statistics.median(ratios), "speedup_per_round": ratios,
                         "speedup_vs_reference_same_allocator": statistics.median(same),
                         "gflop_per_step": flops / 1e9, "achieved_gflops": flops * speeds["ganforge"] / batch / 1e9,
                         "matmul_peak_gflops": peaks, "share_of_matmul_peak": statistics.median(shares),
                         "share_per_round": shares})
            print({k: v for k, v in rows[-1].items() if not isinstance(v, list)}, flush=True)
    ceilings = [layer_ceiling(g, d, 256, device, args.rounds) for g, d in PAIRS]
    return {"rows": rows, "layers": ceilings}


def layer_ceiling(g: str, d: str, batch: int, device: torch.device, rounds: int) -> dict:
    """Each weight layer of the pair alone: forward and backward (input and weight gradients) at the
    shape it sees in training, hot in cache, channels-last. Their combined rate bounds what a whole
    step, which adds elementwise layers, losses and the optimiser, can reach."""
    from torch.utils.flop_counter import FlopCounterMode

    mm, mm_flops = matmul(device)
    torch.manual_seed(0)
    cfg = resolve(TrainConfig(generator=g, discriminator=d, batch_size=batch, z_dim=Z, channels_last=True,
                              device=device.type))
    gan = build_gan(cfg, (1, 28, 28), device)
    G, D = gan.G, gan.D
    shapes, hooks = {}, []

    def record(key: str):
        def hook(layer: nn.Module, inputs: tuple, _) -> None:
            shapes[key] = layer, inputs[0].shape
        return hook

    for prefix, model in (("G", G), ("D", D)):
        for name, layer in model.named_modules():
            if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                hooks.append(layer.register_forward_hook(record(f"{prefix}.{name}")))
    with torch.no_grad():
        D(G(torch.randn(batch, Z, device=device)))
    for hook in hooks:
        hook.remove()
    layers = []
    for key, (layer, shape) in shapes.items():
        x = torch.randn(shape, device=device)
        if x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_()
        grad = torch.randn_like(layer(x))

        def fwd_bwd(layer=layer, x=x, grad=grad) -> None:
            layer(x).backward(grad)

        with FlopCounterMode(display=False) as counter:
            fwd_bwd()
        flops = counter.get_total_flops()
        t = interleaved({"layer": local(fwd_bwd, device), "matmul": local(mm, device)}, {"layer": 3, "matmul": 2},
                        rounds)
        shares = [flops / a / p for a, p in zip(t["layer"], (mm_flops / m for m in t["matmul"]))]
        layers.append({"layer": f"{key} {type(layer).__name__}", "input": list(shape), "gflop": flops / 1e9,
                       "ms": 1e3 * statistics.median(t["layer"]), "share_of_matmul_peak": statistics.median(shares)})
    # all layers once, each timed as if at the same peak: total FLOPs over the sum of FLOPs / share
    together = sum(r["gflop"] for r in layers) / sum(r["gflop"] / r["share_of_matmul_peak"] for r in layers)
    return {"pair": f"{g}/{d}", "batch": batch, "layers": layers, "share_of_matmul_peak": together}


def cuda_table(args, device: torch.device, save=lambda table: None) -> dict:
    """Batch 256 and 2048 with and without bf16 and torch.compile; ``save`` gets the table after each batch,
    so a run stopped at its time limit keeps what it measured."""
    peak = matmul_peak(device, n=8192)
    rows = []
    table = {"card": torch.cuda.get_device_name(), "matmul_peak_gflops": peak, "rows": rows}
    for g, d in PAIRS:
        for batch in (256, 2048):
            fns = {(amp, compile): ganforge_step(g, d, batch, device, amp=amp, compile=compile, channels_last=True)
                   for amp in (False, True) for compile in (False, True)}
            fns["reference"] = reference_step(g, d, batch, device, args.root)
            calls = {name: max(2, args.images // batch) for name in fns}
            t = interleaved({name: local(fn, device) for name, fn in fns.items()}, calls, 5)
            for (amp, compile), v in ((k, v) for k, v in t.items() if k != "reference"):
                rows.append({"pair": f"{g}/{d}", "batch": batch, "bf16": amp, "compile": compile,
                             "images_per_s": batch / statistics.median(v)})
                print(rows[-1], flush=True)
            ratios = [r / a for a, r in zip(t[(False, False)], t["reference"])]
            rows.append({"pair": f"{g}/{d}", "batch": batch, "reference_images_per_s": batch / statistics.median(
                t["reference"]), "speedup_vs_reference": statistics.median(ratios)})
            save(table)
    return table


def spread(values: list[float]) -> str:
    """The middle half of ``values``: first to third quartile."""
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{q1:.2f}-{q3:.2f}"


def recipes_markdown(r: dict) -> list[str]:
    fewer = "; ".join(f"{row['recipe']} {row['steps_per_turn']}" for row in r["rows"] if row["steps_per_turn"] < 20)
    fewer = f"; where a second holds fewer, as many as it holds: {fewer}" if fewer else ""
    md = ["## What the recipes cost", "",
          "`python benchmarks/throughput.py --recipes`: one iteration of `ganforge train --dataset X` (the "
          "trainer's own task and step, its host sync every 50 steps) against the same models and batch with the "
          "stabilisers off (no moving average, packing, clusters, penalties or augmentation, and the non-saturating "
          "loss in place of the relativistic one); CelebA's on a folder of 512 noise images of its size, as no faces "
          f"are offline; turns of about a second (20 steps{fewer}), {r['rounds']} rounds, the median of the ratios "
          "within a round. Goal: at most 1.3x for what the stabilisers add (the first ratio). A recipe that packs "
          "costs less than the plain step: with packs of m, "
          "D runs on batch / m inputs, which pays for the moving average, the penalties every 16 steps and the "
          "clusters; CelebA's recipe adds only the moving average. The last two columns set the recipe against the "
          "dataset's plain step, `ganforge train --dataset X --recipe none` at the recipe's batch: its default models "
          "(Stacked MNIST's recipe runs M5-deep in place of M5, the toys' PacGAN's models in place of toy-g/toy-d) "
          "with nothing added: what the recipe's choice of models costs besides (PacGAN's toy models are 19 and 24 "
          "times the size of toy-g and toy-d; Fashion-MNIST's plain models are the report's M1/M3).", "",
          "| recipe | ms per step | without stabilisers | cost (middle half of rounds) | plain step (`--recipe none`) "
          "| cost against it (middle half) |", "|---|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        against = (f"{row['plain_models_ms']:.1f} | {row['plain_ratio']:.2f}x ({spread(row['plain_ratio_per_round'])})"
                   if "plain_ratio" in row else " | ")
        md.append(f"| {row['recipe']} | {row['recipe_ms']:.1f} | {row['plain_ms']:.1f} | "
                  f"{row['cost_ratio']:.2f}x ({spread(row['ratio_per_round'])}) | {against} |")
    return md + [""]


def markdown(results: dict) -> str:
    cpu = results["cpu"]
    peaks = [p for r in cpu["rows"] for p in r["matmul_peak_gflops"]]
    peak_range = f"{min(peaks):.0f}-{max(peaks):.0f}"
    md = ["# Training throughput", "",
          f"`python benchmarks/throughput.py` on {results['machine']['cpu']} ({results['machine']['cores']} cores, "
          f"{results['machine']['threads']} torch threads), torch {results['machine']['torch']}. Images per second "
          "of one training step (one D and one G update, non-saturating loss, k=0). The host is shared and its "
          "speed drifts within seconds (a 2048 x 2048 float32 matmul ran at " + peak_range + " GFLOP/s during "
          f"this run), so ganforge, the reference and the matmul take turns of {results['turn_images']} images "
          f"(4 matmuls), {results['rounds']} rounds over, and speedup and share of the matmul peak are medians "
          "over rounds of ratios within a round; images per second are medians over rounds.", "",
          "| pair | batch | ganforge img/s | reference img/s | speedup (middle half of rounds) | GFLOP/step | "
          "achieved GFLOP/s | share of matmul peak |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cpu["rows"]:
        s = r["images_per_s"]
        md.append(f"| {r['pair']} | {r['batch']} | {s['ganforge']:,.0f} | {s['reference']:,.0f} | "
                  f"{r['speedup_vs_reference']:.2f}x ({spread(r['speedup_per_round'])}) | {r['gflop_per_step']:.3f} | "
                  f"{r['achieved_gflops']:.1f} | "
                  f"{100 * r['share_of_matmul_peak']:.0f} % |")
    md += ["", "ganforge trains image models in the channels-last memory format by default; with the default "
           "contiguous format instead (`--no-channels-last`): " + "; ".join(
               f"{r['pair']} batch {r['batch']}: {r['images_per_s']['ganforge contiguous']:,.0f} img/s"
               for r in cpu["rows"]) + "."]
    md += ["", "The reference is the loop most PyTorch GAN scripts use (torchvision's MNIST through a DataLoader "
           "with per-sample ToTensor and Normalize, Sigmoid + BCELoss, the default Adam, `.item()` each step). "
           "ganforge and the reference each run in a process of their own, so each has the C library's "
           "allocator as its own program would. What makes the difference: the memory that freed tensors give "
           "back stays with the process (`keep_freed_memory`, which the `ganforge` command sets at start; by "
           "default glibc maps every large tensor afresh and each step page-faults all its activations in again); "
           "the generator step backpropagates into G's weights only (the reference's also computes D's weight "
           "gradients, then throws them away); a D without BatchNorm (M3) scores real and fake in one pass; "
           "channels-last convolutions; on CPU, the last transposed convolution as a matrix product and col2im, "
           "dropout masks from a uniform draw, and gradients kept channels-last through the flatten "
           "(`ganforge/models/fast.py`); fused Adam; no per-sample transforms or collation (the training set is "
           "one tensor, batches are index gathers); no host sync per step.", "",
           "Without the allocator's share: the reference run in a process with ganforge's allocator setting "
           "reaches " + "; ".join(
               f"{r['pair']} batch {r['batch']}: {r['images_per_s']['reference kept']:,.0f} img/s "
               f"(ganforge {r['speedup_vs_reference_same_allocator']:.2f}x as fast)" for r in cpu["rows"]) + ".", ""]
    md += ["## How close a step can come to the matmul peak", "",
           "Each weight layer alone at batch 256: forward and backward (input and weight gradients) at the shape "
           "it sees in training, channels-last, hot in cache, taking turns with the matmul. What "
           "these layers reach together bounds a whole step, which adds elementwise layers (activations, dropout, "
           "BatchNorm), the losses and the optimiser.", ""]
    for c in cpu["layers"]:
        heavy = max(c["layers"], key=lambda r: r["gflop"])
        part = heavy["gflop"] / sum(r["gflop"] for r in c["layers"])
        md += [f"**{c['pair']}**: the layers together reach {100 * c['share_of_matmul_peak']:.0f} % of the peak; "
               f"the heaviest, {heavy['layer']} ({100 * part:.0f} % of the FLOPs), runs at "
               f"{100 * heavy['share_of_matmul_peak']:.0f} % on its own.", "",
               "| layer | input | GFLOP | ms | share of matmul peak |", "|---|---|---:|---:|---:|"]
        md += [f"| {r['layer']} | {'x'.join(map(str, r['input']))} | {r['gflop']:.3f} | {r['ms']:.1f} | "
               f"{100 * r['share_of_matmul_peak']:.0f} % |" for r in c["layers"]]
        md.append("")
    if "cuda" in results:
        c = results["cuda"]
        md += [f"## CUDA: {c['card']}", "",
               "`python benchmarks/throughput.py --cuda-only` (run by `bash scripts/gpu-check.sh`)"
               f"{', ' + c['measured'] if 'measured' in c else ''}, torch {c.get('machine', {}).get('torch', '?')}. "
               f"Float32 matmul peak: {c['matmul_peak_gflops']:,.0f} GFLOP/s.", "",
               "| pair | batch | bf16 | compile | img/s |", "|---|---:|---|---|---:|"]
        for r in c["rows"]:
            if "images_per_s" in r:
                md.append(f"| {r['pair']} | {r['batch']} | {r['bf16']} | {r['compile']} | {r['images_per_s']:,.0f} |")
            else:
                md.append(f"| {r['pair']} | {r['batch']} | reference loop | | {r['reference_images_per_s']:,.0f} "
                          f"(ganforge without bf16/compile: {r['speedup_vs_reference']:.2f}x as fast) |")
        md.append("")
    else:
        md += ["## CUDA", "", results.get("cuda_note", "No GPU was available to the run that wrote this page; "
               "`python benchmarks/throughput.py` on a CUDA machine adds batch 256 and 2048 with and without bf16 "
               "and torch.compile."), ""]
    md += (graphs_markdown(results["graphs"]) if "graphs" in results else
           ["## CUDA graphs", "", "Not measured yet: no GPU has been lent since `--cuda-graphs` landed; "
            "`bash scripts/gpu-check.sh` measures every recipe eager against graphed.", ""])
    if "recipes" in results:
        md += recipes_markdown(results["recipes"])
    if "streaming" in results:
        md += streaming_markdown(results["streaming"])
    return "\n".join(md) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=15, help="turns each variant takes (default 15)")
    p.add_argument("--turn-images", type=int, default=512, help="images per turn (default 512)")
    p.add_argument("--images", type=int, default=4096, help="images per CUDA measurement")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--cpu-only", action="store_true")
    p.add_argument("--cuda-only", action="store_true",
                   help="only the CUDA table, added to the last run's results (scripts/gpu-check.sh)")
    p.add_argument("--recipes", action="store_true",
                   help="only the recipes' cost table, added to the last run's results")
    p.add_argument("--streaming", action="store_true",
                   help="only the streamed-data table, added to the last run's results")
    p.add_argument("--graphs", action="store_true",
                   help="only the CUDA-graphs table (eager against --cuda-graphs), added to the last run's results")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as ``ganforge`` does at start; the reference's worker process goes without
    if args.recipes or args.cuda_only or args.streaming or args.graphs:
        results = json.loads((DOCS / "throughput.json").read_text())
        if args.graphs:
            def save_graphs(rows: list) -> None:
                results["graphs"] = {"card": torch.cuda.get_device_name(), "machine": machine(),
                                     "measured": time.strftime("%Y-%m-%d"), "rows": rows}
                write("throughput", results, markdown(results))

            graphs_table(args, save_graphs)
        if args.recipes:
            results["recipes"] = {"rounds": args.rounds, "machine": machine(), "rows": recipe_table(args)}
        if args.streaming:
            results["streaming"] = {"rounds": args.rounds, "machine": machine(), "rows": streaming_table(args)}
        if args.cuda_only:
            def save(table: dict) -> None:
                results["cuda"] = {**table, "machine": machine(), "measured": time.strftime("%Y-%m-%d")}
                write("throughput", results, markdown(results))

            with tempfile.TemporaryDirectory() as tmp:
                args.root = mnist_folder(Path(tmp))
                cuda_table(args, torch.device("cuda"), save)
        write("throughput", results, markdown(results))
        return
    with tempfile.TemporaryDirectory() as tmp:
        args.root = mnist_folder(Path(tmp))
        results = {"machine": machine(), "rounds": args.rounds, "turn_images": args.turn_images, "cpu": cpu_table(args, torch.device("cpu"), args.root)}
        if torch.cuda.is_available() and not args.cpu_only:
            results["cuda"] = cuda_table(args, torch.device("cuda"))
    write("throughput", results, markdown(results))


if __name__ == "__main__":
    main()
