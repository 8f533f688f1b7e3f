"""torchrun + DDP on CPU (gloo): two processes with global batch B take the steps one process takes."""
import os
import subprocess
import sys

import pytest
import torch

from ganforge.checkpoint import load_checkpoint
from ganforge.training.distributed import GlooSyncBatchNorm, convert_sync_bn
from ganforge.training.stats import read_metrics

pytestmark = pytest.mark.slow  # two processes per test

TOY = ["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "-b", "64", "--limit", "512", "-q", "--log-every",
       "1", "--seed", "3"]
# Small learning rates: Adam turns float noise in near-zero gradients into steps of size lr, so with the
# default 2e-4 two processes drift apart by ~1e-3 in four steps; running statistics without --sync-bn
# differ by 6e-4 to 7e-2 (measured), far outside these tolerances.
BN = ["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "-b", "32", "--limit", "128", "-q", "--log-every", "1",
      "-e", "1", "--lr-g", "2e-5", "--lr-d", "2e-5"]


def ganforge(args, procs: int = 1) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
                if procs > 1 else [sys.executable])
    done = subprocess.run([*launcher, "-m", "ganforge", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run) -> dict:
    tensors, _ = load_checkpoint(run / "checkpoints" / "last.safetensors")
    return tensors


def assert_same_run(a, b, atol=2e-5) -> None:
    ra, rb = read_metrics(a / "metrics.csv"), read_metrics(b / "metrics.csv")
    assert [r["iteration"] for r in ra] == [r["iteration"] for r in rb]
    for x, y in zip(ra, rb):
        for key in ("d_loss", "g_loss", "d_real", "d_fake"):
            assert x[key] == pytest.approx(y[key], rel=1e-4, abs=1e-5), (x["iteration"], key)
    wa, wb = weights(a), weights(b)
    for name in (n for n in wa if n.startswith(("G.", "D.", "G_ema."))):
        torch.testing.assert_close(wa[name], wb[name], atol=atol, rtol=1e-4, msg=name)


@pytest.mark.parametrize("unroll", [[], ["-k", "2"], ["-k", "2", "--unroll-mode", "differentiable"],
                                    ["--pack", "4", "--ema", "1", "--r1", "1", "--r2", "1", "--reg-every", "2",
                                     "--lr-half-life", "0.2"],
                                    ["--spectral-norm", "both", "-k", "2"],
                                    ["--top-k", "0.5", "--top-k-half-life", "0.2"]],
                         ids=["k0", "k2-restore", "k2-differentiable", "stabilisers", "spectral-norm", "top-k"])
def test_two_processes_match_one(tmp_path, unroll):
    ganforge(TOY + unroll + ["-e", "2", "-o", str(tmp_path / "one")])
    two = ganforge(TOY + unroll + ["-e", "2", "-o", str(tmp_path / "two")], procs=2)
    assert_same_run(tmp_path / "one", tmp_path / "two")
    assert len(read_metrics(tmp_path / "two" / "metrics.csv")) == 16  # 8 iterations per epoch, written once
    assert two.stdout.count("outputs in") == 1  # rank 0 alone reports


def test_resume_under_ddp_continues_exactly(tmp_path):
    ganforge(TOY + ["-e", "2", "-o", str(tmp_path / "one")])
    ganforge(TOY + ["-e", "1", "-o", str(tmp_path / "two")], procs=2)
    ganforge(["train", "--resume", str(tmp_path / "two"), "-e", "2", "-q"], procs=2)
    assert_same_run(tmp_path / "one", tmp_path / "two")


def test_sync_bn_running_statistics_match_one_process(tmp_path):
    ganforge(BN + ["-o", str(tmp_path / "one")])
    ganforge(BN + ["--sync-bn", "-o", str(tmp_path / "two")], procs=2)
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    stats = [n for n in one if n.endswith(("running_mean", "running_var"))]
    assert len(stats) >= 6  # M4 and M5 both normalise
    for name in stats:
        torch.testing.assert_close(one[name], two[name], atol=1e-4, rtol=1e-3, msg=name)
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-4)


def test_augmented_adaptive_images_match_one_process(tmp_path):
    """Each rank augments its shard with the numbers one process draws for those samples, and ADA's p
    follows D's signs summed over all ranks."""
    ada = ["--augment", "translation,cutout", "--augment-p", "0.5", "--ada-target", "0.6", "--sync-bn",
           "--limit", "160"]  # 5 iterations: p moves after the 4th, the 5th's signs are in the checkpoint
    ganforge(BN + ada + ["-o", str(tmp_path / "one")])
    ganforge(BN + ada + ["-o", str(tmp_path / "two")], procs=2)
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert float(one["D.augment.p"]) != 0.5  # p moved
    torch.testing.assert_close(one["D.augment.p"], two["D.augment.p"])
    assert float(one["D.augment.signs"][1]) == 32  # the last iteration's global batch
    torch.testing.assert_close(one["D.augment.signs"], two["D.augment.signs"])  # every rank's signs, summed
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-4)


@pytest.mark.parametrize("unroll", [[], ["-k", "2", "--unroll-mode", "differentiable"], ["--condition-ramp", "2"],
                                    ["--class-prior", "data", "--class-batchnorm"]],
                         ids=["k0", "k2-differentiable", "condition-ramp", "class-prior-batchnorm"])
def test_a_conditional_gan_matches_one_process(tmp_path, unroll):
    """Each rank takes its shard of the batch's labels with its images, and of G's drawn classes."""
    cond = ["--conditional", "--sync-bn", *unroll]
    ganforge(BN + cond + ["-o", str(tmp_path / "one")])
    ganforge(BN + cond + ["-o", str(tmp_path / "two")], procs=2)
    assert "D.embed.weight" in weights(tmp_path / "two")
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-4)


@pytest.mark.parametrize("packs", [[], ["--pack", "2", "--pack-by-class"]], ids=["plain", "pack-by-class"])
def test_a_self_conditioned_gan_matches_one_process(tmp_path, packs):
    """Rank 0 finds the clusters and every rank trains on them; G's clusters are drawn from their sizes
    (under --pack-by-class, one draw per pack, each rank's shard holding whole packs)."""
    clustered = ["--clusters", "5", "--sync-bn", *packs]
    ganforge(BN + clustered + ["-o", str(tmp_path / "one")])
    ganforge(BN + clustered + ["-o", str(tmp_path / "two")], procs=2)
    assert tuple(weights(tmp_path / "two")["G.embed.weight"].shape) == (5, 5)
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-4)


def test_gloo_sync_batch_norm_is_batch_norm_in_one_process():
    bn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    sync = convert_sync_bn(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)), torch.device("cpu"))
    sync.load_state_dict(bn.state_dict())
    assert isinstance(sync[1], GlooSyncBatchNorm)
    x = torch.randn(8, 3, 6, 6)
    torch.testing.assert_close(sync(x), bn(x))
    torch.testing.assert_close(sync[1].running_var, bn[1].running_var)


def test_a_labelled_image_folder_streamed_from_host_memory_matches_one_process(tmp_path, noise_pictures):
    """--images with class subfolders, --conditional on them, --fit pad on a --background, and the data
    streamed (--data-memory 0): each rank gathers its own shard of every batch, as one process does. The
    recipe's moving average is refreshed by rank 0 alone, its synchronised BatchNorm acting locally."""
    folder = tmp_path / "classes"
    folder.mkdir()
    for name, seed in (("cats", 0), ("dogs", 1)):
        noise_pictures(name, 40, (20, 14), seed).rename(folder / name)
    run = ["train", "--images", str(folder), "--image-size", "16", "--fit", "pad", "--background", "#336699",
           "--conditional", "--data-memory", "0", "-b", "16", "-e", "1", "-q", "--log-every", "1", "--sync-bn",
           "--lr-g", "2e-5", "--lr-d", "2e-5"]
    ganforge(run + ["-o", str(tmp_path / "one")])
    two = ganforge(run + ["-o", str(tmp_path / "two")], procs=2)
    assert "stream to it batch by batch" in two.stderr
    assert any(k.startswith("D.") and k.endswith("embed.weight") for k in weights(tmp_path / "two"))
    assert_same_run(tmp_path / "one", tmp_path / "two", atol=1e-4)
