"""Class-conditional G and projection D: their maths on tiny models, a conditional toy GAN that
learns which class goes where, and --conditional runs with every loss, unrolling mode and stabiliser."""
import pytest
import torch

from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.loading import open_generator
from ganforge.losses import get_loss
from ganforge.models import build_model, count_parameters
from ganforge.models.conditional import (ClassBatchNorm, ProjectionD, WithClasses, class_strength,
                                         conditional_generator, set_class_strength)
from ganforge.models.wrappers import Packed
from ganforge.training import GanTrainer
from ganforge.training.stats import read_metrics

SHAPE = (1, 28, 28)


def test_projection_d_adds_the_class_embedding_dotted_with_the_features_of_the_last_layer():
    torch.manual_seed(0)
    d = build_model("M5", role="D", shape=SHAPE).eval()
    proj = ProjectionD(d, 10).eval()
    x, y = torch.randn(6, *SHAPE), torch.tensor([0, 3, 3, 9, 1, 7])
    phi = d.net[:-1](x)  # what M5's last linear layer reads: (6, 6272)
    expected = d(x) + (proj.embed(y) * phi).sum(1)
    torch.testing.assert_close(proj(x, y), expected)
    assert proj.embed.weight.shape == (10, 6272)


def test_a_convolutional_d_projects_its_last_map_summed_over_positions():
    torch.manual_seed(0)
    d = build_model("M13", role="D", shape=(3, 64, 64)).eval()  # DCGAN's D: a 4x4 convolution to one logit
    proj = ProjectionD(d, 10).eval()
    last = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    seen = []
    last.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    x, y = torch.randn(3, 3, 64, 64), torch.tensor([2, 2, 7])
    out = proj(x, y)
    assert seen[0].shape == (3, 256, 4, 4) and proj.embed.weight.shape == (10, 256)  # one weight per channel
    torch.testing.assert_close(out, d(x) + (proj.embed(y) * seen[0].sum((2, 3))).sum(1))


def test_under_packing_the_projection_sums_the_group_embeddings():
    torch.manual_seed(0)
    inner = build_model("M5", role="D", shape=(2, 28, 28)).eval()
    proj = ProjectionD(Packed(inner, 2), 10).eval()
    x, y = torch.randn(4, *SHAPE), torch.tensor([1, 2, 5, 5])
    packed = x.reshape(2, 2, 28, 28)
    phi = inner.net[:-1](packed)
    e = proj.embed(y).view(2, 2, -1).sum(1)
    torch.testing.assert_close(proj(x, y), inner(packed) + (e * phi).sum(1))


def test_conditional_g_is_the_registered_g_on_z_and_the_class_embedding():
    torch.manual_seed(0)
    g = conditional_generator("M4", shape=SHAPE, z_dim=50, classes=10).eval()
    plain = build_model("M4", role="G", shape=SHAPE, z_dim=60)
    assert count_parameters(g) == count_parameters(plain) + 10 * 10  # one 10-d embedding per class
    z = torch.randn(3, 50)
    seven, three = g(z, torch.full((3,), 7)), g(z, torch.full((3,), 3))
    assert not torch.allclose(seven, three)
    torch.testing.assert_close(g.from_embedding(z, g.embed.weight[[7, 7, 7]]), seven)
    assert [int(c) for c in torch.arange(12) % 10] == list(range(10)) + [0, 1]
    torch.testing.assert_close(WithClasses(g)(torch.cat([z, z, z, z])[:10]),
                               g(torch.cat([z, z, z, z])[:10], torch.arange(10)))
    torch.testing.assert_close(WithClasses(g, 7)(z), seven)


def test_class_batchnorm_gives_every_batchnorm_of_g_a_gain_and_bias_per_class():
    torch.manual_seed(0)
    g = conditional_generator("M4", shape=SHAPE, z_dim=50, classes=10, batchnorm=True).train()
    plain = conditional_generator("M4", shape=SHAPE, z_dim=50, classes=10)
    layers = [m for m in g.modules() if isinstance(m, ClassBatchNorm)]
    features = [m.bn.num_features for m in layers]
    assert features == [6272, 64]  # M4's BatchNorm1d after its linear layer and BatchNorm2d after its ConvT
    assert count_parameters(g) == count_parameters(plain) + 2 * 10 * sum(features)  # W_g, W_b: (C, 10) each
    z, y = torch.randn(4, 50), torch.tensor([1, 1, 6, 6])
    bn, x = layers[1], torch.randn(4, 64, 14, 14)
    bn.e = g.embed(y)
    torch.testing.assert_close(bn(x), bn.bn(x))  # W_g, W_b start at 0: the stock BatchNorm
    with torch.no_grad():
        bn.gain.weight.normal_()
        bn.shift.weight.normal_()
    gain, shift = bn.gain(bn.e)[:, :, None, None], bn.shift(bn.e)[:, :, None, None]  # (4, 64, 1, 1)
    torch.testing.assert_close(bn(x), bn.bn(x) * (1 + gain) + shift)
    bn.e = None
    out = g(z, y)
    assert all(m.e is None for m in layers)  # no pass leaves its classes behind
    set_class_strength(0.0, g)
    torch.testing.assert_close(g(z, y), g(z, torch.tensor([2, 3, 4, 5])))  # strength 0: no class anywhere
    assert not torch.allclose(out, g(z, y))
    with pytest.raises(Exception, match="--class-batchnorm needs a generator with BatchNorm layers"):
        conditional_generator("M1", shape=SHAPE, z_dim=50, classes=10, batchnorm=True)


def test_transitional_conditioning_blends_the_class_in_from_nothing():
    assert [class_strength(i, 100) for i in (0, 100, 150, 175, 200, 5000)] == [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]
    assert class_strength(0, 0) == 1.0  # no ramp: classes from the start
    torch.manual_seed(0)
    g = conditional_generator("M4", shape=SHAPE, z_dim=50, classes=10).eval()
    d = ProjectionD(build_model("M5", role="D", shape=SHAPE), 10).eval()
    z, x, y = torch.randn(3, 50), torch.randn(3, *SHAPE), torch.tensor([1, 4, 9])
    full_g, full_d = g(z, y), d(x, y)
    set_class_strength(0.0, g, d)
    torch.testing.assert_close(g(z, y), g(z, torch.tensor([0, 0, 0])))  # the class plays no part
    torch.testing.assert_close(d(x, y), d.d(x))  # the unconditional D
    set_class_strength(0.5, g, d)
    torch.testing.assert_close(d(x, y), d.d(x) + 0.5 * (full_d - d.d(x)))
    torch.testing.assert_close(g(z, y), g.g(torch.cat([z, 0.5 * g.embed(y)], 1)))
    set_class_strength(1.0, g, d)
    torch.testing.assert_close(g(z, y), full_g)
    assert "strength" not in g.state_dict()  # a saved G is fully conditional


def test_a_discriminator_without_a_final_linear_logit_is_refused():
    with pytest.raises(Exception, match="last weight layer is a linear layer"):
        ProjectionD(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3)), 10)  # two maps: no single logit
    wide = ProjectionD(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3), torch.nn.Flatten(0)), 10)
    with pytest.raises(Exception, match=r"makes a \(4, 4\) map, not one logit per sample"):
        wide(torch.randn(2, 1, 6, 6), torch.tensor([0, 1]))


def test_a_conditional_toy_gan_puts_each_class_at_its_own_mode():
    """Eight Gaussians, the class being the mode: after 600 steps G(z, c) lands at mode c."""
    data = load_dataset("ring")
    centres = data.extras["centres"]
    labels = torch.cdist(data.train, centres).argmin(1)
    torch.manual_seed(0)
    G = conditional_generator("toy-g", shape=(2,), z_dim=4, classes=8)
    D = ProjectionD(build_model("toy-d", role="D", shape=(2,)), 8)
    parts = GanTrainer(G, D, torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.999)),
                       torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.999)), get_loss("non_saturated"), 4,
                       classes=8)
    g = torch.Generator().manual_seed(1)
    for _ in range(600):
        index = torch.randint(len(data.train), (256,), generator=g)
        parts.train_step(data.train[index], labels[index])
    with torch.no_grad():
        asked = torch.arange(4000) % 8
        points = G(torch.randn(4000, 4), asked)
    at = torch.cdist(points, centres).argmin(1)
    accuracy = float((at == asked).double().mean())
    assert accuracy > 0.9, accuracy


COMBINATIONS = {
    "non_saturated": [],
    "cross_entropy-k2-restore": ["-l", "cross_entropy", "-k", "2"],
    "mse-k2-differentiable": ["-l", "mse", "-k", "2", "--unroll-mode", "differentiable", "-g", "M2", "-d", "M3"],
    "hinge-gs2-ds2": ["-l", "hinge", "-gs", "2", "-ds", "2"],
    "class-batchnorm": ["--class-batchnorm", "--spectral-norm", "both"],
    "stabilisers": ["--r1", "1", "--r2", "1", "--reg-every", "2", "--spectral-norm", "both", "--pack", "2",
                    "--augment", "translation,cutout", "--ada-target", "0.6", "--ema", "1"],
}


@pytest.mark.parametrize("extra", COMBINATIONS.values(), ids=COMBINATIONS)
def test_conditional_runs_with_every_loss_unrolling_mode_and_stabiliser(tmp_path, extra):
    run = tmp_path / "run"
    models = [] if "-g" in extra else ["-g", "M4", "-d", "M5"]
    assert main(["train", "--dataset", "mnist", *models, "--limit", "64", "-b", "16", "-e", "1", "-q", "--log-every",
                 "1", "--conditional", *extra, "-o", str(run)]) == 0
    rows = read_metrics(run / "metrics.csv")
    assert len(rows) == 4 and all(abs(r["d_loss"]) < 1e3 for r in rows)
    tensors, meta = load_checkpoint(run / "generator.safetensors")
    assert meta["classes"] == 10 and "G.embed.weight" in tensors
    batchnorm = "--class-batchnorm" in extra
    assert meta.get("class_batchnorm", False) == batchnorm and ("G.g.fc.1.gain.weight" in tensors) == batchnorm
    assert open_generator(run).conditional.batchnorm == batchnorm  # read back as it was trained


def test_a_conditional_run_resumes_exactly_and_unlabelled_data_is_refused(tmp_path, capsys, whole_and_resumed):
    a, b = whole_and_resumed(["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "64", "-b", "16", "-q",
                              "--conditional"])
    assert "D.embed.weight" in a and all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))
    capsys.readouterr()
    assert main(["train", "--dataset", "ring", "--conditional", "-e", "1", "-o", str(tmp_path / "ring")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "needs a labelled dataset (mnist, fashion, stacked-mnist, cifar10, images, emoji)" in err
    assert not (tmp_path / "ring").exists()


def test_transitional_conditioning_resumes_exactly_across_its_ramp(capsys, whole_and_resumed):
    # iterations 0-3 without classes, 4-6 blending them in: the resume comes at iteration 4
    a, b = whole_and_resumed(["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "64", "-b", "16", "-q",
                              "--conditional", "--condition-ramp", "3", "--ema", "1", "--class-batchnorm",
                              "--class-prior", "data"])
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("rng"))
    assert "--condition-ramp 3 had blended" in capsys.readouterr().err  # the cut run stopped at iteration 4
