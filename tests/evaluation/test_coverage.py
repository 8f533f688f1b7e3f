"""NDB, coverage for data without an evaluator: a sampler of the data's own distribution leaves few
cells different, a collapsed one most of them; `evaluate` on a folder run reports it."""
import numpy as np
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.evaluation.coverage import ndb, pixel_features
from ganforge.pipelines.report import build_report
from ganforge.records import read_record


def _blobs(n: int, modes: list[int], seed: int) -> torch.Tensor:
    """``n`` points around the chosen ones of 10 well-separated centres in the plane."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.stack([torch.arange(10.0) * 10, torch.zeros(10)], 1)
    which = torch.tensor(modes)[torch.randint(len(modes), (n,), generator=g)]
    return centres[which] + torch.randn(n, 2, generator=g)


def test_ndb_tells_a_covering_sampler_from_a_collapsed_one():
    real = _blobs(3000, list(range(10)), seed=0)
    good = ndb(real, _blobs(3000, list(range(10)), seed=1), bins=20)
    collapsed = ndb(real, _blobs(3000, [3, 7], seed=2), bins=20)
    assert good["bins"] == 20 and good["ndb_share"] <= 0.2 and good["empty_bins"] == 0
    assert collapsed["ndb_share"] >= 0.8 and collapsed["empty_bins"] >= 14  # 8 of 10 blobs (16 of 20 cells) unseen
    assert collapsed["bin_kl"] > 10 * good["bin_kl"]


def test_pixel_features_pool_large_images_to_32():
    assert pixel_features(torch.zeros(2, 3, 64, 64)).shape == (2, 3 * 32 * 32)
    assert pixel_features(torch.zeros(2, 1, 28, 28)).shape == (2, 784)


def test_evaluate_reports_coverage_for_a_folder_run(tmp_path, noise_pictures, capsys):
    folder = noise_pictures("pictures", 40, (16, 16))
    run = tmp_path / "run"
    assert main(["train", "--images", str(folder), "--image-size", "16", "-b", "12", "-e", "1", "-q",
                 "-o", str(run)]) == 0
    assert main(["evaluate", "--generator", str(run), "-n", "100"]) == 0
    record = read_record(run / "evaluation" / "metrics.json")
    assert record.kind == "coverage-evaluation" and record["features"].startswith("pixels")
    test_row, sample_row = record["results"]
    assert test_row["truncation"] == "test split" and test_row["samples"] == 4 and sample_row["samples"] == 100
    assert 0 <= sample_row["ndb"] <= sample_row["bins"] == 18  # 36 training images: at most half as many cells
    assert "cells differ" in capsys.readouterr().out
    page = build_report([run])  # the evaluation has its section in the run's report
    assert "coverage of k-means cells (NDB)" in page and '<td class="t">test split</td>' in page


def test_an_evaluator_of_your_own_labelled_folder_measures_a_folder_run(tmp_path, monkeypatch, capsys):
    """train-evaluator --images learns the folder's classes; evaluate --evaluator then reports FID and the
    class mix in its features instead of coverage."""
    from ganforge.evaluation.classifier import train_evaluator

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    for name, colour in (("red", [220, 30, 30]), ("blue", [30, 30, 220])):
        (tmp_path / "shapes" / name).mkdir(parents=True)
        for i in range(40):
            a = np.full((16, 16, 3), 255, np.uint8)
            x, y = rng.integers(0, 8, 2)
            a[y:y + 8, x:x + 8] = colour
            Image.fromarray(a).save(tmp_path / "shapes" / name / f"{i}.png")
    record = train_evaluator("images", images=tmp_path / "shapes", out=tmp_path / "evaluator", epochs=8,
                             batch_size=16, quiet=True)
    assert record["test_accuracy"] == 1.0 and record["test_images"] == 8  # a tenth of each class held out
    assert main(["train-evaluator", "--images", str(tmp_path / "shapes")]) == 2
    assert "needs -o DIR" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", "--images", str(tmp_path / "shapes"), "--image-size", "16", "-b", "12", "-e", "1", "-q",
                 "-o", str(run)]) == 0
    assert main(["evaluate", "--generator", str(run), "-n", "64",
                 "--evaluator", str(tmp_path / "evaluator" / "images.safetensors")]) == 0
    metrics = read_record(run / "evaluation" / "metrics.json")
    assert metrics.kind == "image-evaluation" and metrics["features"] == "LeNet evaluator for images"
    assert metrics["results"][0]["lenet_fid"] > 0 and len(metrics["results"][0]["class_histogram"]) == 2
