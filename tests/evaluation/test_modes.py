import math

import pytest
import torch

from ganforge.data import load_dataset
from ganforge.evaluation.classifier import load_evaluator
from ganforge.evaluation.modes import mode_histogram_metrics, stacked_breakdown, stacked_modes, toy_metrics


def test_toy_metrics_on_the_true_distribution_and_on_a_collapse():
    ring = load_dataset("ring")
    centres, std = ring.extras["centres"], ring.extras["std"]
    true = toy_metrics(ring.test[:2500], centres, std)
    # In 2-D, P(radius <= 3 std) = 1 - exp(-9/2) = 0.989.
    assert true["modes_covered"] == 8 and true["high_quality_share"] == pytest.approx(0.989, abs=0.006)
    assert true["reverse_kl"] < 0.01
    collapsed = centres[3] + std * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    one = toy_metrics(collapsed, centres, std)
    assert one["modes_covered"] == 1 and one["reverse_kl"] == pytest.approx(math.log(8), rel=1e-6)
    spread = toy_metrics(torch.zeros(2500, 2), centres, std)
    assert spread["modes_covered"] == 0 and spread["high_quality_share"] == 0


def test_mode_histogram_metrics():
    uniform = mode_histogram_metrics(torch.arange(1000).repeat(26), 1000)
    assert uniform["modes_covered"] == 1000 and uniform["kl_to_uniform"] == pytest.approx(0, abs=1e-12)
    half = mode_histogram_metrics(torch.arange(500).repeat(4), 1000)
    assert half["modes_covered"] == 500 and half["kl_to_uniform"] == pytest.approx(math.log(2))


def test_stacked_breakdown_splits_the_kl_into_channels_and_dependence():
    uniform = stacked_breakdown(torch.arange(1000).repeat(3))
    assert uniform["channel_kl_to_uniform"] == pytest.approx([0, 0, 0], abs=1e-12)
    assert uniform["channel_dependence"] == pytest.approx(0, abs=1e-12)
    red_zero = stacked_breakdown(torch.arange(100).repeat(5))  # R always 0; G and B uniform and independent
    assert red_zero["channel_kl_to_uniform"] == pytest.approx([math.log(10), 0, 0], abs=1e-12)
    assert red_zero["channel_dependence"] == pytest.approx(0, abs=1e-12)
    a, b = torch.arange(100) // 10, torch.arange(100) % 10
    green_is_red = stacked_breakdown(110 * a + b)  # every digit uniform, but G repeats R
    assert green_is_red["channel_kl_to_uniform"] == pytest.approx([0, 0, 0], abs=1e-12)
    assert green_is_red["channel_dependence"] == pytest.approx(math.log(10))
    modes = torch.randint(0, 1000, (5000,), generator=torch.Generator().manual_seed(0)) // 7 * 7
    parts = stacked_breakdown(modes)
    assert sum(parts["channel_kl_to_uniform"]) + parts["channel_dependence"] == pytest.approx(
        mode_histogram_metrics(modes, 1000)["kl_to_uniform"])


def test_real_stacked_mnist_covers_nearly_all_modes():
    data = load_dataset("stacked-mnist")
    net, _ = load_evaluator("mnist")
    modes = stacked_modes(net, data.test[:5000])
    # With a 98% per-digit evaluator, about 94% of real triples are read right.
    assert (modes == data.test_labels[:5000]).float().mean() > 0.9
    assert mode_histogram_metrics(modes, 1000)["modes_covered"] > 950


def test_anchors_count_a_mode_with_one_sample_ganforge_with_a_share():
    ring = load_dataset("ring")
    centres, std = ring.extras["centres"], ring.extras["std"]
    g = torch.Generator().manual_seed(1)
    points = torch.cat([centres[0] + std * torch.randn(2490, 2, generator=g),  # one mode crowded
                        centres[1] + 0.5 * std * torch.randn(10, 2, generator=g)])  # another with 10 of 2,500
    m = toy_metrics(points, centres, std)
    assert m["modes_with_any_sample"] == 2 and m["modes_covered"] == 1  # 10 < 0.8 % of 2,500
