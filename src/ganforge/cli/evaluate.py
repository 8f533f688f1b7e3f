"""``ganforge evaluate`` and ``ganforge train-evaluator``."""
from __future__ import annotations

from pathlib import Path

from ..device import pick_device
from ..errors import GanforgeError
from ..evaluation.classifier import EVALUATOR_DATASETS
from ..loading import open_generator
from .common import add_generator, add_out, add_seed, int_at_least, truncation


def add_parsers(sub) -> None:
    p = sub.add_parser("evaluate", help="FID, KID, classifier score, class histogram, precision/recall and "
                       "density/coverage of a generator or AE decoder against the test split")
    add_generator(p)
    p.add_argument("-n", type=int_at_least(10, 1_000_000),
                   help="generated samples (default as the literature counts: 10,000 images, 26,000 Stacked MNIST "
                   "triples, 2,500 toy points)")
    p.add_argument("--truncation", type=truncation, metavar="PSI", help="sample z truncated at PSI")
    p.add_argument("--truncation-sweep", metavar="PSIS",
                   help="comma-separated psi values (inf for none): a table and a plot of FID and score against psi")
    p.add_argument("--evaluator", help="evaluator weights (default: the one shipped for the dataset)")
    p.add_argument("--inception", metavar="WEIGHTS",
                   help="also Inception FID, from torchmetrics' FID Inception weights file at this path")
    add_seed(p)
    p.add_argument("--data-root", help="folder holding the dataset, as for train")
    add_out(p, "the run folder's evaluation/")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train-evaluator", help="train the LeNet evaluator used by evaluate")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--dataset", choices=EVALUATOR_DATASETS, help=", ".join(EVALUATOR_DATASETS))
    which.add_argument("--images", metavar="DIR", help="a folder of class subfolders, as train --images reads it "
                       "(then -o is required: the evaluate --evaluator file goes there)")
    p.add_argument("--data-root", help="folder holding the dataset, as for train (emoji: its .npz)")
    p.add_argument("-e", "--epochs", type=int_at_least(1, 10_000), default=12, help="epochs (12)")
    add_out(p, "inside the installed package")
    add_seed(p)
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
    from ..pipelines.evaluate import evaluate, evaluation_folder

    psis = parse_psis(args.truncation_sweep) if args.truncation_sweep else [args.truncation]
    gen = open_generator(args.generator, device=pick_device(args.device), raw=args.raw_weights)
    out = Path(args.out) if args.out else evaluation_folder(Path(args.generator))
    record = evaluate(gen, out, n=args.n, truncations=psis, seed=args.seed,
                      evaluator=Path(args.evaluator) if args.evaluator else None,
                      inception=Path(args.inception) if args.inception else None, data_root=args.data_root)
    rows = record["results"]
    if record["kind"] == "image-evaluation":
        print(f"in the features of the {record['features']}")
        print(f"{'psi':>6} {'FID':>9} {'KID':>9} {'score':>7} {'real':>6} {'KL(unif)':>9} {'KL(data)':>9} {'prec':>6} "
              f"{'recall':>6} {'density':>7} {'cover':>6}")
        for r in rows:
            psi = "none" if r["truncation"] is None else f"{r['truncation']:g}"
            print(f"{psi:>6} {r['lenet_fid']:>9.3f} {r['lenet_kid']:>9.5f} {r['classifier_score']:>7.3f} "
                  f"{r['classifier_score_real']:>6.3f} {r['class_kl_to_uniform']:>9.4f} {r['class_kl_to_data']:>9.4f} "
                  f"{r['precision']:>6.3f} {r['recall']:>6.3f} {r['density']:>7.3f} {r['coverage']:>6.3f}")
        for r in rows:
            if "conditional_accuracy" in r:
                print(f"class-conditional: {r['conditional_accuracy']:.1%} of samples show the class asked for; "
                      "FID per class " + " ".join(f"{c}:{v:.1f}" for c, v in enumerate(r["per_class_fid"])))
    elif record["kind"] == "stacked-mnist-evaluation":
        m = rows[0]
        print(f"Stacked MNIST: {m['modes_covered']} of 1000 modes over {m['samples']:,} samples, "
              f"KL to uniform {m['kl_to_uniform']:.3f}"
              + (f", {m['conditional_accuracy']:.1%} the triple asked for" if "conditional_accuracy" in m else ""))
        print("  of which: digits per channel (R, G, B) " + " / ".join(f"{k:.3f}" for k in m["channel_kl_to_uniform"])
              + f", dependence between channels {m['channel_dependence']:.3f}")
    elif record["kind"] == "coverage-evaluation":
        print(f"coverage of {rows[0]['bins']} k-means cells of the training images ({record['features']}):")
        for r in rows:
            what = r["truncation"] if isinstance(r["truncation"], str) else f"psi {r['truncation'] or 'none'}"
            print(f"  {what:>12}: {r['ndb']} cells differ (NDB/K {r['ndb_share']:.2f}), KL over cells "
                  f"{r['bin_kl']:.3f}, {r['empty_bins']} empty, {r['samples']:,} samples")
    else:
        m = rows[0]
        print(f"{gen.dataset}: {m['modes_with_any_sample']} of {m['modes_total']} modes with a sample, "
              f"{m['modes_covered']} with at least 0.8 % of them, "
              f"{m['high_quality_share']:.1%} high-quality samples, reverse KL {m['reverse_kl']:.3f}")
    print(f"outputs in {out}")
    return 0


# Pipelines are imported inside the command functions: see cli/latent.py.


def cmd_train_evaluator(args) -> int:
    from ..evaluation.classifier import train_evaluator

    if args.images and not args.out:
        raise GanforgeError("train-evaluator --images needs -o DIR: evaluators of your own images stay out of the "
                            "installed package")
    record = train_evaluator(args.dataset or "images", epochs=args.epochs, seed=args.seed,
                             out=Path(args.out) if args.out else None,
                             data_root=Path(args.data_root) if args.data_root else None,
                             images=Path(args.images) if args.images else None)
    print(f"{args.dataset or args.images} evaluator: test accuracy {record['test_accuracy']:.4f}, sha256 {record['sha256'][:16]}..., "
          f"written to {record['path']}")
    return 0
