"""The autoencoder with and without moment matching: reconstruction MSE and how normal its latent is.

    python benchmarks/ae.py [--epochs 20]

Trains the report's autoencoder twice on the bundled MNIST sample (plain, and with
--latent-reg moments), then measures on the 2,000 test images: reconstruction MSE, the
Kolmogorov-Smirnov distance of the latent values to N(0, 1), and the latent moments.
Both are then used as generators (z ~ N(0, I) through the decoder) and evaluated like a GAN:
FID, KID and classifier score in the shipped MNIST evaluator's features, over 10,000 samples.
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
from ganforge.evaluation.classifier import load_evaluator  # noqa: E402
from ganforge.evaluation.metrics import evaluate_images, image_metrics, real_features  # noqa: E402
from ganforge.latent.sampling import sample  # noqa: E402
from ganforge.training.ae import ks_statistic, latent_moments  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=20)
    args = p.parse_args()
    test = load_dataset("mnist").test
    rows = {}
    net, emeta = load_evaluator("mnist")
    real = real_features(net, test, emeta["sha256"])
    with tempfile.TemporaryDirectory() as tmp:
        for reg in ("none", "moments"):
            out = Path(tmp) / reg
            seconds, _ = timed(lambda: ganforge(["train-ae", "-e", str(args.epochs), "--latent-reg", reg, "-q",
                                                 "-o", str(out)]))
            gen = open_generator(out)
            with torch.no_grad():
                z = torch.cat([gen.encoder(chunk) for chunk in test.split(500)])
                recon = torch.cat([gen.G(chunk) for chunk in z.split(500)])
            m = latent_moments(z).tolist()
            images, _ = sample(gen.G, 10_000, gen.z_dim, seed=0)
            q = image_metrics(real, evaluate_images(net, images))
            rows[reg] = {"seconds": seconds, "test_mse": float(((recon - test) ** 2).mean()),
                         "ks": ks_statistic(z), "mean": m[0], "variance": m[1], "kurtosis": m[2],
                         "fid": q["lenet_fid"], "kid": q["lenet_kid"], "classifier_score": q["classifier_score"],
                         "classifier_score_real": q["classifier_score_real"],
                         "class_kl_to_uniform": q["class_kl_to_uniform"], "precision": q["precision"],
                         "recall": q["recall"]}
    results = {"machine": machine(), "epochs": args.epochs, "runs": rows}
    md = [
        "# Autoencoder benchmark",
        "",
        f"`python benchmarks/ae.py --epochs {args.epochs}` on {machine()['device']} ({machine()['cores']} cores). "
        "The report's autoencoder (z = 100) on the bundled MNIST sample's 8,000 training digits, measured on its "
        "2,000 test digits. Moments are per latent dimension over the test set, then averaged. Goal: KS at most "
        "0.02 with moments.",
        "",
        "| latent regulariser | test reconstruction MSE | KS to N(0, 1) | mean | variance | kurtosis | train seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for reg, r in rows.items():
        md.append(f"| {reg} | {r['test_mse']:.4f} | {r['ks']:.4f} | {r['mean']:+.3f} | {r['variance']:.3f} | "
                  f"{r['kurtosis']:.3f} | {r['seconds']:.0f} |")
    md += ["", "Train seconds are wall times on a shared 2-core machine, not a speed comparison.",
           "", "As generators (z ~ N(0, I) through the decoder, 10,000 samples against the 2,000 test digits, "
           "in the MNIST evaluator's features; the real test split's classifier score is "
           f"{rows['none']['classifier_score_real']:.2f}):", ""]
    md += table("| latent regulariser | FID | KID | classifier score | class KL to uniform | precision | recall |",
                (f"| {reg} | {r['fid']:.2f} | {r['kid']:.4f} | {r['classifier_score']:.2f} | "
                 f"{r['class_kl_to_uniform']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} |"
                 for reg, r in rows.items()))
    write("ae", results, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
