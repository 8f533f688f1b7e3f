"""The moving average of G's weights: its warm-up, its update, and its place in runs and generators."""
import pytest
import torch

from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main
from ganforge.loading import open_generator
from ganforge.training.ema import EmaOfG, ema_beta

RING = ["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "-b", "500", "--limit", "2000", "-q",
        "--log-every", "2"]


def test_half_life_grows_with_the_images_seen_up_to_its_cap():
    # 640 images with rampup 0.05: a half-life of 32 images, so a batch of 64 leaves a quarter of the old average
    assert ema_beta(640, 64, half_life=10_000, rampup=0.05) == pytest.approx(0.25)
    # after 10^6 images the cap (10,000 images) rules: 0.5 ** (64 / 10,000)
    assert ema_beta(10**6, 64, half_life=10_000, rampup=0.05) == pytest.approx(0.5 ** 0.0064)
    assert ema_beta(64, 64, half_life=10_000, rampup=None) == pytest.approx(0.5 ** 0.0064)


def test_update_blends_parameters_and_copies_buffers():
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = EmaOfG(G, half_life=10_000, rampup=0.05)
    ema.update(G, 64, 64)  # the first update copies G
    first = [p.clone() for p in G.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
        G[1].running_mean.fill_(7.0)
    ema.update(G, 640, 64)  # beta 0.25 (see above)
    for avg, old, new in zip(ema.model.module.parameters(), first, G.parameters()):
        torch.testing.assert_close(avg, 0.25 * old + 0.75 * new)
    assert torch.equal(ema.model.module[1].running_mean, torch.full((4,), 7.0))
    assert int(ema.model.n_averaged) == 2 and not any(p.requires_grad for p in ema.model.parameters())


def test_runs_keep_both_weights_and_resume_the_average_exactly(tmp_path):
    args = RING + ["--ema", "0.5"]
    assert main(args + ["-e", "2", "-o", str(tmp_path / "whole")]) == 0
    assert main(args + ["-e", "1", "-o", str(tmp_path / "cut")]) == 0
    assert main(["train", "--resume", str(tmp_path / "cut"), "-e", "2", "-q"]) == 0
    whole, _ = load_checkpoint(tmp_path / "whole" / "generator.safetensors")
    cut, meta = load_checkpoint(tmp_path / "cut" / "generator.safetensors")
    assert meta["ema"] and any(k.startswith("G_ema.") for k in cut)
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    averaged, raw = open_generator(tmp_path / "cut"), open_generator(tmp_path / "cut", raw=True)
    assert averaged.meta["weights"] == "ema" and raw.meta["weights"] == "raw"
    z = torch.randn(8, averaged.z_dim)
    assert not torch.equal(averaged.G(z), raw.G(z))
    # the training checkpoint opens as a generator too, with the same average
    from_checkpoint = open_generator(tmp_path / "cut" / "checkpoints" / "last.safetensors")
    assert torch.equal(from_checkpoint.G(z), averaged.G(z))


def test_commands_use_the_average_unless_told(tmp_path, capsys):
    assert main(RING + ["--ema", "0.5", "-e", "1", "-o", str(tmp_path / "run")]) == 0
    for flags, weights in (([], "ema"), (["--raw-weights"], "raw")):
        out = tmp_path / f"eval-{weights}"
        assert main(["evaluate", "--generator", str(tmp_path / "run"), "-o", str(out), *flags]) == 0
        assert f'"weights": "{weights}"' in (out / "metrics.json").read_text()
