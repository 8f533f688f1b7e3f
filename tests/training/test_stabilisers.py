"""The stabilisers' maths on tiny models: R1/R2 penalties with lazy scaling, spectral normalisation,
PacGAN packing, the learning rates' half-life, top-k training."""
import copy
import json

import pytest
import torch

from ganforge.checkpoint import load_checkpoint, plain_state_dict
from ganforge.config import TrainConfig, load_config, resolve
from ganforge.losses import get_loss
from ganforge.models import build_model
from ganforge.models.wrappers import Packed
from ganforge.training import GanTrainer, Schedule, build_gan
from ganforge.training.optim import set_decayed_rates
from ganforge.training.distributed import SINGLE
from ganforge.training.step import d_step, gradient_penalty, top_k

CPU = torch.device("cpu")


def _parts(r1=0.0, r2=0.0, reg_every=1, **kw):
    torch.manual_seed(0)
    G = build_model("toy-g", role="G", shape=(2,), z_dim=4)
    D = build_model("toy-d", role="D", shape=(2,))
    return GanTrainer(G, D, torch.optim.SGD(G.parameters(), lr=1.0), torch.optim.SGD(D.parameters(), lr=1.0),
                      get_loss("non_saturated"), 4, r1=r1, r2=r2, schedule=Schedule(reg_every=reg_every), **kw)


@pytest.mark.parametrize("r1,r2", [(10.0, 0.0), (0.0, 3.0), (2.0, 5.0)])
def test_penalised_d_step_follows_the_gradient_of_loss_plus_lazy_penalty(r1, r2):
    parts = _parts(r1, r2, reg_every=4)
    D0 = copy.deepcopy(parts.D)
    real = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    rng = torch.get_rng_state()
    d_step(parts, real, penalise=True)
    # the same update by hand: SGD with lr 1 moves each weight by minus its gradient
    torch.set_rng_state(rng)
    with torch.no_grad():
        fake = parts.G(torch.randn(16, 4))
    x_real, x_fake = real.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    real_logits, fake_logits = D0(x_real), D0(x_fake)
    real_grad, = torch.autograd.grad(real_logits.sum(), x_real, create_graph=True)
    fake_grad, = torch.autograd.grad(fake_logits.sum(), x_fake, create_graph=True)
    total = (get_loss("non_saturated").d(real_logits, fake_logits, 1.0)
             + 4 * r1 / 2 * (real_grad ** 2).sum(1).mean() + 4 * r2 / 2 * (fake_grad ** 2).sum(1).mean())
    grads = torch.autograd.grad(total, list(D0.parameters()))
    for before, after, g in zip(D0.parameters(), parts.D.parameters(), grads):
        torch.testing.assert_close(before - after, g, rtol=1e-4, atol=1e-6)


def test_without_penalise_the_step_is_the_plain_one():
    a, b = _parts(r1=10.0), _parts()
    real = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    for parts in (a, b):
        torch.manual_seed(5)
        d_step(parts, real)
    assert all(torch.equal(p, q) for p, q in zip(a.D.parameters(), b.D.parameters()))


def test_gradient_penalty_of_a_linear_critic_is_its_weight_norm_squared():
    w = torch.tensor([3.0, 4.0])
    x = torch.randn(10, 2, requires_grad=True)
    assert float(gradient_penalty(x @ w, x)) == pytest.approx(25.0)


def test_spectral_norm_holds_every_weight_layer_of_d_near_one():
    gan = build_gan(resolve(TrainConfig(spectral_norm="d", clusters=0, device="cpu")), (1, 28, 28), CPU)
    layers = [m for m in gan.D.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    assert len(layers) == 3 and all(hasattr(m, "parametrizations") for m in layers)
    assert not any(hasattr(m, "parametrizations") for m in gan.G.modules())
    x = torch.randn(32, 1, 28, 28)
    for _ in range(30):  # power iteration, one step per training forward
        gan.D(x)
    for layer in layers:
        sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.02)


def test_a_spectrally_normalised_g_saves_as_the_plain_model():
    gan = build_gan(resolve(TrainConfig(spectral_norm="both", clusters=0, device="cpu")), (1, 28, 28), CPU)
    gan.G.eval()
    plain = build_model("M4", role="G", shape=(1, 28, 28), z_dim=50)
    plain.load_state_dict(plain_state_dict(gan.G))
    plain.eval()
    z = torch.randn(4, 50)
    torch.testing.assert_close(plain(z), gan.G(z))


def test_a_spectrally_normalised_run_resumes_exactly(whole_and_resumed):
    """The power iteration's vectors u and v are buffers: saved, restored, and continued."""
    args = ["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "--limit", "512", "-b", "64", "-q",
            "--spectral-norm", "both"]
    a, b = whole_and_resumed(args)
    assert any(k.endswith("_u") for k in a)  # the power iteration's state is in the checkpoint
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))


def test_packed_d_judges_concatenated_groups():
    torch.manual_seed(0)
    inner = build_model("pac-d", role="D", shape=(6,))
    packed = Packed(inner, 3)
    x = torch.randn(12, 2)
    logits = packed(x)
    assert logits.shape == (4,)
    torch.testing.assert_close(logits[1], inner(torch.cat([x[3], x[4], x[5]])[None])[0])
    images = torch.randn(8, 1, 28, 28)
    conv = Packed(build_model("M5", role="D", shape=(2, 28, 28)), 2).eval()  # BatchNorm from running statistics
    assert conv(images).shape == (4,)
    torch.testing.assert_close(conv(images)[0], conv.d(torch.cat([images[0], images[1]])[None])[0])


def test_a_packed_toy_run_trains_and_refuses_a_batch_it_does_not_divide(tmp_path, run_cli, capsys):
    args = ["train", "--dataset", "ring", "-g", "pac-g", "-d", "pac-d", "--pack", "4", "--limit", "1000", "-e", "1",
            "-q", "--r1", "1", "--reg-every", "2", "--ema", "1"]
    assert run_cli(args + ["-b", "100", "-o", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "generator.safetensors").exists()
    assert run_cli(args + ["-b", "102", "-o", str(tmp_path / "bad")]) == 2
    assert "divisible by --pack 4" in capsys.readouterr().err


def test_learning_rates_halve_once_per_half_life():
    parts = _parts()
    for images, factor in [(0, 1.0), (500, 0.5), (1500, 0.125), (250, 2 ** -0.5)]:
        set_decayed_rates({parts.opt_g: 1e-3, parts.opt_d: 4e-3}, images, 500)
        assert parts.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * factor, rel=1e-12)
        assert parts.opt_d.param_groups[0]["lr"] == pytest.approx(4e-3 * factor, rel=1e-12)


def test_a_run_with_a_rate_half_life_ends_at_the_decayed_rates_and_resumes_exactly(whole_and_resumed, tmp_path):
    """8 iterations of 64 per epoch: the 16th and last batch starts after 15 x 64 = 960 images, so with a
    half-life of 320 images both rates are 1/8 of their start, in the checkpoint and after a resume."""
    args = ["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "--limit", "512", "-b", "64", "-q",
            "--lr-g", "1e-3", "--lr-d", "2e-3", "--lr-half-life", "0.32"]
    a, b = whole_and_resumed(args)
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))
    for run in ("whole", "cut"):
        _, meta = load_checkpoint(tmp_path / run / "checkpoints" / "last.safetensors")
        groups = meta["optimizer_groups"]
        assert groups["opt_g"][0]["lr"] == pytest.approx(1e-3 / 8)
        assert groups["opt_d"][0]["lr"] == pytest.approx(2e-3 / 8)
    config = tmp_path / "whole" / "config.json"
    assert load_config(TrainConfig, config.parent, "gan-run").lr_half_life == 0.32
    saved = json.loads(config.read_text())
    del saved["lr_half_life"], saved["clusters"]  # as a run written before these options existed
    config.write_text(json.dumps(saved))
    older = load_config(TrainConfig, config.parent, "gan-run")
    assert older.lr_half_life == 0 and older.clusters == 0  # it trained without them, whatever the recipe says


def test_a_negative_rate_half_life_is_one_line(tmp_path, run_cli, capsys):
    assert run_cli(["train", "--dataset", "ring", "--lr-half-life", "-1", "-o", str(tmp_path / "run")]) == 2
    assert "--lr-half-life must be a half-life >= 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("loss", ["non_saturated", "relativistic"])
def test_top_k_gives_g_the_gradient_of_its_loss_over_the_best_rated_fakes_alone(loss):
    """Sinha et al. 2020: G's loss as a mean over the k fakes D rates most real, the rest thrown away;
    here k = ceil(0.4 * 6) = 3, the logits 3.0, 2.0 and 1.0."""
    real = torch.tensor([0.2, 0.1, -0.3, 0.4, 0.0, 1.0])

    def g(fake: torch.Tensor, pick=slice(None)) -> torch.Tensor:
        return get_loss(loss).g(fake, real[pick]) if loss == "relativistic" else get_loss(loss).g(fake)

    fake = torch.tensor([0.5, -2.0, 3.0, 1.0, -0.5, 2.0], requires_grad=True)
    kept = top_k(fake, torch.tensor(0.4), SINGLE)
    torch.testing.assert_close(kept, fake.detach())  # the values, and so the logged loss, do not change
    g(kept).backward()
    alone, best = fake.detach().clone().requires_grad_(True), [2, 5, 3]
    g(alone[best], best).backward()
    torch.testing.assert_close(fake.grad, alone.grad)
    assert fake.grad[[0, 1, 4]].eq(0).all() and fake.grad[best].ne(0).all()
    fake.grad = None
    g(top_k(fake, torch.tensor(1e-6), SINGLE)).backward()
    assert fake.grad.ne(0).sum() == 1 and fake.grad[2] != 0  # a share too small for one still keeps the best


def test_top_k_share_halves_once_per_half_life_down_to_its_least():
    parts = _parts(top_k=0.3)
    parts.schedule = Schedule(top_k_half_life=500)
    for iteration, share in [(0, 1.0), (5, 0.5), (2.5, 2 ** -0.5), (10, 0.3), (40, 0.3)]:
        parts.prepare(iteration, 100)  # 100 images an iteration
        assert parts.top_k_share.item() == pytest.approx(share, rel=1e-6)


def test_a_top_k_run_resumes_exactly_and_refuses_a_share_of_zero(whole_and_resumed, tmp_path, run_cli, capsys):
    args = ["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "--limit", "512", "-b", "64", "-q",
            "-l", "relativistic", "--top-k", "0.5", "--top-k-half-life", "0.2"]
    a, b = whole_and_resumed(args)
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))
    assert load_config(TrainConfig, tmp_path / "whole", "gan-run").top_k == 0.5
    assert run_cli(["train", "--dataset", "ring", "--top-k", "0", "-o", str(tmp_path / "run")]) == 2
    assert "--top-k must be" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
