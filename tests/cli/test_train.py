"""The command line end to end: artefacts of a run, exact resume, and bad input."""
import json
import subprocess
import sys

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ganforge.checkpoint import load_checkpoint
from ganforge.loading import open_generator
from ganforge.cli import main

# The report's typical MNIST command line, on a 512-image slice.
REPORT_MNIST = ["train", "-g", "M1", "-d", "M3", "-b", "24", "-l", "non_saturated", "-k", "4", "-e", "1",
                "-z", "50", "--dataset", "MNIST"]


def test_one_epoch_run_writes_every_artefact(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(REPORT_MNIST + ["--limit", "512", "-o", str(out), "-q", "--log-every", "7"]) == 0
    stdout, stderr = capsys.readouterr()
    assert f"outputs in {out}" in stdout
    assert "bundled real MNIST sample" in stderr and "512 train" in stderr

    config = json.loads((out / "config.json").read_text())
    assert config["generator"] == "M1" and config["discriminator"] == "M3" and config["unroll_steps"] == 4
    assert config["batch_size"] == 24 and config["z_dim"] == 50 and config["real_label"] == 1.0
    assert config["iterations_per_epoch"] == 512 // 24 == 21
    assert "torch" in config["versions"] and "bundled" in config["data_source"]

    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0] == "iteration,epoch,d_loss,g_loss,d_real,d_fake,g_grad_norm"
    assert [int(r.split(",")[0]) for r in lines[1:]] == list(range(1, 22))  # every iteration, once

    for png in (out / "loss.png", out / "samples" / "epoch_001.png"):
        with Image.open(png) as im:
            assert im.size[0] > 100
    with Image.open(out / "samples" / "epoch_001.png") as im:
        assert im.size == (8 * 30 + 2, 8 * 30 + 2)  # 8x8 grid of 28x28 with 2-pixel padding

    tensors, meta = load_checkpoint(out / "checkpoints" / "last.safetensors")
    assert meta["generator"] == "M1" and meta["z_dim"] == 50 and meta["shape"] == [1, 28, 28]
    assert meta["dataset"] == "mnist" and meta["position"] == {"epoch": 1, "batch": 0, "iteration": 21}
    assert any(k.startswith("opt_d.") for k in tensors) and "rng.torch" in tensors

    gen = open_generator(out)
    assert gen.model == "M1" and gen.z_dim == 50 and gen.dataset == "mnist"
    assert gen.G(torch.randn(2, 50)).shape == (2, 1, 28, 28)


def _weights(run):
    return load_file(str(run / "checkpoints" / "last.safetensors"))


def test_resumed_run_ends_bitwise_equal_to_uninterrupted(tmp_path):
    args = ["train", "-g", "M4", "-d", "M5", "-b", "32", "-k", "2", "-z", "16", "--limit", "256", "-q",
            "--seed", "3"]
    assert main(args + ["-e", "2", "-o", str(tmp_path / "a")]) == 0
    assert main(args + ["-e", "1", "-o", str(tmp_path / "b")]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "-e", "2", "-q"]) == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # weights, optimiser moments, RNG states
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_run_interrupted_mid_epoch_resumes_exactly(tmp_path, monkeypatch, capsys):
    args = ["train", "--dataset", "ring", "-b", "1000", "--limit", "8000", "-k", "1", "-e", "2", "-q",
            "--checkpoint-every", "3"]
    assert main(args + ["-o", str(tmp_path / "a")]) == 0

    import ganforge.training.gan as loop

    calls = {"n": 0}
    real_step = loop.GanTrainer.train_step

    def stopping_step(*a, **kw):  # Ctrl-C during iteration 11 (epoch 2, batch 3)
        calls["n"] += 1
        if calls["n"] == 11:
            raise KeyboardInterrupt
        return real_step(*a, **kw)

    monkeypatch.setattr(loop.GanTrainer, "train_step", stopping_step)
    assert main(args + ["-o", str(tmp_path / "b")]) == 130
    _, meta = load_checkpoint(tmp_path / "b" / "checkpoints" / "last.safetensors")
    assert meta["position"] == {"epoch": 1, "batch": 1, "iteration": 9}  # the every-3 checkpoint
    monkeypatch.setattr(loop.GanTrainer, "train_step", real_step)
    assert main(["train", "--resume", str(tmp_path / "b"), "-q"]) == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


@pytest.mark.parametrize("argv,needle", [
    (["train", "-g", "M9"], "unknown model 'M9'; valid: M1, M2"),
    (["train", "--dataset", "cifar"], "unknown dataset 'cifar'; valid: mnist, fashion"),
    (["train", "-l", "wasserstein"], "unknown loss 'wasserstein'; valid: cross_entropy"),
    (["train", "-k", "-1"], "-k/--unroll-steps: must be >= 0"),
    (["train", "-b", "0"], "-b/--batch-size: must be >= 1"),
    (["train", "-e", "x"], "expected an integer"),
    (["train", "--lr-g", "nan"], "expected a finite number"),
    (["train", "--lr-g", "-1"], "--lr-g must be a positive number"),
    (["train", "--real-label", "1.5"], "--real-label must be in (0, 1]"),
    (["train", "-l", "relativistic", "--real-label", "0.9"], "no real label to smooth; drop --real-label 0.9"),
    (["train", "-g", "M3"], "-g M3 is not a generator"),
    (["train", "-g", "M11", "-d", "M12"], "model M11 is for celeb data, not mnist"),
    (["train", "--dataset", "celeb"], "CelebA (no --data-root given) not found"),
    (["train", "--dataset", "celeb", "--data-root", "nowhere"], "CelebA folder nowhere not found"),
    (["train", "-b", "100000", "--limit", "10"], "larger than the 10 training items"),
    (["train", "--resume", "nowhere"], "nowhere is not a ganforge run folder"),
    (["train", "--device", "tpu"], "unknown device 'tpu'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys, tmp_path, run_cli):
    out = tmp_path / "out"
    code = run_cli(argv + ["-q", "-o", str(out)] if argv[0] == "train" else argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and needle in errors[0]  # one clear line (after at most the data line)
    assert "Traceback" not in err
    assert not out.exists()  # nothing was written for a bad command


def test_latent_size_that_does_not_fit_the_checkpoint(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--dataset", "ring", "-b", "500", "--limit", "1000", "-e", "1", "-q", "-o", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "-z", "8", "-q"]) == 2
    assert "latent size -z 8 does not match the checkpoint" in capsys.readouterr().err
    # An existing run is never overwritten by a fresh one.
    assert main(["train", "--dataset", "ring", "-q", "-o", str(run)]) == 2
    assert "already holds files" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "ganforge", "models"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "675,025" in proc.stdout and "1,460,225" in proc.stdout
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[2:]}
    assert rows["M1"][1:3] == ["G", "mnist"] and rows["M3"][1:3] == ["D", "mnist"]


def test_report_celeb_command_line_runs_verbatim_on_an_image_folder(tmp_path, capsys, noise_pictures):
    folder = noise_pictures("faces", 150, (24, 20), suffix=".jpg")
    # The report's CelebA command line, with -e 1, a data folder, and 16x16 images to keep it fast.
    argv = ["train", "-g", "M11", "-d", "M12", "-b", "128", "-l", "non_saturated", "-k", "2", "-e", "1", "-z", "100",
            "-gs", "5", "-ds", "2", "--dataset", "celeb", "--data-root", str(folder), "--image-size", "16",
            "-q", "-o", str(tmp_path / "run")]
    assert main(argv) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    # The report's CelebA settings come in as the dataset's defaults.
    assert config["real_label"] == 0.9 and config["lr_g"] == 1e-4 and config["lr_d"] == 4e-4
    assert config["g_steps"] == 5 and config["d_steps"] == 2 and config["iterations_per_epoch"] == 1
    _, meta = load_checkpoint(tmp_path / "run" / "generator.safetensors")
    assert meta["shape"] == [3, 16, 16] and meta["z_dim"] == 100
    tensors, _ = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    steps = {int(v) for k, v in tensors.items() if k.startswith("opt_d.") and k.endswith(".step")}
    assert steps == {2}  # -ds 2 real D steps; the k=2 look-ahead steps were all undone
    steps = {int(v) for k, v in tensors.items() if k.startswith("opt_g.") and k.endswith(".step")}
    assert steps == {5}


def test_data_command_lists_sources_and_sizes(capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert "8,000 train / 2,000 test: bundled real MNIST sample" in out
    assert "50,000 train / 10,000 test" in out  # ring and grid
    assert "apt-get install dataset-fashion-mnist" in out
    assert "missing: CelebA (no --data-root given)" in out


def test_celeb_recipe_trains_on_an_image_folder(tmp_path, noise_pictures):
    """CelebA cannot be measured offline; the recipe (the emoji recipe's, for photographs) is checked to train on
    an image folder with finite losses and without vanishing gradients."""
    import numpy as np

    folder = noise_pictures("faces", 128, (20, 20), seed=1)
    assert main(["train", "--dataset", "celeb", "--data-root", str(folder), "--image-size", "16", "-b", "32",
                 "-e", "4", "-q", "--log-every", "1", "-o", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["recipe"] == "celeb" and config["lr_g"] == config["lr_d"] == 1e-3 and config["ema"] == 10
    assert (config["generator"], config["discriminator"], config["real_label"]) == ("M10", "M13", 1.0)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1:]
    assert len(rows) == 12 and all(np.isfinite([float(v) for v in r.split(",")]).all() for r in rows)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["vanishing_warnings"] == []
