"""``ganforge evaluate`` and ``ganforge train-evaluator``."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from ..errors import GanforgeError
from .common import int_at_least


def add_parsers(sub) -> None:
    from ..evaluation.classifier import EVALUATOR_DATASETS

    p = sub.add_parser("evaluate", help="FID, KID, classifier score, class histogram, precision/recall of a "
                       "generator or AE decoder against the test split")
    p.add_argument("--generator", required=True, metavar="RUN_OR_FILE", help="run folder or generator file")
    p.add_argument("-n", type=int_at_least(10), default=10_000, help="generated samples (10,000)")
    p.add_argument("--truncation", type=float, metavar="PSI", help="sample z truncated at PSI")
    p.add_argument("--truncation-sweep", metavar="PSIS",
                   help="comma-separated psi values (inf for none): a table and a plot of FID and score against psi")
    p.add_argument("--evaluator", help="evaluator weights (default: the one shipped for the dataset)")
    p.add_argument("--inception", metavar="WEIGHTS",
                   help="also Inception FID, from torchmetrics' FID Inception weights file at this path")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--data-root", help="folder holding the dataset, as for train")
    p.add_argument("-o", "--out", help="output folder (default: the run folder's evaluation/)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train-evaluator", help="train the LeNet evaluator used by evaluate")
    p.add_argument("--dataset", choices=EVALUATOR_DATASETS, required=True, help="mnist or fashion")
    p.add_argument("-e", "--epochs", type=int_at_least(1), default=12, help="epochs (12)")
    p.add_argument("-o", "--out", help="folder for the weights (default: inside the installed package)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.set_defaults(func=cmd_train_evaluator)


def parse_psis(text: str) -> list[float]:
    try:
        psis = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GanforgeError(f"--truncation-sweep must be comma-separated numbers or inf, got {text!r}") from None
    if not psis or any(not p > 0 for p in psis):
        raise GanforgeError(f"--truncation-sweep values must be > 0, got {text!r}")
    return psis


def cmd_evaluate(args) -> int:
    from ..data import DataOptions, load_dataset
    from ..evaluation.classifier import load_evaluator
    from ..evaluation.metrics import evaluate_images, image_metrics, real_features
    from ..generators import open_generator
    from ..io import atomic_write_json
    from ..plots import truncation_plot
    from ..sampling import sample
    from ..training.runstate import pick_device

    psis = parse_psis(args.truncation_sweep) if args.truncation_sweep else [args.truncation or math.inf]
    device = pick_device(args.device)
    gen = open_generator(args.generator, device=device)
    if gen.dataset is None:
        raise GanforgeError(f"{args.generator} does not say which dataset it models")
    if gen.dataset in ("ring", "grid", "stacked-mnist"):
        return _evaluate_modes(gen, args, device)
    evaluator_dataset = {"stacked-mnist": "mnist"}.get(gen.dataset, gen.dataset)
    net, emeta = load_evaluator(evaluator_dataset, path=Path(args.evaluator) if args.evaluator else None,
                                device=device)
    if tuple(gen.shape) != (1, 28, 28):
        raise GanforgeError(f"the {evaluator_dataset} evaluator reads 1x28x28 images; this generator makes "
                            f"{'x'.join(map(str, gen.shape))}")
    data = load_dataset(gen.dataset, DataOptions(root=Path(args.data_root) if args.data_root else None))
    real = real_features(net, data.test, emeta["sha256"])
    out = _out_folder(args)
    rows = []
    for psi in psis:
        images, _ = sample(gen.G, args.n, gen.z_dim, psi=None if math.isinf(psi) else psi, seed=args.seed,
                           device=device)
        fake = evaluate_images(net, images.cpu())
        rows.append({"truncation": None if math.isinf(psi) else psi, **image_metrics(real, fake)})
    result = {"generator": gen.source, "dataset": gen.dataset, "evaluator": {"dataset": evaluator_dataset,
              "sha256": emeta["sha256"], "test_accuracy": emeta.get("test_accuracy")}, "results": rows}
    if args.inception:
        result["inception_fid"] = _inception_fid(Path(args.inception), data.test, gen, args, device)
    else:
        result["inception_fid"] = None
        print("note: Inception FID not computed (no --inception WEIGHTS given; ganforge never downloads them)",
              file=sys.stderr)
    atomic_write_json(out / "metrics.json", result)
    if len(rows) > 1:
        truncation_plot(out / "truncation.png", [r["truncation"] or math.inf for r in rows],
                        [r["fid"] for r in rows], [r["classifier_score"] for r in rows])
    print(f"{'psi':>6} {'FID':>9} {'KID':>9} {'score':>7} {'real':>6} {'KL(hist)':>9} {'prec':>6} {'recall':>6}")
    for r in rows:
        psi = "none" if r["truncation"] is None else f"{r['truncation']:g}"
        print(f"{psi:>6} {r['fid']:>9.3f} {r['kid']:>9.5f} {r['classifier_score']:>7.3f} "
              f"{r['classifier_score_real']:>6.3f} {r['class_kl_to_uniform']:>9.4f} {r['precision']:>6.3f} "
              f"{r['recall']:>6.3f}")
    print(f"outputs in {out}")
    return 0


def _out_folder(args) -> Path:
    out = Path(args.out) if args.out else (Path(args.generator) / "evaluation" if Path(args.generator).is_dir()
                                           else Path("runs") / "evaluation")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanforgeError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    return out


def _evaluate_modes(gen, args, device) -> int:
    """Mode coverage for the 2-D toys and Stacked MNIST."""
    from ..data import DataOptions, load_dataset
    from ..evaluation.classifier import load_evaluator
    from ..evaluation.modes import STACKED_SAMPLES, TOY_SAMPLES, mode_histogram_metrics, stacked_modes, toy_metrics
    from ..io import atomic_write_json
    from ..plots import scatter_plot
    from ..sampling import sample

    out = _out_folder(args)
    psi = None if args.truncation is None or math.isinf(args.truncation) else args.truncation
    if gen.dataset == "stacked-mnist":
        net, emeta = load_evaluator("mnist", path=Path(args.evaluator) if args.evaluator else None, device=device)
        modes = []
        for i in range(0, STACKED_SAMPLES, 2000):  # in chunks: 26,000 colour images at once are not needed
            images, _ = sample(gen.G, min(2000, STACKED_SAMPLES - i), gen.z_dim, psi=psi, seed=args.seed + i,
                               device=device)
            modes.append(stacked_modes(net, images))
        metrics = mode_histogram_metrics(torch.cat(modes), 1000)
        print(f"Stacked MNIST: {metrics['modes_covered']} of 1000 modes over {metrics['samples']:,} samples, "
              f"KL to uniform {metrics['kl_to_uniform']:.3f}")
    else:
        data = load_dataset(gen.dataset, DataOptions(seed=0))
        points, _ = sample(gen.G, TOY_SAMPLES, gen.z_dim, psi=psi, seed=args.seed, device=device)
        centres, std = data.extras["centres"], data.extras["std"]
        metrics = toy_metrics(points.cpu(), centres, std)
        scatter_plot(out / "samples.png", points.cpu(), centres,
                     title=f"{metrics['modes_covered']}/{metrics['modes_total']} modes, "
                           f"{metrics['high_quality_share']:.0%} high quality")
        print(f"{gen.dataset}: {metrics['modes_covered']} of {metrics['modes_total']} modes covered, "
              f"{metrics['high_quality_share']:.1%} high-quality samples, reverse KL {metrics['reverse_kl']:.3f}")
    atomic_write_json(out / "metrics.json", {"generator": gen.source, "dataset": gen.dataset, "truncation": psi,
                                             "results": [metrics]})
    print(f"outputs in {out}")
    return 0


def _inception_fid(weights: Path, real_images, gen, args, device) -> float:
    """Inception FID through torchmetrics, from a local weights file only."""
    if not weights.is_file():
        raise GanforgeError(f"--inception {weights} does not exist; Inception FID needs torchmetrics' FID "
                            "Inception weights on disk (ganforge never downloads them)")
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance

        metric = FrechetInceptionDistance(feature=2048, normalize=True,
                                          feature_extractor_weights_path=str(weights)).to(device)
    except Exception as exc:  # torch-fidelity missing, or a file that is not those weights
        raise GanforgeError(f"cannot use {weights} for Inception FID: {str(exc).splitlines()[0][:160]}") from None
    from ..sampling import sample

    def rgb(x):  # [-1, 1] grey -> [0, 1] RGB
        return ((x + 1) / 2).clamp(0, 1).expand(-1, 3, -1, -1)

    for chunk in real_images.split(200):
        metric.update(rgb(chunk.to(device)), real=True)
    images, _ = sample(gen.G, min(args.n, 5000), gen.z_dim, seed=args.seed, device=device)
    for chunk in images.split(200):
        metric.update(rgb(chunk), real=False)
    return float(metric.compute())


def cmd_train_evaluator(args) -> int:
    from ..evaluation.classifier import train_evaluator

    record = train_evaluator(args.dataset, epochs=args.epochs, seed=args.seed,
                             out=Path(args.out) if args.out else None)
    print(f"{args.dataset} evaluator: test accuracy {record['test_accuracy']:.4f}, sha256 {record['sha256'][:16]}..., "
          f"written to {record['path']}")
    return 0
