"""build_gan, the one place a GAN trainer is put together (training and the benchmarks call it),
and the trainer's vanishing-gradient watch."""
import math

import pytest
import torch

from ganforge.cli import main
from ganforge.config import TrainConfig, resolve
from ganforge.models import count_parameters
from ganforge.models.fast import FoldConvTranspose2d
from ganforge.training import build_gan
from ganforge.training.gan import double_backward, memory_format
from ganforge.training.stats import VanishingWatch, read_metrics

CPU = torch.device("cpu")


def test_image_gan_is_channels_last_with_fast_layers_and_fused_adam():
    cfg = resolve(TrainConfig(generator="M4", discriminator="M5", device="cpu"))
    gan = build_gan(cfg, (1, 28, 28), CPU)
    assert memory_format(cfg, CPU, (1, 28, 28)) == torch.channels_last
    conv = next(m for m in gan.G.modules() if isinstance(m, torch.nn.ConvTranspose2d) and m.out_channels == 1)
    assert isinstance(conv, FoldConvTranspose2d)  # the 1-channel last layer, on the CPU
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert (count_parameters(gan.G), count_parameters(gan.D)) == (458_369, 138_689)  # the models' own counts
    for opt, lr in ((gan.opt_g, cfg.lr_g), (gan.opt_d, cfg.lr_d)):
        assert opt.defaults["fused"] and opt.defaults["lr"] == lr and opt.defaults["betas"] == (0.5, 0.999)
    assert gan.G_ddp is gan.G and gan.z_dim == 50 and not gan.joint_d  # one process; M5 has BatchNorm


def test_toy_gan_keeps_the_default_layout_and_flags_override():
    assert memory_format(resolve(TrainConfig(dataset="ring", device="cpu")), CPU, (2,)) == torch.contiguous_format
    cfg = resolve(TrainConfig(channels_last=False, lr_g=1e-3, device="cpu"))
    gan = build_gan(cfg, (1, 28, 28), CPU)
    assert memory_format(cfg, CPU, (1, 28, 28)) == torch.contiguous_format and gan.opt_g.defaults["lr"] == 1e-3
    conv = next(m for m in gan.D.modules() if isinstance(m, torch.nn.Conv2d))
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_same_seed_same_initial_weights_g_drawn_first():
    cfg = resolve(TrainConfig(device="cpu"))
    torch.manual_seed(3)
    a = build_gan(cfg, (1, 28, 28), CPU)
    torch.manual_seed(3)
    b = build_gan(cfg, (1, 28, 28), CPU)
    assert all(torch.equal(x, y) for x, y in zip(a.G.state_dict().values(), b.G.state_dict().values()))
    assert all(torch.equal(x, y) for x, y in zip(a.D.state_dict().values(), b.D.state_dict().values()))


def test_vanishing_watch_counts_streaks():
    w = VanishingWatch(1e-3, 3)
    rows = [{"iteration": i, "g_grad_norm": g} for i, g in enumerate([1, 0, 0, 1, 0, 0, 0, 0], 1)]
    assert w.update(rows[:4]) is None
    message = w.update(rows[4:])
    assert message and "since iteration 5" in message and w.warnings == [{"since_iteration": 5, "threshold": 1e-3}]


def _compiled(module: torch.nn.Module) -> bool:
    return getattr(module, "_compiled_call_impl", None) is not None


def test_compile_leaves_d_eager_where_the_step_differentiates_twice(capsys):
    """torch.compile's autograd cannot take a double backward: with R1/R2 or differentiable unrolling
    D stays eager (and the run says so); otherwise both are compiled."""
    gan = build_gan(resolve(TrainConfig(device="cpu", compile=True)), (1, 28, 28), CPU)  # the MNIST recipe: R1
    assert _compiled(gan.G) and not _compiled(gan.D)
    assert "--compile leaves D uncompiled" in capsys.readouterr().err
    gan = build_gan(resolve(TrainConfig(device="cpu", compile=True, r1=0.0)), (1, 28, 28), CPU)
    assert _compiled(gan.G) and _compiled(gan.D)
    cfg = resolve(TrainConfig(device="cpu", compile=True, r1=0.0, unroll_steps=2, unroll_mode="differentiable"))
    assert double_backward(cfg) and not _compiled(build_gan(cfg, (1, 28, 28), CPU).D)


@pytest.mark.slow
def test_compiled_training_with_r1_runs_its_penalty(tmp_path):
    """`ganforge train --compile` with the MNIST recipe (R1, here every 2 steps) trains, where compiling D
    too fails on the penalty's double backward."""
    out = tmp_path / "run"
    assert main(["train", "--limit", "256", "-b", "16", "-e", "1", "-q", "--log-every", "1", "--reg-every", "2",
                 "--compile", "--device", "cpu", "-o", str(out)]) == 0
    rows = read_metrics(out / "metrics.csv")
    assert len(rows) == 16 and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)
