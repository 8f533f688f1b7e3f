import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from ganforge.cli import main
from ganforge.data import DataOptions, load_dataset
from ganforge.errors import GanforgeError
from ganforge.records import read_record
from ganforge.evaluation.classifier import accuracy, load_evaluator, weights_dir
from ganforge.evaluation.metrics import class_kl_to_data


def test_shipped_mnist_evaluator_matches_its_record():
    records = read_record(weights_dir() / "evaluators.json", expect=("evaluators",))["evaluators"]
    rec = records["mnist"]
    blob = (weights_dir() / rec["file"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == rec["sha256"]
    assert rec["test_accuracy"] >= 0.98  # the goal on the bundled sample's test split
    net, meta = load_evaluator("mnist")
    data = load_dataset("mnist")
    assert accuracy(net, data.test, data.test_labels) == pytest.approx(rec["test_accuracy"], abs=1e-4)
    assert net.features(data.test[:3]).shape == (3, 128)


def test_evaluator_of_another_dataset_is_refused(tmp_path):
    net, _ = load_evaluator("mnist")
    fake = tmp_path / "fashion.safetensors"
    fake.write_bytes((weights_dir() / "mnist.safetensors").read_bytes())
    with pytest.raises(GanforgeError, match="is for mnist, not fashion"):
        load_evaluator("fashion", path=fake)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ev") / "run"
    assert main(["train", "-g", "M2", "-d", "M3", "-b", "64", "--limit", "512", "-e", "1", "-q", "-o", str(root)]) == 0
    return root


def test_evaluate_writes_metrics_and_a_truncation_sweep(run, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", "--generator", str(run), "-n", "300", "--truncation-sweep", "0.5,1,inf",
                 "-o", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert [r["truncation"] for r in result["results"]] == [0.5, 1.0, None]
    for r in result["results"]:
        assert r["lenet_fid"] > 0 and 1 <= r["classifier_score"] <= 10 and 0 <= r["precision"] <= 1
        assert r["n_real"] == 2000 and r["n_fake"] == 300 and len(r["class_histogram"]) == 10
        assert r["classifier_score_real"] > 8  # the real test split nearly reaches the ceiling of 10
    assert result["inception_fid"] is None
    assert (out / "truncation.png").exists()
    captured = capsys.readouterr()
    assert "Inception FID not computed" in captured.err and "FID" in captured.out


def test_evaluate_refuses_a_mismatched_evaluator(run, tmp_path, capsys):
    fashion = tmp_path / "fashion.safetensors"
    from ganforge.checkpoint import load_checkpoint, save_checkpoint

    tensors, meta = load_checkpoint(weights_dir() / "mnist.safetensors")
    save_checkpoint(fashion, tensors, {k: v for k, v in {**meta, "dataset": "fashion"}.items()
                                       if k not in ("format", "versions")})
    assert main(["evaluate", "--generator", str(run), "-n", "20", "--evaluator", str(fashion)]) == 2
    assert "is for fashion, not mnist" in capsys.readouterr().err


def test_missing_inception_weights_is_one_clear_line(run, tmp_path, capsys):
    assert main(["evaluate", "--generator", str(run), "-n", "20", "--inception", str(tmp_path / "none.pth"),
                 "-o", str(tmp_path / "e")]) == 2
    assert "never downloads" in capsys.readouterr().err


def test_evaluate_a_ring_gan_counts_modes(tmp_path, capsys):
    run = tmp_path / "ring"
    assert main(["train", "--dataset", "ring", "-b", "500", "--limit", "5000", "-e", "1", "-q", "-o", str(run)]) == 0
    assert main(["evaluate", "--generator", str(run)]) == 0
    result = json.loads((run / "evaluation" / "metrics.json").read_text())["results"][0]
    assert result["samples"] == 2500 and result["modes_total"] == 8 and 0 <= result["modes_covered"] <= 8
    assert (run / "evaluation" / "samples.png").exists()
    assert "modes with a sample" in capsys.readouterr().out


def test_shipped_fashion_evaluator_matches_its_record():
    rec = read_record(weights_dir() / "evaluators.json", expect=("evaluators",))["evaluators"]["fashion"]
    assert hashlib.sha256((weights_dir() / rec["file"]).read_bytes()).hexdigest() == rec["sha256"]
    assert rec["test_accuracy"] >= 0.90 and rec["test_images"] == 10_000
    net, meta = load_evaluator("fashion")
    assert meta["dataset"] == "fashion" and meta["test_accuracy"] == rec["test_accuracy"]
    try:
        data = load_dataset("fashion")
    except GanforgeError:
        pytest.skip("Fashion-MNIST is not installed here (apt-get install dataset-fashion-mnist)")
    assert accuracy(net, data.test, data.test_labels) == pytest.approx(rec["test_accuracy"], abs=1e-4)


def test_shipped_emoji_evaluator_reads_colour_at_its_size_and_matches_its_record():
    rec = read_record(weights_dir() / "evaluators.json", expect=("evaluators",))["evaluators"]["emoji"]
    assert hashlib.sha256((weights_dir() / rec["file"]).read_bytes()).hexdigest() == rec["sha256"]
    net, meta = load_evaluator("emoji")
    assert (net.channels, meta["classes"], meta["test_accuracy"]) == (3, 10, rec["test_accuracy"])
    assert net(torch.zeros(2, 3, 64, 64)).shape == (2, 10) and net.features(torch.zeros(2, 3, 32, 32)).shape == (2, 128)


@pytest.mark.slow
def test_shipped_emoji_evaluator_scores_the_held_out_pictures_as_recorded():
    rec = read_record(weights_dir() / "evaluators.json", expect=("evaluators",))["evaluators"]["emoji"]
    net, _ = load_evaluator("emoji")
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not (shared / "emoji-noto-64.npz").is_file():
        pytest.skip("the emoji set is not on this machine (scripts/emoji_npz.py makes it)")
    data = load_dataset("emoji", DataOptions(root=shared))
    assert accuracy(net, data.test, data.test_labels) == pytest.approx(rec["test_accuracy"], abs=1e-4)


def test_class_kl_to_data_is_zero_for_the_datas_own_mix_and_grows_as_the_mix_drifts():
    real = torch.eye(3)[torch.tensor([0] * 60 + [1] * 30 + [2] * 10)]
    assert class_kl_to_data(real, real[torch.randperm(100)]) == pytest.approx(0.0, abs=1e-9)
    only_first = torch.eye(3)[torch.zeros(100, dtype=torch.long)]
    assert class_kl_to_data(real, only_first) == pytest.approx(math.log(1 / 0.6), rel=1e-4)
