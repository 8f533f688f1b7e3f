"""The report's comparisons as numbers, at CPU scale.

    python benchmarks/quality.py --section recipes|calibration|unrolling|losses|unroll|stacked|ae|time [options]
    python benchmarks/quality.py --table          # rewrite quality.md from quality.json

Each section trains with ganforge's own loop and step (``training.loop.iterate``) on one CPU thread and adds its
results to docs/benchmarks/quality.json; the Markdown table is rebuilt from the whole JSON
each time, so sections can run one after another or side by side.

- recipes: ``ganforge train`` command lines stopped by staged ``--time-limit`` budgets and evaluated.
- calibration: each shipped evaluator's metrics for real, blurred, pixel-shuffled and noise images.
- unrolling: k = 0 against k = 5 through ``ganforge train``, at equal iterations, report's method and recipe.
- losses: the three losses of the report on MNIST, M1/M3, k=4, the same number of iterations.
- unroll: k in {0, 2, 5}, restore and differentiable, on ring and grid, over several seeds.
- stacked: Stacked MNIST, k=0 against k=5, each within the same CPU budget.
- ae: the autoencoder with and without moment matching, as generators (from ae.json).
- time: time to quality. Recipes trained for a CPU budget and evaluated at 2, 5 and 10
  CPU-minutes: the report's recipe, ganforge's main job, and PyTorch-GAN's plain
  fully-connected GAN (reimplemented below: BatchNorm G, Sigmoid + BCE, Adam 2e-4, batch 64).

Budgets are process CPU time of the training steps (evaluation excluded), with torch limited to
one thread, so a CPU-minute is a minute of one core whatever else the machine is doing.
"""
from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCS, machine, table, training_run  # noqa: E402

from ganforge.data import DataOptions, load_dataset  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402
from ganforge.evaluation.classifier import load_evaluator, weights_dir  # noqa: E402
from ganforge.evaluation.metrics import evaluate_images, image_metrics, real_features  # noqa: E402
from ganforge.evaluation.modes import STACKED_SAMPLES, TOY_SAMPLES, mode_histogram_metrics, stacked_modes, \
    toy_metrics  # noqa: E402
from ganforge.loading import open_generator  # noqa: E402
from ganforge.pipelines import evaluate  # noqa: E402
from ganforge.latent.sampling import sample  # noqa: E402
from ganforge.training import TrainConfig  # noqa: E402
from ganforge.training.batches import epoch_order  # noqa: E402
from ganforge.training.loop import Run, iterate  # noqa: E402

JSON = DOCS / "quality.json"
COVERED_SHARE = 0.02  # a class counts as covered when at least 2 % of samples (a fifth of its fair share) show it

# The literature's figures, as published (modes covered, high-quality share or KL).
LITERATURE = {
    "ring": [("VEEGAN (Srivastava et al. 2017)", "8", "52.9 %"), ("PacGAN4 (Lin et al. 2018)", "7.8", "95.9 %")],
    "grid": [("PacGAN4 (Lin et al. 2018)", "24.8", "93.6 %")],
    "stacked": [("unrolled GAN, k=10 (Metz et al. 2017)", "817", "1.43"), ("PacDCGAN2 (Lin et al. 2018)", "1000",
                                                                            "0.06"),
                ("R3GAN's loss on a small net, RpGAN + R1 + R2 (Huang et al. 2024, Table 2)", "1000", "0.0781"),
                ("R3GAN, Config E (Huang et al. 2024, the Stacked MNIST comparison)", "1000", "0.029")],
}
R3GAN_KL = 0.029  # the strongest published Stacked MNIST figure ganforge measures itself against


# --------------------------------------------------------------------------- training

class Budget:
    """Counts the process CPU time spent inside ``with budget:`` blocks."""

    def __init__(self) -> None:
        self.used = 0.0

    def __enter__(self):
        self._t = time.process_time()

    def __exit__(self, *exc):
        self.used += time.process_time() - self._t


def make_gan(dataset: str, g: str, d: str, *, batch: int, loss: str = "non_saturated", lr_g: float = 2e-4,
             lr_d: float = 2e-4, z_dim: Optional[int] = None, real_label: float = 1.0, seed: int = 0,
             unroll: int = 0, mode: str = "restore") -> Run:
    """The run ``ganforge train`` would make with these options (its own setup, writing no files)."""
    return training_run(TrainConfig(dataset=dataset, generator=g, discriminator=d, batch_size=batch, loss=loss,
                                    lr_g=lr_g, lr_d=lr_d, z_dim=z_dim, real_label=real_label, seed=seed,
                                    unroll_steps=unroll, unroll_mode=mode, device="cpu"))


def ema_of(G: nn.Module, decay: float) -> nn.Module:
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def run_gan(run: Run, *, iterations: Optional[int] = None, cpu_minutes: Optional[float] = None,
            milestones: tuple[float, ...] = (), ema: Optional[nn.Module] = None,
            on_milestone: Callable[[float, int], None] = lambda m, i: None) -> dict:
    """Train with the user's loop until ``iterations`` or ``cpu_minutes`` (CPU time of the loop alone); call
    ``on_milestone`` as each milestone (CPU-minutes) passes. Returns iterations and CPU seconds used."""
    budget, pending = Budget(), sorted(milestones)
    limit = cpu_minutes * 60 if cpu_minutes else math.inf
    steps = iterate(run)
    while True:
        with budget:
            it = next(steps).iteration
            if ema is not None:
                ema.update_parameters(run.task.G)
        while pending and budget.used >= pending[0] * 60:
            on_milestone(pending.pop(0), it)
        if (iterations and it >= iterations) or budget.used >= limit:
            return {"iterations": it, "cpu_seconds": round(budget.used, 1)}


class PlainGenerator(nn.Module):
    """PyTorch-GAN's gan.py generator recipe: FC layers with BatchNorm (eps 0.8), LeakyReLU, Tanh."""

    def __init__(self, z_dim: int = 100, shape=(1, 28, 28)):
        super().__init__()
        self.shape, self.z_dim = shape, z_dim

        def block(n_in: int, n_out: int, norm: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
            if norm:
                layers.append(nn.BatchNorm1d(n_out, 0.8))
            return layers + [nn.LeakyReLU(0.2, inplace=True)]

        self.net = nn.Sequential(*block(z_dim, 128, norm=False), *block(128, 256), *block(256, 512),
                                 *block(512, 1024), nn.Linear(1024, math.prod(shape)), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(len(z), *self.shape)


class PlainDiscriminator(nn.Module):
    def __init__(self, shape=(1, 28, 28)):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 512), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Linear(512, 256), nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1),
                                 nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def run_plain_gan(x: Tensor, *, cpu_minutes: float, milestones: tuple[float, ...], seed: int,
                  on_milestone: Callable[[nn.Module, float, int], None]) -> dict:
    """The peer recipe's own loop: G step on BCE(D(G(z)), 1), then D step on the mean of the real and
    fake BCE terms; batch 64, Adam(2e-4, betas 0.5/0.999), data shuffled each epoch."""
    torch.manual_seed(seed)
    G, D = PlainGenerator(), PlainDiscriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce, batch = nn.BCELoss(), 64
    budget, it, epoch, pending = Budget(), 0, 0, sorted(milestones)
    while True:
        order = epoch_order(len(x), seed, epoch)
        for b in range(len(x) // batch):
            with budget:
                real = x[order[b * batch:(b + 1) * batch]]
                valid, fake_t = torch.ones(batch, 1), torch.zeros(batch, 1)
                opt_g.zero_grad()
                gen = G(torch.randn(batch, G.z_dim))
                bce(D(gen), valid).backward()
                opt_g.step()
                opt_d.zero_grad()
                ((bce(D(real), valid) + bce(D(gen.detach()), fake_t)) / 2).backward()
                opt_d.step()
            it += 1
            while pending and budget.used >= pending[0] * 60:
                on_milestone(G, pending.pop(0), it)
            if budget.used >= cpu_minutes * 60:
                return {"iterations": it, "cpu_seconds": round(budget.used, 1), "z_dim": G.z_dim}
        epoch += 1


# --------------------------------------------------------------------------- evaluation

class MnistJudge:
    """FID, classifier score and class coverage of 10,000 samples against the 2,000 test digits."""

    def __init__(self) -> None:
        self.net, meta = load_evaluator("mnist")
        self.real = real_features(self.net, load_dataset("mnist").test, meta["sha256"])

    def __call__(self, G: nn.Module, z_dim: int, n: int = 10_000) -> dict:
        was_training = G.training
        images, _ = sample(G, n, z_dim, seed=1234)
        G.train(was_training)
        q = image_metrics(self.real, evaluate_images(self.net, images))
        hist = q["class_histogram"]
        return {"fid": round(q["lenet_fid"], 2), "classifier_score": round(q["classifier_score"], 3),
                "classifier_score_real": round(q["classifier_score_real"], 3),
                "class_kl_to_uniform": round(q["class_kl_to_uniform"], 4),
                "classes_covered": sum(h >= COVERED_SHARE for h in hist), "class_histogram": hist,
                "precision": round(q["precision"], 3), "recall": round(q["recall"], 3)}


def toy_quality(G: nn.Module, z_dim: int, data) -> dict:
    points, _ = sample(G, TOY_SAMPLES, z_dim, seed=1234)
    G.train()
    m = toy_metrics(points, data.extras["centres"], data.extras["std"])
    return {k: m[k] for k in ("modes_covered", "modes_total", "high_quality_share", "reverse_kl")}


def stacked_quality(G: nn.Module, z_dim: int, net: nn.Module) -> dict:
    images, _ = sample(G, STACKED_SAMPLES, z_dim, seed=1234)
    G.train()
    m = mode_histogram_metrics(stacked_modes(net, images), 1000)
    return {k: m[k] for k in ("modes_covered", "kl_to_uniform", "samples")}


# --------------------------------------------------------------------------- sections

def section_losses(args) -> dict:
    judge, out = MnistJudge(), {}
    for loss in ("cross_entropy", "non_saturated", "mse"):
        run = make_gan("mnist", "M1", "M3", batch=24, loss=loss, z_dim=50, seed=args.seed, unroll=4)
        info = run_gan(run, iterations=args.iterations)
        out[loss] = {**info, **judge(run.task.G, run.cfg.z_dim)}
        print(loss, out[loss], flush=True)
    return {"recipe": f"M1/M3, batch 24, k=4 restore, z=50, lr 2e-4, {args.iterations} iterations, seed {args.seed}",
            "runs": out}


UNROLL_CONFIGS = ((0, "restore"), (2, "restore"), (5, "restore"), (2, "differentiable"), (5, "differentiable"))


def section_unroll(args) -> dict:
    out = {}
    for dataset in args.toys:
        for k, mode in UNROLL_CONFIGS:
            name = f"{dataset} k={k}" + (f" {mode}" if k else "")
            seeds = []
            for seed in range(args.seeds):
                run = make_gan(dataset, "toy-g", "toy-d", batch=512, lr_g=args.toy_lr, lr_d=args.toy_lr, seed=seed,
                               unroll=k, mode=mode)
                info = run_gan(run, iterations=args.toy_iterations)
                seeds.append({**info, **toy_quality(run.task.G, run.cfg.z_dim, run.setting.data)})
            out[name] = {"dataset": dataset, "k": k, "mode": mode if k else None, "seeds": seeds}
            print(name, [(s["modes_covered"], round(s["high_quality_share"], 3)) for s in seeds], flush=True)
    return {"recipe": f"toy-g/toy-d, batch 512, Adam lr {args.toy_lr}, {args.toy_iterations} iterations, "
                      f"seeds 0-{args.seeds - 1}", "runs": out}


def section_stacked(args) -> dict:
    net, _ = load_evaluator("mnist")
    out = {}
    for k in (0, 5):
        run = make_gan("stacked-mnist", "M4", "M5", batch=64, seed=args.seed, unroll=k)
        info = run_gan(run, cpu_minutes=args.stacked_minutes)
        out[f"k={k}"] = {**info, **stacked_quality(run.task.G, run.cfg.z_dim, net)}
        print(k, out[f"k={k}"], flush=True)
    return {"recipe": f"M4/M5 (3 channels), batch 64, lr 2e-4, {args.stacked_minutes} CPU-minutes each, "
                      f"seed {args.seed}", "runs": out}


def section_ae(args) -> dict:
    ae = json.loads((DOCS / "ae.json").read_text())
    return {"recipe": f"from ae.json (python benchmarks/ae.py --epochs {ae['epochs']})", "runs": ae["runs"]}


# the time section's in-process runs: name -> (description, G, D, batch, unroll, z)
TIMED_RUNS = {
    "report": ("the report's best: M1/M3, non-saturated, k=4 restore, batch 24, z=50", "M1", "M3", 24, 4, 50),
    "dcgan": ("DCGAN pair M4/M5, non-saturated, k=0, batch 64, z=50", "M4", "M5", 64, 0, 50),
}


def section_time(args) -> dict:
    judge, out = MnistJudge(), {}
    milestones = tuple(args.milestones)
    x = load_dataset("mnist").train
    for name in args.runs:
        if name == "pytorch-gan":
            def at(G, minute, it, _name=name):
                out.setdefault(_name, {"about": "PyTorch-GAN's gan.py recipe: FC G with BatchNorm, Sigmoid + BCE, "
                                                "Adam 2e-4, batch 64, z=100", "at": {}})
                out[_name]["at"][str(minute)] = {"iterations": it, **judge(G, G.z_dim)}
                print(_name, minute, out[_name]["at"][str(minute)], flush=True)
            run_plain_gan(x, cpu_minutes=max(milestones), milestones=milestones, seed=args.seed, on_milestone=at)
            continue
        about, g, d, batch, k, z = TIMED_RUNS[name]
        run = make_gan("mnist", g, d, batch=batch, z_dim=z, seed=args.seed, unroll=k)
        ema = ema_of(run.task.G, args.ema) if args.ema else None
        out[name] = {"about": about, "at": {}}
        if ema is not None:
            out[name + "+ema"] = {"about": f"{about}, sampled from an EMA of G's weights (decay {args.ema})", "at": {}}

        def at(minute, it, _name=name, _run=run, _ema=ema):
            out[_name]["at"][str(minute)] = {"iterations": it, **judge(_run.task.G, _run.cfg.z_dim)}
            print(_name, minute, out[_name]["at"][str(minute)], flush=True)
            if _ema is not None:
                out[_name + "+ema"]["at"][str(minute)] = {"iterations": it, **judge(_ema.module, _run.cfg.z_dim)}
                print(_name + "+ema", minute, out[_name + "+ema"]["at"][str(minute)], flush=True)

        run_gan(run, cpu_minutes=max(milestones), milestones=milestones, ema=ema, on_milestone=at)
    return {"milestones": list(milestones), "seed": args.seed, "runs": out}


SCREENS = tomllib.loads((Path(__file__).with_name("screens.toml")).read_text())
COMMANDS = SCREENS["recipes"]  # name -> dataset, flags (after `ganforge train`), about
UNROLL_COMMANDS = SCREENS["unrolling"]  # name -> dataset, flags, epochs: k = 0 against k > 0 at equal iterations


def _evaluated(folder: Path, label: str, judged_as: Optional[dict] = None) -> dict:
    """``ganforge evaluate``'s function on a run's generator, with the run's iteration count. ``judged_as``
    ({"dataset", "data_root"}) evaluates it as a generator of that dataset (a run on the same images read
    another way, measured in that dataset's evaluator's features against its test split)."""
    gen = open_generator(folder)
    if judged_as:
        gen = dataclasses.replace(gen, dataset=judged_as["dataset"])
    record = evaluate(gen, folder / f"evaluation-{label}", data_root=(judged_as or {}).get("data_root"))
    summary = json.loads((folder / "summary.json").read_text())
    row = {k: v for k, v in record["results"][0].items() if k not in ("class_histogram", "counts")}
    return {"iterations": summary["iterations"], "seconds": summary["seconds"], **row}


def emoji_pngs(work: Path, data_root: str = "../shared/data") -> Path:
    """The emoji set as a folder of its RGBA PNGs, as a user holding the pictures would have them."""
    folder = work / "emoji-pngs"
    if not folder.is_dir():
        from PIL import Image

        from ganforge.data.folder import emoji_arrays
        _, arrays = emoji_arrays(Path(data_root))
        folder.mkdir(parents=True)
        for i, image in enumerate(arrays["images"]):
            Image.fromarray(image, "RGBA").save(folder / f"{i:04d}.png")
    return folder


def staged(name: str, line: dict, stages: list[float], seed: int, work: Path) -> dict:
    """``ganforge train FLAGS`` in a process of its own with default threads, stopped by --time-limit after
    each cumulative budget in ``stages`` (minutes) and resumed, its generator evaluated at each stop; in a
    kept folder, stages measured before are read back, so a longer budget continues the run.
    ``{emoji_pngs}`` in the flags names the emoji set as a folder of PNGs."""
    flags = line["flags"].replace("{emoji_pngs}", str(emoji_pngs(work)) if "{emoji_pngs}" in line["flags"] else "")
    flags = flags.split()
    folder = work / f"{name.replace(' ', '-')}-seed{seed}"
    done, at = 0.0, {}
    for minutes in stages:
        kept = folder / f"stage-{minutes:g}.json"  # a --keep folder's stages are not run again: longer ones resume
        if kept.is_file():
            at[f"{minutes:g}"], done = json.loads(kept.read_text()), minutes
            continue
        argv = (["train", *flags, "--seed", str(seed), "-o", str(folder)] if not done
                else ["train", "--resume", str(folder)])
        subprocess.run([sys.executable, "-m", "ganforge", *argv, "--time-limit", f"{minutes - done:g}", "-q"],
                       check=True, stderr=subprocess.DEVNULL)
        done = minutes
        at[f"{minutes:g}"] = _evaluated(folder, f"{minutes:g}", line.get("judged_as"))
        kept.write_text(json.dumps(at[f"{minutes:g}"]))
        print(name, seed, minutes, {k: at[f"{minutes:g}"][k] for k in ("iterations", "lenet_fid", "precision",
                                                                       "recall") if k in at[f"{minutes:g}"]},
              flush=True)
    return {"command": f"ganforge train {line['flags']} --seed {seed} --time-limit {stages[-1]:g}", "at": at}


def section_recipes(args) -> dict:
    """Time to quality of the recipes and the report's recipe, through the command users run."""
    for dataset in {COMMANDS[name]["dataset"] for name in args.commands} & {"fashion"}:  # an apt package
        try:
            load_dataset(dataset)
        except GanforgeError as exc:  # says how to get it
            sys.exit(f"quality.py: {exc}")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        for name in args.commands:
            line = COMMANDS[name]
            seeds = range(args.seed_from, args.seed_from + args.seeds)
            out[name] = {"about": line["about"], "dataset": line["dataset"],
                         "seeds": [staged(name, line, args.stages, seed, work) for seed in seeds]}
    return {"stages": args.stages, "runs": out}


def section_unrolling(args) -> dict:
    """The report's claim that unrolling helps, through the command: each method's command with -k 0 and
    with -k K for the same epochs (so the same iterations), evaluated by ``ganforge evaluate``'s function."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.unroll_commands:
            dataset, flags, epochs = (UNROLL_COMMANDS[name][key] for key in ("dataset", "flags", "epochs"))
            flags = flags.split()
            for k in args.unroll_k:
                runs = []
                for seed in range(args.seeds):
                    argv = [*flags, "-k", str(k), "-e", str(epochs), "--seed", str(seed)]
                    folder = Path(tmp) / f"{name.replace(' ', '-')}-k{k}-seed{seed}"
                    subprocess.run([sys.executable, "-m", "ganforge", "train", *argv, "-o", str(folder), "-q"],
                                   check=True, stderr=subprocess.DEVNULL)
                    runs.append({"command": "ganforge train " + " ".join(argv), **_evaluated(folder, "end")})
                    print(name, k, seed, {x: runs[-1][x] for x in list(runs[-1])[1:6]}, flush=True)
                out[f"{name} k={k}"] = {"dataset": dataset, "method": name.split()[-1], "k": k, "seeds": runs}
    return {"runs": out}


def calibration_images(x: Tensor, seed: int = 0) -> dict[str, Tensor]:
    """What an evaluator's numbers are read against: real training images (the best a generator can do
    against the test split), the same blurred, the same with each image's pixels shuffled, and noise."""
    from torchvision.transforms.functional import gaussian_blur
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = x.shape
    shuffle = torch.argsort(torch.rand(n, h * w, generator=g), dim=1)
    shuffled = x.flatten(2).gather(2, shuffle[:, None].expand(n, c, h * w)).view_as(x)
    return {"training images": x, "training images, blurred (Gaussian, sigma 1.5 px)": gaussian_blur(x, [7, 7], [1.5]),
            "training images, each one's pixels shuffled": shuffled,
            "uniform noise": torch.rand(x.shape, generator=g) * 2 - 1}


def section_calibration(args) -> dict:
    """Each shipped evaluator's metrics for images of known quality, against its test split."""
    out = {}
    for dataset in args.evaluators:
        data = load_dataset(dataset, DataOptions(root=Path(args.emoji_root) if dataset == "emoji" else None))
        net, meta = load_evaluator(dataset)
        real = real_features(net, data.test, meta["sha256"])
        rows = {}
        for what, images in calibration_images(data.train[:10_000], args.seed).items():
            m = image_metrics(real, evaluate_images(net, images))
            rows[what] = {k: v for k, v in m.items() if k != "class_histogram"}
            print(dataset, what, {k: rows[what][k] for k in ("lenet_fid", "precision", "recall")}, flush=True)
        out[dataset] = {"test_images": len(data.test), "rows": rows}
    return {"runs": out}


def calibration_markdown(r: dict) -> list[str]:
    md = ["## What the evaluators' numbers mean", "",
          "`python benchmarks/quality.py --section calibration`: each shipped evaluator's metrics for images of "
          "known quality against its test split, the same way a generator's samples are measured. The training "
          "images row is the best a generator can reach; noise and shuffled pixels are what no learning at all "
          "gives.", ""]
    for dataset, d in r["runs"].items():
        md += [f"### {dataset} ({d['test_images']:,} test images)", "",
               "| images | FID | precision | recall | class KL to data |", "|---|---:|---:|---:|---:|"]
        md += [f"| {what} | {m['lenet_fid']:.1f} | {m['precision']:.3f} | {m['recall']:.3f} | "
               f"{m['class_kl_to_data']:.3f} |" for what, m in d["rows"].items()] + [""]
    return md


SECTIONS = {"calibration": section_calibration,
            "losses": section_losses, "unroll": section_unroll, "stacked": section_stacked, "ae": section_ae,
            "time": section_time, "recipes": section_recipes, "unrolling": section_unrolling}


# --------------------------------------------------------------------------- output

def merge(section: str, result: dict) -> dict:
    """Add one section's result to quality.json under a lock (sections may finish side by side)."""
    DOCS.mkdir(parents=True, exist_ok=True)
    with open(DOCS / ".quality.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        everything = json.loads(JSON.read_text()) if JSON.exists() else {}
        if section in everything:  # a section's runs may be measured in separate calls
            old = everything[section].get("runs", {})
            for name, run in result["runs"].items():  # more seeds of a command join those measured before
                if "seeds" in run and name in old:
                    mine = {s.get("command") for s in run["seeds"]}
                    kept = [s for s in old[name].get("seeds", []) if s.get("command") not in mine]
                    run["seeds"] = kept + run["seeds"]
            result["runs"] = {**old, **result["runs"]}
        everything[section] = {**result, "machine": machine(), "measured": time.strftime("%Y-%m-%d")}
        tmp = JSON.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(everything, indent=2) + "\n")
        tmp.replace(JSON)
    return everything


GOALS = {"mnist": "FID <= 25, score >= 9.0, class KL <= 0.03, precision and recall >= 0.7 at 10 minutes",
         "fashion": "FID <= 25, precision >= 0.7, recall >= 0.6, class KL <= 0.02 at 10 minutes, in the "
                    "Fashion-MNIST evaluator's features",
         "stacked-mnist": "1,000 / 1,000 modes and KL to uniform <= 0.06 over 26,000 samples at 30 minutes",
         "ring": "8/8 modes on 10 of 10 seeds, >= 96 % high quality, at 5 minutes",
         "grid": ">= 24.8/25 modes over 5 seeds, >= 94 % high quality, at 10 minutes",
         "emoji": "at 10 minutes an FID at most a tenth of the CelebA path's on the same pictures; at 30 minutes "
                  "precision >= 0.7, recall >= 0.5, category KL to the data's <= 0.05; conditional: the category "
                  "asked for drawn at least 90 % as often as the evaluator recognises real pictures of it"}


# The goals above as bounds at 10 minutes: FID and class KL at most, the others at least.
IMAGE_GOALS = {"mnist": dict(lenet_fid=25, classifier_score=9, class_kl_to_uniform=0.03, precision=0.7, recall=0.7),
               "fashion": dict(lenet_fid=25, class_kl_to_uniform=0.02, precision=0.7, recall=0.6)}


def recipes_markdown(r: dict) -> list[str]:
    md = ["## Recipes: time to quality through `ganforge train --time-limit`", "",
          "`python benchmarks/quality.py --section recipes`: each command runs in a process of its own with "
          "torch's default threads on this 2-core machine, stopped by `--time-limit` after each cumulative budget "
          "in the minutes column and resumed; its generator (the EMA weights where the run keeps them) is "
          "evaluated by `ganforge evaluate`'s function at each stop.", ""]
    for dataset in dict.fromkeys(run["dataset"] for run in r["runs"].values()):
        runs = {name: run for name, run in r["runs"].items() if run["dataset"] == dataset}
        runs = dict(sorted(runs.items(), key=lambda item: item[0] != f"{dataset} recipe"))  # the recipe first
        md += [f"### {dataset}", "", f"Goal: {GOALS.get(dataset, 'reported')}.", ""]
        rows = (_toy_rows if dataset in ("ring", "grid") else _stacked_rows if dataset == "stacked-mnist"
                else _colour_rows if dataset == "emoji" else _image_rows)
        md += rows(dataset, runs, runs.get(f"{dataset} recipe"))
        md.append("")
    return md


def last(seed: dict) -> dict:
    """A seed's record at its longest budget."""
    return seed["at"][list(seed["at"])[-1]]


def _toy_rows(dataset: str, runs: dict, recipe: dict | None) -> list[str]:
    md = ["Modes are counted as VEEGAN and PacGAN count them (a mode with at least one of 2,500 samples "
          "within 3 standard deviations); in brackets, ganforge's stricter count (at least 20 of them).", "",
          "| command | minutes | iterations (seed 0) | modes (mean, min over seeds) [at least 20 samples] | "
          "high quality (mean, min) | seeds |", "|---|---:|---:|---:|---:|---:|"]
    for run in runs.values():
        for minutes in run["seeds"][0]["at"]:
            rows = [s["at"][minutes] for s in run["seeds"]]
            modes, hq = [x["modes_with_any_sample"] for x in rows], [x["high_quality_share"] for x in rows]
            strict = statistics.mean(x["modes_covered"] for x in rows)
            md.append(f"| `{run['seeds'][0]['command'].replace(' --seed 0', '')}` | {minutes} | "
                      f"{rows[0]['iterations']:,} | {statistics.mean(modes):.2f} / {rows[0]['modes_total']}, "
                      f"{min(modes)} [{strict:.2f}] | {100 * statistics.mean(hq):.1f} %, "
                      f"{100 * min(hq):.1f} % | {len(rows)} |")
    for who, modes, hq in LITERATURE[dataset]:
        md.append(f"| {who}, published | | | {modes} | {hq} | |")
    if recipe:
        rows = [last(seed) for seed in recipe["seeds"]]
        hq = statistics.mean(x["high_quality_share"] for x in rows)
        full = min(x["modes_with_any_sample"] for x in rows) == rows[0]["modes_total"]
        met = full and hq >= (0.96 if dataset == "ring" else 0.94) and len(rows) >= 5
        md += ["", f"Goal {'met' if met else 'not met'}: {len(rows)} seeds, all modes on "
               f"{sum(x['modes_with_any_sample'] == x['modes_total'] for x in rows)}, {100 * hq:.1f} % high "
               "quality on average."]
    return md


def _stacked_rows(dataset: str, runs: dict, recipe: dict | None) -> list[str]:
    md = ["Each of the three channels classified by the MNIST evaluator; a mode (one of 1,000 digit triples) is "
          "covered when at least one of 26,000 samples shows it, as PacGAN and the unrolled-GAN paper count.", "",
          "| command | minutes | iterations | modes covered | KL to uniform |", "|---|---:|---:|---:|---:|"]
    for seed in (seed for run in runs.values() for seed in run["seeds"]):
        for minutes, m in seed["at"].items():
            md.append(f"| `{seed['command']}` | {minutes} | {m['iterations']:,} | "
                      f"{m['modes_covered']} / {m['modes_total']} | {m['kl_to_uniform']:.3f} |")
    for who, modes, kl in LITERATURE["stacked"]:
        md.append(f"| {who}, published | | | {modes} | {kl} |")
    floor, data = uniform_sampler(), stacked_data_floor()
    md.append(f"| a perfect uniform sampler, 26,000 samples (mean of 100 draws) | | | "
              f"{floor['modes_covered']:.1f} / 1000 | {floor['kl_to_uniform']:.3f} |")
    md.append(f"| the training data itself: 26,000 triples of MNIST training digits read by the evaluator (mean of "
              f"{data['draws']} draws) | | | "
              f"{data['modes_covered']:.1f} / 1000 | {data['kl_to_uniform']:.3f} |")
    if recipe:
        ends = [last(seed) for seed in recipe["seeds"]]
        met = all(m["modes_covered"] == m["modes_total"] and m["kl_to_uniform"] <= 0.06 for m in ends)
        past = all(m["modes_covered"] == m["modes_total"] and m["kl_to_uniform"] <= R3GAN_KL for m in ends)
        md += ["", f"Goal {'met' if met else 'not met'} by the recipe ({len(ends)} seed{'s' * (len(ends) > 1)}): "
               + "; ".join(f"{m['modes_covered']} / {m['modes_total']} modes, KL {m['kl_to_uniform']:.3f}"
                           for m in ends) + ".",
               "", f"R3GAN's figure (KL {R3GAN_KL}) {'reached' if past else 'not reached'} by the recipe at 30 "
               f"minutes; a G that drew exactly the training data would measure {data['kl_to_uniform']:.3f} here "
               f"(26,000 samples of a slightly uneven digit mix, as the evaluator reads them), so the recipe's "
               "excess over it is " + ", ".join(f"{m['kl_to_uniform'] - data['kl_to_uniform']:.3f}" for m in ends)
               + f"; R3GAN's {R3GAN_KL} lies {R3GAN_KL - data['kl_to_uniform']:.3f} above it (its data, full MNIST, "
               "has about the same mix)."]
    return md


def _seed_rows(runs: dict, cells: Callable[[dict], list[str]]) -> list[str]:
    """A table row per seed and budget of ``runs``: the command, minutes, iterations, then ``cells(metrics)``."""
    return [f"| `{seed['command']}` | {minutes} | {m['iterations']:,} | " + " | ".join(cells(m)) + " |"
            for run in runs.values() for seed in run["seeds"] for minutes, m in seed["at"].items()]


def _density_coverage(m: dict) -> list[str]:
    """Naeem et al.'s density and coverage, blank in rows measured before evaluate reported them."""
    return [f"{m[k]:.3f}" if k in m else "" for k in ("density", "coverage")]


def _accuracy(m: dict) -> str:
    return f"{100 * m['conditional_accuracy']:.1f} %" if "conditional_accuracy" in m else ""


def _image_rows(dataset: str, runs: dict, recipe: dict | None) -> list[str]:
    md = ["| command | minutes | iterations | FID (LeNet features) | classifier score | class KL to uniform "
          "| precision | recall | density | coverage | conditional accuracy |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    md += _seed_rows(runs, lambda m: [f"{m['lenet_fid']:.1f}", f"{m['classifier_score']:.2f}",
                                      f"{m['class_kl_to_uniform']:.3f}", f"{m['precision']:.3f}",
                                      f"{m['recall']:.3f}", *_density_coverage(m), _accuracy(m)])
    first = next(iter(runs.values()))["seeds"][0]["at"]
    real = first[next(iter(first))]["classifier_score_real"]
    evaluator = json.loads((weights_dir() / "evaluators.json").read_text())["evaluators"][dataset]
    md.append(f"| the real test images (the evaluator's ceiling) | | | 0 | {real:.2f} | | | | | "
              f"| {100 * evaluator['test_accuracy']:.1f} % (its test accuracy) |")
    if recipe and dataset in IMAGE_GOALS:
        bounds = IMAGE_GOALS[dataset]
        for seed in recipe["seeds"]:
            m = seed["at"].get("10")
            if m:
                met = all(m[k] <= v if k in ("lenet_fid", "class_kl_to_uniform") else m[k] >= v
                          for k, v in bounds.items())
                md += ["", f"Goal {'met' if met else 'not met'} by `{seed['command']}` at 10 minutes: FID "
                       f"{m['lenet_fid']:.1f}, score {m['classifier_score']:.2f}, class KL "
                       f"{m['class_kl_to_uniform']:.3f}, precision {m['precision']:.3f}, recall {m['recall']:.3f}."]
    ablated = {name: run for name, run in runs.items() if run["about"].startswith("ablation")}
    if recipe and ablated:
        stages = [run["seeds"][0]["at"] for run in ablated.values()]
        minutes = max(set(recipe["seeds"][0]["at"]).intersection(*stages), key=float,
                      default=list(recipe["seeds"][0]["at"])[-1])  # the longest budget all ran for
        md += ["", f"Ablation: the recipe with one part taken out, at {minutes} minutes.", "",
               "| what | command | minutes | FID | score | class KL | precision | recall |",
               "|---|---|---:|---:|---:|---:|---:|---:|"]
        for run in (recipe, *ablated.values()):
            a = run["seeds"][0]["at"].get(minutes)
            if a:
                what = "the recipe" if run is recipe else run["about"].split(": ", 1)[-1].split(" (")[0]
                md.append(f"| {what} | `{run['seeds'][0]['command']}` | {minutes} | {a['lenet_fid']:.1f} | "
                          f"{a['classifier_score']:.2f} | {a['class_kl_to_uniform']:.3f} | "
                          f"{a['precision']:.3f} | {a['recall']:.3f} |")
    conditional = runs.get(f"{dataset} conditional")
    if conditional and recipe:
        fid = statistics.mean(last(seed)["lenet_fid"] for seed in recipe["seeds"])
        cs = [last(seed) for seed in conditional["seeds"]]
        accuracy, c_fid = (statistics.mean(c[k] for c in cs) for k in ("conditional_accuracy", "lenet_fid"))
        met = accuracy >= 0.99 and c_fid <= fid
        per_class = [statistics.mean(values) for values in zip(*(c["per_class_fid"] for c in cs))]
        md += ["", f"Conditional goal (accuracy >= 99 %, FID no worse than the unconditional recipe's) "
               f"{'met' if met else 'not met'}, on average over {len(cs)} seed{'s' * (len(cs) > 1)} ("
               + ", ".join(f"{100 * c['conditional_accuracy']:.2f} %" for c in cs) + f"): {100 * accuracy:.2f} %, "
               f"FID {c_fid:.1f} against {fid:.1f}; per-class FID "
               + ", ".join(f"{k}: {v:.0f}" for k, v in enumerate(per_class)) + "."]
    return md


def _colour_rows(dataset: str, runs: dict, recipe: dict | None) -> list[str]:
    """Colour data with categories of unequal size: FID, precision and recall in the evaluator's features, the
    category mix against the data's, and a conditional run's accuracy against the evaluator's own."""
    md = ["| command | minutes | iterations | FID (evaluator features) | precision | recall | density | coverage "
          "| category KL to data | conditional accuracy |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    md += _seed_rows(runs, lambda m: [f"{m['lenet_fid']:.1f}", f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                                      *_density_coverage(m), f"{m['class_kl_to_data']:.3f}", _accuracy(m)])
    evaluator = json.loads((weights_dir() / "evaluators.json").read_text())["evaluators"][dataset]
    md.append(f"| the evaluator on real held-out pictures | | | | | | | | | {100 * evaluator['test_accuracy']:.1f} % |")
    if not recipe:
        return md
    at = recipe["seeds"][0]["at"]
    celeb = runs.get(f"{dataset} celeb path")
    if celeb and "10" in at and "10" in celeb["seeds"][0]["at"]:
        mine, theirs = at["10"]["lenet_fid"], celeb["seeds"][0]["at"]["10"]["lenet_fid"]
        md += ["", f"10-minute goal {'met' if mine <= theirs / 10 else 'not met'}: FID {mine:.1f} against the "
               f"CelebA path's {theirs:.1f} on the same pictures ({theirs / mine:.1f} times lower)."]
    if "30" in at:
        lines = []
        for seed in recipe["seeds"]:
            m = seed["at"].get("30")
            if m:
                met = m["precision"] >= 0.7 and m["recall"] >= 0.5 and m["class_kl_to_data"] <= 0.05
                lines.append(f"{'met' if met else 'not met'} by `{seed['command']}` (precision {m['precision']:.3f}, "
                             f"recall {m['recall']:.3f}, category KL {m['class_kl_to_data']:.3f})")
        md += ["", "30-minute goal " + "; ".join(lines) + "."]
    for name, conditional in runs.items():  # the goal is at 30 minutes, for samples that are also good pictures
        if not name.startswith(f"{dataset} conditional"):
            continue
        for seed in conditional["seeds"]:
            m = seed["at"].get("30")
            if not m:
                continue
            pairs = [(f, r) for f, r in zip(m["per_class_accuracy"], m["real_per_class_accuracy"]) if r is not None]
            fake, real = (statistics.mean(x) for x in zip(*pairs))  # each category counts once
            met = fake >= 0.9 * real and m["precision"] >= 0.7 and m["recall"] >= 0.5
            md += ["", f"Conditional goal {'met' if met else 'not met'} by `{seed['command']}`: averaged over the "
                   f"categories, the evaluator reads {100 * fake:.1f} % of the samples as the category asked for, "
                   f"{100 * fake / real:.0f} % of the {100 * real:.1f} % of real held-out pictures it reads right "
                   "(per category, samples against real: "
                   + ", ".join(f"{100 * f:.0f}/{100 * r:.0f}" for f, r in pairs)
                   + f"); precision {m['precision']:.3f}, recall {m['recall']:.3f} (the unconditional goal's "
                   "0.7 and 0.5 hold for it too: a G that draws one picture per category pleases the classifier)"
                   + (f"; counted over samples drawn as the data holds the categories (as this G draws them), "
                      f"{100 * m['conditional_accuracy']:.1f} % against the evaluator's "
                      f"{100 * evaluator['test_accuracy']:.1f} % on the held-out pictures"
                      if "--class-prior data" in seed["command"] else "") + "."]
    return md


def stacked_data_floor(draws: int = 100) -> dict:
    """What a G that draws exactly the Stacked MNIST training data measures on the shipped mode metrics:
    26,000 triples of MNIST training digits, drawn as the data is made (three independent digits), each digit
    read by the MNIST evaluator; the mean over ``draws`` seeded draws. Above the uniform sampler's floor by
    the digits' uneven mix (MNIST's ones outnumber its fives) and the evaluator's misreadings."""
    digits, (net, _) = load_dataset("mnist").train, load_evaluator("mnist")
    with torch.no_grad():
        read = torch.cat([net(chunk).argmax(1) for chunk in digits.split(1000)])  # (N,) each digit as read
    g = torch.Generator().manual_seed(0)
    runs = [mode_histogram_metrics((read[torch.randint(len(read), (STACKED_SAMPLES, 3), generator=g)]
                                    * torch.tensor([100, 10, 1])).sum(1), 1000) for _ in range(draws)]
    return {"draws": draws, "modes_covered": statistics.mean(r["modes_covered"] for r in runs),
            "kl_to_uniform": statistics.mean(r["kl_to_uniform"] for r in runs)}


def uniform_sampler(n_modes: int = 1000, samples: int = STACKED_SAMPLES, draws: int = 100) -> dict:
    """What a perfect sampler (every mode equally likely) scores on the shipped mode metrics: the floor
    the Stacked MNIST KL can reach with this many samples, the mean over ``draws`` seeded draws."""
    g = torch.Generator().manual_seed(0)
    runs = [mode_histogram_metrics(torch.randint(n_modes, (samples,), generator=g), n_modes) for _ in range(draws)]
    return {"modes_covered": statistics.mean(r["modes_covered"] for r in runs),
            "kl_to_uniform": statistics.mean(r["kl_to_uniform"] for r in runs)}


def unrolling_markdown(r: dict) -> list[str]:
    md = ["## Does unrolling help? k = 0 against k > 0 at equal iterations", "",
          "`python benchmarks/quality.py --section unrolling`: each command with `-k 0` and with `-k 5` (restore "
          "mode, the report's) for the same epochs at the same batch, so the same number of G steps; evaluated by "
          "`ganforge evaluate`'s function. The report's method is `--recipe none` (the report's defaults for the "
          "dataset's models); the recipe is the dataset's. Ring modes counted as VEEGAN/PacGAN count them. "
          "Seconds: the training run's wall time on one core (`taskset -c 0`, `OMP_NUM_THREADS=1`), so both k "
          "cost in the same units.", "",
          "| command | iterations | seeds | modes (mean, min) | high quality or KL to uniform (mean) | seconds |",
          "|---|---:|---:|---:|---:|---:|"]
    for name, run in r["runs"].items():
        s = run["seeds"]
        toy = run["dataset"] in ("ring", "grid")
        modes = [x["modes_with_any_sample" if toy else "modes_covered"] for x in s]
        second = (f"{100 * statistics.mean(x['high_quality_share'] for x in s):.1f} % high quality" if toy
                  else f"KL {statistics.mean(x['kl_to_uniform'] for x in s):.3f}")
        md.append(f"| `{s[0]['command'].replace(' --seed 0', '')}` | {s[0]['iterations']:,} | {len(s)} | "
                  f"{statistics.mean(modes):.1f} / {s[0]['modes_total']}, {min(modes)} | {second} | "
                  f"{statistics.mean(x['seconds'] for x in s):.0f} |")
    floor = uniform_sampler()
    return md + [f"| a perfect uniform sampler over Stacked MNIST's 1,000 modes, 26,000 samples (mean of 100 draws) | "
                 f"| | {floor['modes_covered']:.1f} / 1000 | KL {floor['kl_to_uniform']:.3f} | |", ""]


def _toy_seeds_row(name: str, seeds: list[dict]) -> str:
    """A row of the toys' unrolling table: modes and high-quality share over seeds (mean and least)."""
    modes = [x["modes_covered"] for x in seeds]
    hq = [x["high_quality_share"] for x in seeds]
    return (f"| {name} | {statistics.mean(modes):.1f} / {seeds[0]['modes_total']}, {min(modes)} | "
            f"{100 * statistics.mean(hq):.1f} %, {100 * min(hq):.1f} % | "
            f"{statistics.mean(x['reverse_kl'] for x in seeds):.3f} | "
            f"{statistics.mean(x['cpu_seconds'] for x in seeds):.0f} |")


def markdown(q: dict) -> str:
    md = ["# Quality benchmark", "",
          "`python benchmarks/quality.py --section NAME`. The sections after Recipes use one CPU thread per run "
          "and budgets in process CPU time of the training steps. Image metrics use the shipped evaluator of the "
          "dataset (a LeNet; Stacked MNIST's channels go through the MNIST one): FID of 10,000 samples against its "
          "test split (MNIST: the bundled sample's 2,000 test digits; Fashion-MNIST: the 10,000 test images), the "
          "classifier score (the real test images' score is printed as the ceiling), and classes covered (at "
          "least 2 % of samples). Every number below was measured by the "
          "command named with it; nothing is copied from elsewhere except the literature rows, marked as such.", ""]
    if "recipes" in q:
        md += recipes_markdown(q["recipes"])
    if "calibration" in q:
        md += calibration_markdown(q["calibration"])
    if "unrolling" in q:
        md += unrolling_markdown(q["unrolling"])
    if "time" in q:
        t = q["time"]
        md += ["## Time to quality (MNIST)", "",
               f"`python benchmarks/quality.py --section time`; evaluated after each of {t['milestones']} "
               "CPU-minutes of training.", "",
               "| recipe | CPU-minutes | iterations | FID | classifier score | classes covered | class KL to uniform |",
               "|---|---:|---:|---:|---:|---:|---:|"]
        for name, r in t["runs"].items():
            for minute, m in r["at"].items():
                md.append(f"| {name} | {minute} | {m['iterations']:,} | {m['fid']:.1f} | {m['classifier_score']:.2f} "
                          f"| {m['classes_covered']}/10 | {m['class_kl_to_uniform']:.3f} |")
        md += [""] + [f"- **{name}**: {r['about']}" for name, r in t["runs"].items()] + [""]
    if "losses" in q:
        r = q["losses"]
        rows = (f"| {loss} | {m['fid']:.1f} | {m['classifier_score']:.2f} | {m['classes_covered']}/10 | "
                f"{m['class_kl_to_uniform']:.3f} | {m['cpu_seconds']:.0f} |" for loss, m in r["runs"].items())
        md += ["## The three losses (MNIST)", "", f"`--section losses`: {r['recipe']}.", "", *table(
            "| loss | FID | classifier score | classes covered | class KL to uniform | CPU seconds |", rows)]
    if "unroll" in q:
        r = q["unroll"]
        md += ["## Unrolling on the 2-D toys", "", f"`--section unroll`: {r['recipe']}. 2,500 samples per run; "
               "high quality = within 3 standard deviations of the nearest mode; a mode is covered when at "
               "least 20 high-quality samples sit at it.", "",
               "| run | modes (mean, min over seeds) | high quality (mean, min) | reverse KL (mean) | CPU s per run |",
               "|---|---:|---:|---:|---:|"]
        md += [_toy_seeds_row(name, run["seeds"]) for name, run in r["runs"].items()]
        md += [f"| {ds}: {who}, published | {modes} | {hq} | | |" for ds in ("ring", "grid")
               for who, modes, hq in LITERATURE[ds]] + [""]
    if "stacked" in q:
        r = q["stacked"]
        md += ["## Stacked MNIST", "", f"`--section stacked`: {r['recipe']}; 26,000 samples, each channel "
               "classified by the MNIST evaluator.", "",
               "| run | modes covered of 1,000 | KL to uniform | iterations |", "|---|---:|---:|---:|"]
        for name, m in r["runs"].items():
            md.append(f"| {name} | {m['modes_covered']} | {m['kl_to_uniform']:.3f} | {m['iterations']:,} |")
        for who, modes, kl in LITERATURE["stacked"]:
            md.append(f"| {who}, published | {modes} | {kl} | |")
        floor = uniform_sampler()
        md.append(f"| a perfect uniform sampler, 26,000 samples (mean of 100 draws) | {floor['modes_covered']:.1f} | "
                  f"{floor['kl_to_uniform']:.3f} | |")
        md.append("")
    if "ae" in q:
        r = q["ae"]
        md += ["## Autoencoders as generators", "", f"{r['recipe']}: z ~ N(0, I) through the decoder.", ""]
        md += table("| latent regulariser | FID | classifier score | class KL to uniform | KS of z to N(0, 1) |",
                    [f"| {reg} | {m['fid']:.1f} | {m['classifier_score']:.2f} | {m['class_kl_to_uniform']:.3f} | "
                     f"{m['ks']:.4f} |" for reg, m in r["runs"].items()])
    md += ["What these numbers say, and what limits them, is in [quality-notes.md](quality-notes.md), by topic; "
           "[../recipes.md](../recipes.md) has each recipe in short.", ""]
    return "\n".join(md)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--section", choices=SECTIONS)
    p.add_argument("--table", action="store_true", help="only rebuild quality.md from quality.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--iterations", type=int, default=1000, help="losses: iterations per loss")
    p.add_argument("--seeds", type=int, default=5, help="unroll, recipes, unrolling: seeds per configuration")
    p.add_argument("--seed-from", type=int, default=0,
                   help="recipes: the first seed (more seeds of a command join those already in quality.json)")
    p.add_argument("--toys", nargs="+", default=["ring", "grid"], choices=["ring", "grid"])
    p.add_argument("--toy-iterations", type=int, default=2000)
    p.add_argument("--toy-lr", type=float, default=1e-3)
    p.add_argument("--stacked-minutes", type=float, default=10.0, help="stacked: CPU-minutes per run")
    p.add_argument("--milestones", type=float, nargs="+", default=[2.0, 5.0, 10.0], help="time: CPU-minutes")
    p.add_argument("--runs", nargs="+", default=["report", "dcgan", "pytorch-gan"],
                   choices=[*TIMED_RUNS, "pytorch-gan"], help="time: which runs")
    p.add_argument("--ema", type=float, default=0.999, help="time: also evaluate an EMA of G (0: off)")
    p.add_argument("--commands", nargs="+", default=["mnist recipe", "mnist report"], choices=list(COMMANDS),
                   help="recipes: which command lines")
    p.add_argument("--unroll-commands", nargs="+", default=list(UNROLL_COMMANDS), choices=list(UNROLL_COMMANDS),
                   help="unrolling: which command lines")
    p.add_argument("--unroll-k", type=int, nargs="+", default=[0, 5], help="unrolling: the -k values compared")
    p.add_argument("--stages", type=float, nargs="+", default=[2.0, 5.0, 10.0],
                   help="recipes: cumulative --time-limit budgets, minutes")
    p.add_argument("--keep", help="recipes: keep the run folders (sample grids, metrics) in this folder")
    p.add_argument("--evaluators", nargs="+", default=["mnist", "fashion", "emoji"], help="calibration: which")
    p.add_argument("--emoji-root", default="../shared/data", help="calibration: the folder holding the emoji set")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.section:
        everything = merge(args.section, SECTIONS[args.section](args))
    else:
        everything = json.loads(JSON.read_text()) if JSON.exists() else {}
    text = markdown(everything)
    (DOCS / "quality.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
