import copy

import pytest
import torch

from ganforge.data import load_dataset
from ganforge.losses import get_loss
from ganforge.models import build_model
from ganforge.training import GanTrainer, Schedule
from ganforge.training.batches import Batches
from ganforge.training.step import g_step_unrolled_differentiable, g_step_unrolled_restore, unrolled_g_loss


def tiny_parts(dtype=torch.float32, lr_g=1e-3, lr_d=1e-2, loss="non_saturated", seed=0, batch=16):
    """A trainer of toy models on 512 random 2-D points, drawing batches of ``batch`` from its own generator."""
    torch.manual_seed(seed)
    G = build_model("toy-g", role="G", shape=(2,), z_dim=4).to(dtype)
    D = build_model("toy-d", role="D", shape=(2,)).to(dtype)
    g = torch.Generator().manual_seed(1)
    data = torch.randn(512, 2, generator=g, dtype=dtype)
    return GanTrainer(G, D, torch.optim.Adam(G.parameters(), lr_g, betas=(0.5, 0.999)),
                      torch.optim.Adam(D.parameters(), lr_d, betas=(0.5, 0.999)), get_loss(loss), 4,
                      batches=Batches(data, batch_size=batch, seed=0, draw_rng=g))


def make_draw(parts):
    return parts.batches.draw  # a random batch and its (no) classes


def warm_up(parts, draw, steps=3):
    # Give D's optimiser non-trivial Adam moments before the checks.
    for _ in range(steps):
        parts.train_step(*draw())


def test_restore_mode_leaves_d_and_its_optimiser_exactly_as_before():
    parts = tiny_parts()
    draw = make_draw(parts)
    warm_up(parts, draw)
    d_before = copy.deepcopy(parts.D.state_dict())
    opt_before = copy.deepcopy(parts.opt_d.state_dict())
    g_before = copy.deepcopy(parts.G.state_dict())
    g_step_unrolled_restore(parts, [draw() for _ in range(5)])
    for k, v in parts.D.state_dict().items():
        assert torch.equal(v, d_before[k]), k
    after = parts.opt_d.state_dict()
    assert after["param_groups"] == opt_before["param_groups"]
    for pid, state in opt_before["state"].items():
        for key, value in state.items():
            assert torch.equal(after["state"][pid][key], value), (pid, key)
    # ...while G did move.
    assert any(not torch.equal(v, g_before[k]) for k, v in parts.G.state_dict().items())


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _g_grads_after(step_fn, seed=5, **kw):
    parts = tiny_parts(dtype=torch.float64, lr_g=0.0, **kw)
    draw = make_draw(parts)
    warm_up(parts, draw)
    torch.manual_seed(seed)
    step_fn(parts, [draw() for _ in range(3)])
    return torch.cat([p.grad.flatten() for p in parts.G.parameters()])


def test_differentiable_mode_gradient_differs_from_restore_mode(float64):
    g_restore = _g_grads_after(g_step_unrolled_restore)
    g_diff = _g_grads_after(g_step_unrolled_differentiable)
    rel = (g_diff - g_restore).norm() / g_restore.norm()
    # Same batches, same z, same look-ahead D: the only difference is the term through D's updates.
    assert rel > 1e-3
    cos = torch.nn.functional.cosine_similarity(g_diff, g_restore, dim=0)
    assert cos > 0.5  # the direct term still dominates after a few small D steps


@pytest.mark.parametrize("loss", ["non_saturated", "relativistic"])
def test_differentiable_unrolled_gradient_matches_finite_differences(float64, loss):
    parts = tiny_parts(dtype=torch.float64, lr_d=0.05, loss=loss)
    draw = make_draw(parts)
    warm_up(parts, draw)
    torch.manual_seed(7)
    reals = [draw() for _ in range(3)]
    zs = [(torch.randn(16, 4, dtype=torch.float64), None) for _ in range(3)]
    z_g = (torch.randn(16, 4, dtype=torch.float64), None)

    def f():
        return unrolled_g_loss(parts, reals, zs, z_g)

    params = list(parts.G.parameters())
    grads = torch.autograd.grad(f(), params)
    g = torch.Generator().manual_seed(0)
    h = 1e-6
    for p, grad in zip(params, grads):
        for i in torch.randint(p.numel(), (3,), generator=g).tolist():
            flat = p.data.view(-1)
            old = flat[i].item()
            flat[i] = old + h  # p.data: outside autograd, while f() itself needs gradients inside
            up = f().item()
            flat[i] = old - h
            down = f().item()
            flat[i] = old
            fd = (up - down) / (2 * h)
            assert grad.view(-1)[i].item() == pytest.approx(fd, rel=1e-4, abs=1e-8)


def test_step_counts_follow_gs_and_ds():
    parts = tiny_parts()
    draw = make_draw(parts)
    parts.schedule = Schedule(d_steps=3, g_steps=2)
    parts.train_step(*draw())
    steps_d = {int(s["step"]) for s in parts.opt_d.state.values()}
    steps_g = {int(s["step"]) for s in parts.opt_g.state.values()}
    assert steps_d == {3} and steps_g == {2}
    # With restore unrolling, look-ahead D steps leave no trace in D's step count.
    parts.schedule = Schedule(d_steps=1, g_steps=2, unroll_steps=4)
    parts.train_step(*draw())
    assert {int(s["step"]) for s in parts.opt_d.state.values()} == {4}
    assert {int(s["step"]) for s in parts.opt_g.state.values()} == {4}


def test_step_statistics_are_what_their_names_say():
    """d_real, d_fake and d_loss are D's view before its update; g_grad_norm is the norm of G's gradient."""
    parts = tiny_parts()
    draw = make_draw(parts)
    warm_up(parts, draw)
    real, _ = draw()
    D_before, G_before = copy.deepcopy(parts.D), copy.deepcopy(parts.G)
    rng = torch.get_rng_state()
    stats = parts.train_step(real)
    assert stats._fields == ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm")
    assert all(t.dim() == 0 and t.device == real.device for t in stats)
    torch.set_rng_state(rng)  # the same latents the step drew
    fake = G_before(torch.randn(len(real), 4))
    with torch.no_grad():
        real_logits, fake_logits = D_before(real), D_before(fake)
    assert float(stats.d_real) == pytest.approx(float(torch.sigmoid(real_logits).mean()), rel=1e-5)
    assert float(stats.d_fake) == pytest.approx(float(torch.sigmoid(fake_logits).mean()), rel=1e-5)
    assert float(stats.d_loss) == pytest.approx(float(parts.loss.d(real_logits, fake_logits, 1.0)), rel=1e-5)
    # G's loss is against the updated D, on the same fake batch; its gradient is G's gradient there.
    g_loss = parts.loss.g(parts.D(fake))
    assert float(stats.g_loss) == pytest.approx(float(g_loss.detach()), rel=1e-5)
    grads = torch.autograd.grad(g_loss, list(G_before.parameters()))
    assert float(stats.g_grad_norm) == pytest.approx(float(torch.cat([g.flatten() for g in grads]).norm()), rel=1e-4)


def test_unrolled_ring_gan_covers_its_modes():
    """A small GAN on the 8-Gaussian ring, unrolled k=3 as the report did, covers >= 6 of 8 modes."""
    data = load_dataset("ring")
    torch.manual_seed(0)
    G = build_model("toy-g", role="G", shape=(2,), z_dim=16)
    D = build_model("toy-d", role="D", shape=(2,))
    batches = Batches(data.train, batch_size=256, seed=0, draw_rng=torch.Generator().manual_seed(1))
    parts = GanTrainer(G, D, torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.999)),
                       torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.999)), get_loss("non_saturated"), 16,
                       schedule=Schedule(unroll_steps=3), batches=batches)
    for _ in range(300):
        parts.train_step(*batches.draw())
    with torch.no_grad():
        samples = G(torch.randn(2500, 16))
    dist, mode = torch.cdist(samples, data.extras["centres"]).min(1)
    near = dist < 0.2  # 10 standard deviations of a mode
    counts = torch.bincount(mode[near], minlength=8)
    covered = int((counts >= 25).sum())  # a mode counts when it holds >= 1% of the samples
    assert covered >= 6, counts.tolist()


@pytest.mark.parametrize("fused", [True, False])
def test_restored_adam_state_takes_the_channels_last_parameters_layout(fused):
    """Saved moments come back contiguous; a fused Adam on channels-last weights must still step
    exactly as the uninterrupted optimiser does."""
    from ganforge.checkpoint import optimizer_tensors, restore_optimizer

    def fresh():
        p = torch.arange(4 * 3 * 5 * 5, dtype=torch.float32).view(4, 3, 5, 5).to(memory_format=torch.channels_last)
        p = p.div(100).requires_grad_()
        return p, torch.optim.Adam([p], lr=0.1, fused=fused)

    grads = [torch.randn(4, 3, 5, 5).to(memory_format=torch.channels_last) for _ in range(2)]
    a, opt_a = fresh()
    for g in grads:
        a.grad = g.clone()
        opt_a.step()
    b, opt_b = fresh()
    b.grad = grads[0].clone()
    opt_b.step()
    state, groups = optimizer_tensors(opt_b)
    b2, opt_b2 = fresh()
    with torch.no_grad():
        b2.copy_(b)
    restore_optimizer(opt_b2, {k: v.contiguous() for k, v in state.items()}, groups)
    b2.grad = grads[1].clone()
    opt_b2.step()
    assert torch.equal(a, b2)


def test_relativistic_step_pairs_each_fake_with_a_real_sample():
    """With a paired loss, d_real is σ(real - fake) per pair before D's update, d_fake its complement,
    and G's loss sets each fake against D's updated logit on the same real batch."""
    parts = tiny_parts(loss="relativistic")
    draw = make_draw(parts)
    warm_up(parts, draw)
    real, _ = draw()
    D_before, G_before = copy.deepcopy(parts.D), copy.deepcopy(parts.G)
    rng = torch.get_rng_state()
    stats = parts.train_step(real)
    torch.set_rng_state(rng)
    fake = G_before(torch.randn(len(real), 4))
    with torch.no_grad():
        margin = D_before(real) - D_before(fake)
    assert float(stats.d_real) == pytest.approx(float(torch.sigmoid(margin).mean()), rel=1e-5)
    assert float(stats.d_real + stats.d_fake) == pytest.approx(1.0, rel=1e-6)
    assert float(stats.d_loss) == pytest.approx(float(torch.nn.functional.softplus(-margin).mean()), rel=1e-5)
    with torch.no_grad():
        real_after = parts.D(real)
    g_loss = torch.nn.functional.softplus(real_after - parts.D(fake)).mean()
    assert float(stats.g_loss) == pytest.approx(float(g_loss.detach()), rel=1e-5)
    grads = torch.autograd.grad(g_loss, list(G_before.parameters()))
    assert float(stats.g_grad_norm) == pytest.approx(float(torch.cat([g.flatten() for g in grads]).norm()), rel=1e-4)
    # The restore-mode look-ahead pairs its fakes with the last look-ahead batch, and still restores D.
    d_before = copy.deepcopy(parts.D.state_dict())
    g_step_unrolled_restore(parts, [draw() for _ in range(2)])
    assert all(torch.equal(v, d_before[k]) for k, v in parts.D.state_dict().items())
