import math

import pytest
import torch

from ganforge.losses import LOSSES, get_loss

L = torch.tensor([0.0, 2.0, -1.0])


def sp(x):  # softplus, by hand
    return math.log1p(math.exp(x))


def test_cross_entropy_on_known_logits():
    loss = get_loss("cross_entropy")
    # D at logit 0 says 0.5 everywhere: -log 0.5 for real and for fake.
    zero = torch.zeros(4)
    assert loss.d(zero, zero, 1.0).item() == pytest.approx(2 * math.log(2))
    expected_d = sum(sp(-x) for x in L.tolist()) / 3 + sum(sp(x) for x in L.tolist()) / 3
    assert loss.d(L, L, 1.0).item() == pytest.approx(expected_d, rel=1e-6)
    # minimax G: mean log(1 - sigmoid(l)) = -mean softplus(l)
    assert loss.g(L).item() == pytest.approx(-sum(sp(x) for x in L.tolist()) / 3, rel=1e-6)


def test_label_smoothing_moves_only_the_real_target():
    loss = get_loss("non_saturated")
    real, fake = torch.tensor([3.0]), torch.tensor([-3.0])
    t = 0.9
    expected = t * sp(-3.0) + (1 - t) * sp(3.0) + sp(-3.0)
    assert loss.d(real, fake, t).item() == pytest.approx(expected, rel=1e-6)
    # The fake term is unaffected by the real label.
    assert (loss.d(real, fake, t) - loss.d(real, fake * 0 - 50, t)).item() == pytest.approx(sp(-3.0), rel=1e-4)


def test_non_saturated_generator():
    loss = get_loss("non_saturated")
    assert loss.g(L).item() == pytest.approx(sum(sp(-x) for x in L.tolist()) / 3, rel=1e-6)
    # Where D rejects fakes confidently (logit -10), minimax G's gradient vanishes, non-saturated's does not.
    x = torch.tensor([-10.0], requires_grad=True)
    (g_ns,) = torch.autograd.grad(get_loss("non_saturated").g(x), x)
    (g_mm,) = torch.autograd.grad(get_loss("cross_entropy").g(x), x)
    assert abs(g_ns.item()) > 0.99 and abs(g_mm.item()) < 1e-4


def test_least_squares():
    loss = get_loss("mse")
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert loss.d(real, fake, 1.0).item() == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    assert loss.d(real, fake, 0.9).item() == pytest.approx(0.5 * (0.01 + 0.81) / 2 + 0.25)
    assert loss.g(fake).item() == pytest.approx(0.5 * 0.5)


def test_registry_names():
    assert {"mse", "cross_entropy", "non_saturated"} <= set(LOSSES.names())
    assert get_loss("Non_Saturated") is get_loss("non_saturated")


def test_relativistic_pairing_on_known_logits():
    loss = get_loss("relativistic")
    assert loss.paired and not get_loss("non_saturated").paired
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    # D: -log σ(real_i - fake_i) per pair; G: -log σ(fake_i - real_i).
    assert loss.d(real, fake, 1.0).item() == pytest.approx((sp(-2.0) + sp(1.0)) / 2, rel=1e-6)
    assert loss.g(fake, real).item() == pytest.approx((sp(2.0) + sp(-1.0)) / 2, rel=1e-6)
    # Only differences count: the same shift of every logit changes neither loss.
    assert loss.d(real + 7, fake + 7, 1.0).item() == pytest.approx(loss.d(real, fake, 1.0).item(), rel=1e-6)
    assert loss.g(fake - 3, real - 3).item() == pytest.approx(loss.g(fake, real).item(), rel=1e-6)
    # A fake judged as real as its real partner: both players at log 2.
    assert loss.g(real, real).item() == pytest.approx(math.log(2))
