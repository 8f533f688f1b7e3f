"""Differentiable augmentation: each operation's maths, the probability it is applied with, ADA's
adaptation, and a run that augments and resumes exactly."""
import pytest
import torch

from ganforge.training.augment import Augment, Augmented, background, colour, cutout, translate


def _digits(b=4, h=8):
    x = -torch.ones(b, 1, h, h)
    x[:, :, 2:6, 3:5] = torch.rand(b, 1, 4, 2)  # a stroke on a black background
    return x


def test_background_is_the_border_mean_per_channel():
    x = torch.zeros(2, 3, 6, 6)
    x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1] = -1, -1, -1, -1
    x[1, 2] = 0.5  # channel 2 of image 1 is flat grey
    fill = background(x)
    assert fill.shape == (2, 3, 1, 1) and fill[0].eq(-1).all() and float(fill[1, 2]) == 0.5


def test_translation_moves_pixels_and_fills_with_the_background():
    x = _digits()
    shift = torch.tensor([[2, -3], [0, 0], [-1, 1], [1, 0]])
    out = translate(x, shift, background(x), (3, 3))
    torch.testing.assert_close(out[0, :, 2:, :5], x[0, :, :6, 3:])  # row r comes from r - 2, column c from c + 3
    assert out[0, :, :2].eq(-1).all() and out[0, :, :, 5:].eq(-1).all()
    torch.testing.assert_close(out[1], x[1])


def test_cutout_fills_a_square_with_the_background():
    x = torch.rand(3, 1, 8, 8)
    x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1] = -1, -1, -1, -1
    out = cutout(x, torch.tensor([[4, 4], [4, 4], [0, 0]]), 4, background(x))
    changed = (out != x).flatten(1).sum(1)
    assert out[0, 0, 2:6, 2:6].eq(-1).all() and int(changed[0]) == 16
    assert out[2, 0, :2, :2].eq(-1).all() and out[2, 0, 2:, 2:].equal(x[2, 0, 2:, 2:])  # clipped at the corner


def test_colour_at_the_middle_of_its_ranges_is_the_identity():
    x = torch.rand(2, 3, 5, 5) * 2 - 1
    torch.testing.assert_close(colour(x, torch.full((2, 3), 0.5)), x)


def test_probability_zero_changes_nothing_one_changes_and_lets_gradients_through():
    x = _digits(16).requires_grad_(True)
    assert torch.equal(Augment(["translation", "cutout"], p=0.0)(x), x)
    torch.manual_seed(0)
    out = Augment(["translation", "cutout"], p=1.0)(x)
    assert not torch.equal(out, x)
    out.sum().backward()
    assert x.grad.abs().sum() > 0


def test_ada_moves_p_by_its_step_towards_the_target():
    aug = Augment(["translation"], p=0.5, target=0.6, interval=4, speed=64_000, batch=64)  # steps of 0.004
    for i in range(4):
        assert float(aug.p) == 0.5  # not before the interval's last iteration
        aug.observe(torch.ones(64))  # D sure of every real sample: r = 1 > 0.6, more augmentation
    assert float(aug.p) == pytest.approx(0.504)
    for i in range(4, 8):
        aug.observe(-torch.ones(64))
    assert float(aug.p) == pytest.approx(0.500)
    assert float(aug.signs.sum()) == 0  # the tally restarts after each adjustment


def test_augmented_d_sees_augmented_inputs():
    seen = []
    D = Augmented(torch.nn.Identity(), Augment(["cutout"], p=1.0))
    D.d.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    x = torch.rand(4, 1, 8, 8)
    D(x)
    assert not torch.equal(seen[0], x)


def test_an_augmented_adaptive_run_resumes_exactly(whole_and_resumed):
    args = ["train", "--dataset", "mnist", "-g", "M2", "-d", "M3", "-b", "32", "--limit", "128", "-q",
            "--augment", "translation,cutout", "--augment-p", "0.5", "--ada-target", "0.6"]
    a, b = whole_and_resumed(args)
    assert "D.augment.p" in a and float(a["D.augment.p"]) != 0.5  # p moved, and was saved
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))
