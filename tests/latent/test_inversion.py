import math

import pytest
import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.latent.interpolation import REPORT_ALPHAS, interpolate, interpolate_latents, slerp
from ganforge.latent.inversion import invert, masked_mse
from ganforge.latent.masks import apply_mask, make_mask
from ganforge.latent.fidelity import psnr, ssim
from ganforge.latent.sampling import truncated_normal


def tiny_generator(z_dim=4, seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(z_dim, 32), nn.Tanh(), nn.Linear(32, 64), nn.Tanh(), nn.Unflatten(1, (1, 8, 8)))
    return G.eval().requires_grad_(False)


def test_inversion_recovers_images_the_generator_made():
    G = tiny_generator()
    z_star = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    images = G(z_star)
    result = invert(G, images, restarts=8, iters=300, seed=2)
    mse = ((result.reconstructions - images) ** 2).flatten(1).mean(1)
    assert (mse < 1e-3).all(), mse
    assert result.losses.shape == (6, 8, 300) and result.final.shape == (6, 8)
    # The chosen restart is the one with the lowest final loss.
    assert torch.equal(result.best, result.final.argmin(1))
    assert torch.allclose(result.final.min(1).values, mse, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_batched_restarts_follow_the_same_trajectories_as_alone(optimizer):
    G = tiny_generator()
    images = G(torch.randn(3, 4))
    together = invert(G, images, restarts=4, iters=40, optimizer=optimizer, seed=5)
    for j in range(4):
        alone = invert(G, images, restarts=1, iters=40, optimizer=optimizer, z_init=together.z_init[:, j:j + 1])
        assert torch.allclose(alone.losses[:, 0], together.losses[:, j], rtol=1e-4, atol=1e-7)
        assert torch.allclose(alone.z_all[:, 0], together.z_all[:, j], rtol=1e-4, atol=1e-6)


def test_inversion_with_mask_ignores_hidden_pixels():
    G = tiny_generator()
    images = G(torch.randn(2, 4))
    hidden = make_mask("square", (8, 8), generator=torch.Generator().manual_seed(0), size=4)
    garbage = images.clone()
    garbage[:, :, hidden] = 5.0  # whatever sits under the mask must not matter
    a = invert(G, images, restarts=2, iters=20, hidden=hidden, seed=1)
    b = invert(G, garbage, restarts=2, iters=20, hidden=hidden, seed=1)
    assert torch.allclose(a.losses, b.losses) and torch.allclose(a.z, b.z)


def test_masked_loss_gradient_is_zero_on_hidden_pixels():
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = torch.randn(2, 1, 8, 8)
    hidden = make_mask("crosswalk", (8, 8))
    masked_mse(x, target, ~hidden[None, None]).sum().backward()
    assert (x.grad[:, :, hidden] == 0).all()
    assert (x.grad[:, :, ~hidden] != 0).all()


def test_pepper_hides_30_percent():
    hidden = make_mask("pepper", (100, 100), generator=torch.Generator().manual_seed(0))
    assert abs(hidden.float().mean().item() - 0.3) <= 0.02
    other = make_mask("pepper", (100, 100), generator=torch.Generator().manual_seed(1))
    assert not torch.equal(hidden, other)
    assert make_mask("pepper", (28, 28), fraction=0.5).sum() == 392


def test_crosswalk_hides_every_second_row():
    hidden = make_mask("crosswalk", (28, 28))
    assert hidden[1::2].all() and not hidden[0::2].any()


@pytest.mark.parametrize("seed", range(20))
def test_square_hides_exactly_64_pixels_inside_the_image(seed):
    hidden = make_mask("square", (28, 28), generator=torch.Generator().manual_seed(seed))
    assert hidden.sum() == 64
    rows, cols = hidden.nonzero(as_tuple=True)
    assert rows.max() - rows.min() == 7 and cols.max() - cols.min() == 7


def test_masks_reject_impossible_numbers():
    with pytest.raises(GanforgeError):
        make_mask("square", (28, 28), size=29)
    with pytest.raises(GanforgeError):
        make_mask("pepper", (28, 28), fraction=1.5)
    with pytest.raises(GanforgeError, match="valid: pepper, crosswalk, square"):
        make_mask("zebra", (28, 28))


def test_apply_mask_blackens_to_background():
    x = torch.zeros(2, 3, 4, 4)
    hidden = make_mask("crosswalk", (4, 4))
    y = apply_mask(x, hidden)
    assert (y[:, :, 1::2] == -1).all() and (y[:, :, 0::2] == 0).all()


def test_psnr_and_ssim_on_known_pairs():
    x = torch.zeros(2, 1, 16, 16)
    y = x + 0.1  # MSE 0.01 over a data range of 2: PSNR = 10 log10(4 / 0.01)
    assert psnr(y, x).tolist() == pytest.approx([10 * math.log10(400)] * 2, rel=1e-5)
    assert ssim(x + torch.linspace(-1, 1, 16), x + torch.linspace(-1, 1, 16)).tolist() == pytest.approx([1, 1])
    where = torch.zeros_like(x, dtype=torch.bool)
    where[:, :, :4] = True
    z = x.clone()
    z[:, :, :4] = 0.2  # only the selected pixels differ, by 0.2
    assert psnr(z, x, where).tolist() == pytest.approx([10 * math.log10(4 / 0.04)] * 2, rel=1e-5)
    assert psnr(z, x, ~where).tolist() == [math.inf, math.inf] or (psnr(z, x, ~where) > 100).all()


def test_interpolation_endpoints_and_alphas():
    G = tiny_generator()
    z1, z2 = torch.randn(3, 4), torch.randn(3, 4)
    result = interpolate_latents(G, z1, z2)
    assert result.alphas == REPORT_ALPHAS == (0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1)
    assert result.rows.shape == (3, 9, 1, 8, 8)
    # Exact up to float rounding of the batched matmul.
    assert torch.allclose(result.rows[:, -1], G(z1), atol=1e-6) and torch.allclose(result.rows[:, 0], G(z2), atol=1e-6)
    assert torch.allclose(result.rows[:, 4], G(0.5 * z1 + 0.5 * z2), atol=1e-6)
    s = interpolate_latents(G, z1, z2, spherical=True)
    assert torch.allclose(s.rows[:, -1], G(z1), atol=1e-5) and torch.allclose(s.rows[:, 0], G(z2), atol=1e-5)
    # Between two latents of equal norm, slerp stays on their sphere.
    u, v = z1 / z1.norm(dim=1, keepdim=True), z2 / z2.norm(dim=1, keepdim=True)
    assert torch.allclose(slerp(0.3, u, v).norm(dim=1), torch.ones(3), atol=1e-5)


def test_interpolate_takes_any_image_to_z_map():
    G = tiny_generator()
    a, b = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    encode = lambda x: x.flatten(1)[:, :4]  # noqa: E731  any map will do
    result = interpolate(G, encode, a, b, alphas=[0, 1])
    assert torch.allclose(result.z1, encode(a)) and torch.allclose(result.rows[:, 1], G(encode(a)), atol=1e-6)


def test_truncation_redraws_large_components():
    g = torch.Generator().manual_seed(0)
    z = truncated_normal(1000, 16, 0.5, generator=g)
    assert z.abs().max() <= 0.5 and z.std() < 0.35  # a normal truncated at 0.5 has std ~0.28
    assert torch.equal(truncated_normal(4, 3, float("inf"), generator=torch.Generator().manual_seed(1)),
                       torch.randn(4, 3, generator=torch.Generator().manual_seed(1)))
    with pytest.raises(GanforgeError):
        truncated_normal(2, 2, 0.0)
    tiny = truncated_normal(1000, 50, 1e-30, generator=g)  # no endless redrawing, however small psi is
    assert tiny.abs().max() <= 1e-30


def test_pruned_restarts_continue_only_the_best():
    G = tiny_generator()
    images = G(torch.randn(3, 4, generator=torch.Generator().manual_seed(4)))
    full = invert(G, images, restarts=5, iters=60, seed=3)
    pruned = invert(G, images, restarts=5, iters=60, seed=3, prune_after=0.25)
    # Up to the pruning point (iteration 15) both runs are the same.
    assert torch.allclose(full.losses[:, :, :15], pruned.losses[:, :, :15])
    # Afterwards exactly one restart per image goes on: the best one at iteration 14.
    alive = torch.isfinite(pruned.losses[:, :, 15:]).all(-1)
    assert alive.sum(1).tolist() == [1, 1, 1]
    assert torch.equal(alive.float().argmax(1), full.losses[:, :, 14].argmin(1))
    assert torch.equal(pruned.best, alive.float().argmax(1))
    # The survivor's trajectory matches its trajectory in the full run.
    for i, j in enumerate(pruned.best.tolist()):
        assert torch.allclose(pruned.losses[i, j], full.losses[i, j], rtol=1e-4, atol=1e-7)
    assert torch.allclose(pruned.z, full.z_all[torch.arange(3), pruned.best], atol=1e-5)


def test_pruning_with_per_image_masks():
    G = tiny_generator()
    images = G(torch.randn(2, 4))
    g = torch.Generator().manual_seed(0)
    hidden = torch.stack([make_mask("pepper", (8, 8), generator=g) for _ in range(2)])
    result = invert(G, apply_mask(images, hidden), restarts=3, iters=20, hidden=hidden, prune_after=0.5)
    assert result.reconstructions.shape == (2, 1, 8, 8) and torch.isfinite(result.final.min(1).values).all()
