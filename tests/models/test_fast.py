"""The CPU fast paths compute what the stock layers compute, gradients included."""
import platform
import resource
import subprocess
import sys

import pytest
import torch
from torch import nn

from ganforge.losses import get_loss
from ganforge.models import build_model
from ganforge.models.fast import FastDropout, FoldConvTranspose2d, LayoutFlatten, speed_up
from ganforge.training import GanTrainer
from ganforge.training.step import d_step

CPU = torch.device("cpu")


@pytest.mark.parametrize("args", [
    dict(in_channels=128, out_channels=1, kernel_size=4, stride=2, padding=1),  # M1's last layer
    dict(in_channels=8, out_channels=3, kernel_size=4, stride=2, padding=1),  # RGB
    dict(in_channels=16, out_channels=1, kernel_size=5, stride=1, padding=2, bias=False),
    dict(in_channels=4, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1, dilation=2),
    dict(in_channels=4, out_channels=2, kernel_size=(3, 2), stride=(2, 1), padding=(0, 1)),
])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels-last"])
def test_fold_transposed_convolution_is_the_stock_one(args, channels_last):
    torch.manual_seed(0)
    stock = nn.ConvTranspose2d(**args).double()
    fold = FoldConvTranspose2d(**args).double()
    fold.load_state_dict(stock.state_dict())
    x = torch.randn(5, args["in_channels"], 7, 6, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = stock(xa), fold(xb)
    assert ya.shape == yb.shape
    torch.testing.assert_close(yb, ya)
    g = torch.randn_like(ya)
    ya.backward(g), yb.backward(g)
    torch.testing.assert_close(xb.grad, xa.grad)
    for pa, pb in zip(stock.parameters(), fold.parameters()):
        torch.testing.assert_close(pb.grad, pa.grad)


def test_fold_transposed_convolution_has_second_derivatives():
    torch.manual_seed(0)
    fold = FoldConvTranspose2d(3, 1, 4, 2, 1).double()
    x = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x, w: nn.functional.softplus(
        torch.func.functional_call(fold, {"weight": w, "bias": fold.bias}, (x,))).sum(), (x, fold.weight.detach()
                                                                                       .clone().requires_grad_()))


def test_fast_dropout_keeps_a_1_minus_p_share_scaled_up():
    torch.manual_seed(0)
    drop = FastDropout(0.3)
    y = drop(torch.ones(1000, 1000))
    kept = y != 0
    assert kept.float().mean().item() == pytest.approx(0.7, abs=0.002)  # 1e6 draws: sd 0.00046
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    x = torch.randn(4, 5)
    assert drop.eval()(x) is x
    assert (FastDropout(1.0)(x) == 0).all() and FastDropout(0.0)(x) is x


def test_fast_dropout_gradient_is_the_mask():
    torch.manual_seed(0)
    x = torch.randn(64, 32, requires_grad=True)
    y = FastDropout(0.5)(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y != 0).float() * 2)


def test_layout_flatten_returns_a_channels_last_gradient():
    x = torch.randn(3, 4, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = LayoutFlatten()(x * 1)
    torch.testing.assert_close(y, nn.Flatten()(x))
    grads = []
    x.register_hook(grads.append)
    (y * torch.arange(100.0)).sum().backward()
    assert grads[0].is_contiguous(memory_format=torch.channels_last) and not grads[0].is_contiguous()
    torch.testing.assert_close(grads[0], torch.arange(100.0).view(1, 4, 5, 5).expand(3, -1, -1, -1))


def test_speed_up_swaps_only_the_slow_layers_and_keeps_the_state_dict():
    torch.manual_seed(0)
    G = build_model("M1", role="G", shape=(1, 28, 28), z_dim=50)
    D = build_model("M3", role="D", shape=(1, 28, 28))
    before_g, before_d = G.state_dict(), D.state_dict()
    z, x = torch.randn(6, 50), torch.randn(6, 1, 28, 28)
    G.eval(), D.eval()
    y_g, y_d = G(z), D(x)
    speed_up(G, CPU), speed_up(D, CPU)
    # 128 -> 1 is the only transposed convolution narrow enough for the fold path
    assert [type(m).__name__ for m in G.conv if isinstance(m, nn.ConvTranspose2d)] == \
        ["ConvTranspose2d", "ConvTranspose2d", "FoldConvTranspose2d"]
    assert sum(isinstance(m, FastDropout) for m in D.modules()) == 3
    assert not D.training and not G.conv[4].training  # modes carried over
    for before, model in ((before_g, G), (before_d, D)):
        after = model.state_dict()
        assert list(after) == list(before)
        for name in before:
            assert torch.equal(after[name], before[name])
    torch.testing.assert_close(G(z), y_g, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(D(x), y_d)


def test_speed_up_leaves_other_devices_and_wide_outputs_alone():
    G = build_model("M1", role="G", shape=(1, 28, 28), z_dim=50)
    speed_up(G, torch.device("cuda"))
    assert not any(isinstance(m, FoldConvTranspose2d) for m in G.modules())
    rgb = speed_up(build_model("M1", role="G", shape=(3, 28, 28), z_dim=50), CPU)  # 3 x 4 x 4 columns: stock wins
    assert not any(isinstance(m, FoldConvTranspose2d) for m in rgb.modules())


def parts_for(d_name: str) -> GanTrainer:
    torch.manual_seed(0)
    G = build_model("M2", role="G", shape=(1, 28, 28), z_dim=8)
    D = build_model(d_name, role="D", shape=(1, 28, 28))
    sgd = torch.optim.SGD
    return GanTrainer(G, D, sgd(G.parameters(), 0.1), sgd(D.parameters(), 0.1), get_loss("non_saturated"), 8)


def test_discriminator_without_batch_norm_scores_real_and_fake_in_one_pass():
    assert parts_for("M3").joint_d and not parts_for("M5").joint_d
    one, two = parts_for("M3"), parts_for("M3")
    two.joint_d = False
    for parts in (one, two):
        parts.D.eval()  # no dropout: both passes see the same network
    real = torch.randn(16, 1, 28, 28)
    results = []
    for parts in (one, two):
        torch.manual_seed(1)
        results.append(d_step(parts, real))
    for a, b in zip(*results):
        if a is not None:
            torch.testing.assert_close(a, b)
    for pa, pb in zip(one.D.parameters(), two.D.parameters()):
        torch.testing.assert_close(pa, pb)


FAULTS = """
import resource, sys, torch
from torch import nn
from ganforge.device import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "keep" else "default")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 2048), nn.ReLU(), nn.Linear(2048, 16))
x = torch.randn(4096, 16)  # hidden activations of 32 MiB


def step():
    model.zero_grad(set_to_none=True)
    model(x).square().mean().backward()


for _ in range(10):
    step()
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


@pytest.mark.slow  # ten steps in two fresh processes
@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mallopt")
def test_kept_memory_stops_each_steps_page_faults():
    """Ten training steps of a small MLP whose hidden activations take 32 MiB: by default glibc maps
    each large tensor afresh and every step faults them all in again (measured: 330,000 faults);
    with the freed memory kept, steps after the first reuse it (measured: 1, and in one run of five
    8,192, a single activation's pages, once: the heap grew once, not every step)."""
    pages = (1 << 25) // resource.getpagesize()  # one 32 MiB activation
    runs = {mode: subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True)
            .stdout.split() for mode in ("default", "keep")}
    assert runs["keep"][0] == "True"
    assert int(runs["default"][1]) > 10 * pages  # more than one activation's pages per step
    assert int(runs["keep"][1]) < 2 * pages  # not once per step: at most one activation over ten steps
