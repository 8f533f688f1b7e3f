"""``evaluate``: how good a generator's samples are, measured the way its dataset calls for.

Images (mnist, fashion, emoji): FID, KID, classifier score, class histogram, precision/recall and
density/coverage in the shipped evaluator's features, optionally at several truncations, and
Inception FID from a local weights file. Stacked MNIST: digit-triple modes over 26,000 samples. The 2-D toys: modes
covered, high-quality share, reverse KL. The result is an ``*-evaluation`` record.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance

from ..board import FOLDER as BOARD_FOLDER
from ..board import Board
from ..console import say
from ..data import DataOptions, load_dataset
from ..errors import GanforgeError
from ..evaluation.classifier import EVALUATOR_DATASETS, load_evaluator
from ..evaluation.coverage import FEATURE_SIDE, ndb, pixel_features
from ..evaluation.metrics import evaluate_images, fid, image_metrics, real_features
from ..evaluation.modes import STACKED_SAMPLES, TOY_SAMPLES, mode_histogram_metrics, stacked_breakdown, stacked_modes, \
    toy_metrics
from ..io import make_folder
from ..loading import OpenedGenerator
from ..models.conditional import classes_in_turn
from ..plots import scatter_plot, truncation_plot
from ..records import write_record
from ..latent.sampling import sample

METRICS_FILE = "metrics.json"


IMAGE_SAMPLES = 10_000
COVERAGE_SAMPLES = 2_000  # NDB's test has the power it needs at a few thousand samples


def evaluation_folder(generator: Path) -> Path:
    """Where ``ganforge evaluate`` writes when not told: the run folder's evaluation/, else runs/evaluation."""
    return generator / "evaluation" if generator.is_dir() else Path("runs") / "evaluation"


def evaluate(gen: OpenedGenerator, out: Path, *, n: Optional[int] = None,
             truncations: Sequence[Optional[float]] = (None,),
             seed: int = 0, evaluator: Optional[Path] = None, inception: Optional[Path] = None,
             data_root: Optional[str] = None) -> dict[str, Any]:
    """Measure ``gen`` on ``n`` samples (by default as the literature counts: 10,000 images, 26,000
    Stacked MNIST triples, 2,500 toy points) and write ``out``/metrics.json, with a truncation plot or
    a scatter plot where they apply; returns the record. A truncation of None or inf means plain
    N(0, I) latents; the mode evaluations take the first truncation only."""
    if gen.dataset is None:
        raise GanforgeError(f"{gen.source} does not say which dataset it models")
    psis = [None if t is None or math.isinf(t) else t for t in truncations]
    if gen.dataset in ("ring", "grid"):
        kind, record = "toy-evaluation", _toy(gen, out, n or TOY_SAMPLES, psis[0], seed)
    elif gen.dataset == "stacked-mnist":
        kind, record = "stacked-mnist-evaluation", _stacked(gen, n or STACKED_SAMPLES, psis[0], seed, evaluator)
    elif evaluator is None and gen.dataset not in EVALUATOR_DATASETS:  # no evaluator: how well it covers the data
        kind, record = "coverage-evaluation", _coverage(gen, n or COVERAGE_SAMPLES, psis, seed, data_root)
    else:
        kind, record = "image-evaluation", _images(gen, out, n or IMAGE_SAMPLES, psis, seed, evaluator, inception,
                                                   data_root)
    record = {"generator": gen.source, "weights": gen.meta.get("weights", "raw"), "dataset": gen.dataset, **record}
    write_record(make_folder(out) / METRICS_FILE, kind, record)
    run = Path(gen.source).parent
    if (run / BOARD_FOLDER).is_dir():  # the generator of a run with --tensorboard: its metrics join its curves
        board = Board(run)
        for r in record["results"]:
            psi = r.get("truncation")
            board.scalars(r, int(gen.meta.get("iterations", 0)), "evaluate" if psi is None else f"evaluate-psi{psi:g}")
        board.close()
    return {"kind": kind, **record}


def generator_data(gen: OpenedGenerator, data_root: Optional[str]) -> DataOptions:
    """The data options a generator was trained with, as far as its file says (folder and emoji runs
    keep them), with ``data_root`` where given."""
    saved = gen.meta.get("data", {})
    return DataOptions(root=Path(data_root) if data_root else saved.get("data_root") and Path(saved["data_root"]),
                       images=saved.get("images") and Path(saved["images"]),
                       image_size=saved.get("image_size", gen.shape[-1]), background=saved.get("background", "white"),
                       fit=saved.get("fit", "crop"), channels=gen.shape[0])


def _coverage(gen: OpenedGenerator, n: int, psis: list[Optional[float]], seed: int,
              data_root: Optional[str]) -> dict[str, Any]:
    """NDB of the generator's samples over k-means cells of the training images, beside the test split's."""
    data = load_dataset(gen.dataset, generator_data(gen, data_root))
    if tuple(data.shape) != tuple(gen.shape):
        raise GanforgeError(f"{gen.source} makes {'x'.join(map(str, gen.shape))} images, but its data is "
                            f"{'x'.join(map(str, data.shape))}")
    real = pixel_features(data.train)
    rows = [{"truncation": "test split", "samples": len(data.test), **ndb(real, pixel_features(data.test), seed=seed)}]
    for psi in psis:
        images, _ = sample(gen.G, n, gen.z_dim, psi=psi, seed=seed, device=gen.device)
        rows.append({"truncation": psi, "samples": n, **ndb(real, pixel_features(images.cpu()), seed=seed)})
    return {"features": f"pixels at up to {FEATURE_SIDE}x{FEATURE_SIDE}, k-means cells of the training images",
            "results": rows}


def _images(gen: OpenedGenerator, out: Path, n: int, psis: list[Optional[float]], seed: int,
            evaluator: Optional[Path], inception: Optional[Path], data_root: Optional[str]) -> dict[str, Any]:
    net, emeta = load_evaluator(gen.dataset, path=evaluator, device=gen.device)
    if gen.shape[0] != net.channels:
        raise GanforgeError(f"the {gen.dataset} evaluator reads images of {net.channels} channel(s); this generator "
                            f"makes {'x'.join(map(str, gen.shape))}")
    data = load_dataset(gen.dataset, generator_data(gen, data_root))
    real = real_features(net, data.test, emeta["sha256"])
    rows = []
    for psi in psis:
        images, _ = sample(gen.G, n, gen.z_dim, psi=psi, seed=seed, device=gen.device)
        fake = evaluate_images(net, images.cpu())
        rows.append({"truncation": psi, **image_metrics(real, fake)})
        if gen.labelled:
            asked = _asked(gen, n)
            hits = fake.probs.argmax(1) == asked
            rows[-1]["conditional_accuracy"] = float(hits.double().mean())
            # per class, beside how often the evaluator recognises the real test images of that class
            rows[-1]["per_class_accuracy"] = _per_class(hits, asked, gen.classes)
            rows[-1]["real_per_class_accuracy"] = _per_class(real.probs.argmax(1) == data.test_labels,
                                                             data.test_labels, gen.classes)
            rows[-1]["per_class_fid"] = [fid(real.features[data.test_labels == c], fake.features[asked == c])
                                         if (data.test_labels == c).sum() > 1 else None  # FID needs 2 images
                                         for c in range(gen.classes)]
    if len(rows) > 1:
        truncation_plot(make_folder(out) / "truncation.png", [r["truncation"] or math.inf for r in rows],
                        [r["lenet_fid"] for r in rows], [r["classifier_score"] for r in rows])
    if inception is None:
        say("note: Inception FID not computed (no --inception WEIGHTS given; ganforge never downloads them)")
    return {"features": f"LeNet evaluator for {gen.dataset}",
            "evaluator": {"dataset": gen.dataset, "sha256": emeta["sha256"],
                          "test_accuracy": emeta.get("test_accuracy")},
            "results": rows,
            "inception_fid": None if inception is None else inception_fid(inception, data.test, gen, n, seed)}


def _stacked(gen: OpenedGenerator, n: int, psi: Optional[float], seed: int,
             evaluator: Optional[Path]) -> dict[str, Any]:
    net, _ = load_evaluator("mnist", path=evaluator, device=gen.device)
    modes, hits = [], []
    for i in range(0, n, 2000):  # in chunks: 26,000 colour images at once are not needed
        images, _ = sample(gen.G, min(2000, n - i), gen.z_dim, psi=psi, seed=seed + i, device=gen.device)
        modes.append(stacked_modes(net, images))
        if gen.labelled:
            hits.append(modes[-1] == _asked(gen, len(images)))
    modes = torch.cat(modes)
    result = {**mode_histogram_metrics(modes, 1000), **stacked_breakdown(modes)}
    if gen.labelled:
        result["conditional_accuracy"] = float(torch.cat(hits).double().mean())
    return {"truncation": psi, "results": [result]}


def _per_class(hits: Tensor, labels: Tensor, classes: int) -> list[Optional[float]]:
    """The share of ``hits`` among the items of each class (None for a class with none)."""
    return [float(hits[labels == c].double().mean()) if (labels == c).any() else None for c in range(classes)]


def _asked(gen: OpenedGenerator, n: int) -> Tensor:
    """The classes a conditional generator's ``n`` samples were asked for, as gen.G draws them: cycled, or
    in proportion to its class prior."""
    return classes_in_turn(n, gen.classes, gen.prior)


def _toy(gen: OpenedGenerator, out: Path, n: int, psi: Optional[float], seed: int) -> dict[str, Any]:
    data = load_dataset(gen.dataset, DataOptions(seed=0))
    points, _ = sample(gen.G, n, gen.z_dim, psi=psi, seed=seed, device=gen.device)
    centres = data.extras["centres"]
    metrics = toy_metrics(points.cpu(), centres, data.extras["std"])
    scatter_plot(make_folder(out) / "samples.png", points.cpu(), centres,
                 title=f"{metrics['modes_covered']}/{metrics['modes_total']} modes, "
                       f"{metrics['high_quality_share']:.0%} high quality")
    return {"truncation": psi, "results": [metrics]}


def inception_fid(weights: Path, real_images: Tensor, gen: OpenedGenerator, n: int, seed: int) -> float:
    """Inception FID through torchmetrics, from a local weights file only (at most 5,000 samples)."""
    if not weights.is_file():
        raise GanforgeError(f"--inception {weights} does not exist; Inception FID needs torchmetrics' FID "
                            "Inception weights on disk (ganforge never downloads them)")
    try:
        metric = FrechetInceptionDistance(feature=2048, normalize=True,
                                          feature_extractor_weights_path=str(weights)).to(gen.device)
    except Exception as exc:  # torch-fidelity missing, or a file that is not those weights
        raise GanforgeError(f"cannot use {weights} for Inception FID: {str(exc).splitlines()[0][:160]}") from None

    def rgb(x: Tensor) -> Tensor:  # [-1, 1] grey -> [0, 1] RGB
        return ((x + 1) / 2).clamp(0, 1).expand(-1, 3, -1, -1)

    for chunk in real_images.split(200):
        metric.update(rgb(chunk.to(gen.device)), real=True)
    images, _ = sample(gen.G, min(n, 5000), gen.z_dim, seed=seed, device=gen.device)
    for chunk in images.split(200):
        metric.update(rgb(chunk), real=False)
    return float(metric.compute())
