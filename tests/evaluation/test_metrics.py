import math

import pytest
import torch

from ganforge.evaluation.metrics import (class_histogram, classifier_score, density_coverage, fid, kid,
                                         precision_recall)


def one_hot(labels, k=10):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).double()


def test_classifier_score_bounds():
    assert classifier_score(one_hot(list(range(10)) * 5)) == pytest.approx(10, rel=1e-6)
    assert classifier_score(one_hot([3] * 50)) == pytest.approx(1, rel=1e-6)
    assert classifier_score(torch.full((20, 10), 0.1)) == pytest.approx(1, rel=1e-6)  # unsure about every sample


def test_class_histogram_and_kl_to_uniform():
    hist, kl = class_histogram(one_hot(list(range(10)) * 3))
    assert hist == pytest.approx([0.1] * 10) and kl == pytest.approx(0, abs=1e-12)
    hist, kl = class_histogram(one_hot([7] * 9))
    assert hist[7] == 1 and kl == pytest.approx(math.log(10))


def test_fid_of_known_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    assert fid(a, b) < 0.05  # same distribution
    shift = torch.zeros(8, dtype=torch.float64)
    shift[0] = 2.0
    assert fid(a, b + shift) == pytest.approx(4.0, abs=0.15)  # |mean difference|^2, same covariance


def test_kid_is_near_zero_for_one_distribution_and_positive_otherwise():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    same, _ = kid(a, b, subsets=10)
    other, _ = kid(a, b * 3, subsets=10)
    assert abs(same) < 0.01 and other > 0.1


def test_precision_recall_of_known_sets():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(500, 4, generator=g)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    far = torch.randn(500, 4, generator=g) + 100
    assert precision_recall(real, far) == (0.0, 0.0)
    # A collapsed generator: all its samples lie among the real ones, but it covers few of them.
    collapsed = real[:20].repeat(25, 1)
    precision, recall = precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.2


def test_density_and_coverage_of_known_sets():
    """Naeem et al.'s definitions on sets whose answers can be counted by hand."""
    g = torch.Generator().manual_seed(2)
    real = torch.randn(20, 4, generator=g, dtype=torch.float64)  # few enough for cdist's exact distances
    # the real set itself: each real ball holds its own point and its k neighbours, so (k + 1) / k, all covered
    assert density_coverage(real, real.clone(), k=5) == (pytest.approx(1.2), 1.0)
    assert density_coverage(real, real + 100, k=5) == (0.0, 0.0)
    # ten points on a line, k = 2: interior balls reach 1, the ends' 2. Every fake at 0 lies in the balls of
    # 0 and 1 (not of 2, at distance 2 > 1): density 2 / k = 1, coverage 2 of 10
    line = torch.arange(10.0)[:, None]
    assert density_coverage(line, torch.zeros(7, 1), k=2) == (1.0, 0.2)
    # the line itself and one outlier: the balls of 0 and 9 hold 3 points each, the 8 others 3 each; the
    # outlier lies in none and adds nothing (where a fake manifold's balls would have grown around it)
    fakes = torch.cat([line, torch.tensor([[50.0]])])
    density, coverage = density_coverage(line, fakes, k=2)
    assert coverage == 1.0 and density == pytest.approx((3 + 3 + 8 * 3) / (2 * 11))


def test_fid_and_kid_of_a_set_against_itself_are_zero_and_grow_with_noise():
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(1000, 16, generator=g, dtype=torch.float64) @ torch.randn(16, 16, generator=g,
                                                                                dtype=torch.float64)
    fids = [fid(feats, feats + s * torch.randn(feats.shape, generator=g, dtype=torch.float64))
            for s in (0.0, 0.3, 1.0, 3.0)]
    assert abs(fids[0]) < 1e-6 and fids[0] < fids[1] < fids[2] < fids[3]
    # KID is unbiased: two samples of one distribution give about 0, and it grows as they part.
    a, b = torch.randn(2, 800, 16, generator=g)
    kids = [kid(a, b + s * torch.randn(b.shape, generator=g), subsets=10)[0] for s in (0.0, 1.0, 3.0)]
    assert abs(kids[0]) < 0.01 and kids[0] < kids[1] < kids[2]
