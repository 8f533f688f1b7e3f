import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.models import MODELS, build_model, count_parameters, default_shape


def test_report_parameter_counts():
    # The report's own figures: "G: M1. Trainable params: 675025", "D: M3. Trainable params: 1460225".
    assert count_parameters(build_model("M1", role="G", shape=(1, 28, 28), z_dim=50)) == 675_025
    assert count_parameters(build_model("M3", role="D", shape=(1, 28, 28))) == 1_460_225


def test_m1_layers_as_the_report_describes():
    G = build_model("M1", role="G", shape=(1, 28, 28), z_dim=50)
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_features, m.out_features) for m in linears] == [(50, 1024), (1024, 256), (256, 784)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == [
        (16, 64, 5, 1), (64, 128, 4, 2), (128, 1, 4, 2)]


def test_registry_has_the_report_families():
    names = set(MODELS.names())
    assert {"M1", "M2", "M3", "M4", "M5"} <= names
    assert {f"M{i}" for i in range(10, 18)} <= names
    assert {"toy-g", "toy-d"} <= names


@pytest.mark.parametrize("name", MODELS.names())
def test_every_model_maps_its_data_shape(name):
    meta = MODELS.entry(name).meta
    shape = default_shape(meta["family"])
    torch.manual_seed(0)
    if meta["role"] == "G":
        z = meta["default_z"]
        model = build_model(name, role="G", shape=shape, z_dim=z)
        out = model(torch.randn(3, z))
        assert out.shape == (3, *shape)
        if len(shape) == 3:  # image generators end in tanh
            assert out.abs().max() <= 1.0
    elif meta["role"] == "AE":
        model = build_model(name, role="AE", shape=shape, z_dim=meta["default_z"])
        recon, z = model(torch.randn(3, *shape))
        assert recon.shape == (3, *shape) and z.shape == (3, meta["default_z"])
    else:
        model = build_model(name, role="D", shape=shape)
        assert model(torch.randn(3, *shape)).shape == (3,)


def test_stacked_and_resized_shapes():
    G = build_model("M4", role="G", shape=(3, 28, 28), z_dim=10)
    assert G(torch.randn(2, 10)).shape == (2, 3, 28, 28)
    G = build_model("M11", role="G", shape=(3, 32, 32), z_dim=100)
    assert G(torch.randn(2, 100)).shape == (2, 3, 32, 32)
    D = build_model("M12", role="D", shape=(3, 32, 32))
    assert D(torch.randn(2, 3, 32, 32)).shape == (2,)


def test_wrong_role_or_shape_is_a_clear_error():
    with pytest.raises(GanforgeError, match="not a generator"):
        build_model("M3", role="G", shape=(1, 28, 28), z_dim=50)
    with pytest.raises(GanforgeError, match="takes 28x28"):
        build_model("M1", role="G", shape=(3, 64, 64), z_dim=50)
    with pytest.raises(GanforgeError, match="unknown model 'M99'; valid: M1"):
        build_model("M99", role="G", shape=(1, 28, 28), z_dim=50)


def test_m5_deep_is_m5_with_a_third_stride_2_stage_that_sees_a_whole_digit():
    shape = (6, 28, 28)  # three channels packed in twos, as the Stacked MNIST recipe feeds it
    shallow, deep = build_model("M5", role="D", shape=shape), build_model("M5-deep", role="D", shape=shape).eval()
    convs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in deep.modules()
             if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(6, 64, 4, 2), (64, 128, 4, 2), (128, 256, 3, 2)]
    # the third convolution (no bias) and its BatchNorm, and a linear head on 256x4x4 in place of 128x7x7
    assert count_parameters(shallow) == 143_809
    assert count_parameters(deep) == 143_809 + 128 * 256 * 9 + 2 * 256 + 256 * 4 * 4 - 128 * 7 * 7
    x = torch.randn(2, *shape, requires_grad=True)
    features = deep.net[:-2](x)  # what the linear head reads
    assert features.shape == (2, 256, 4, 4)
    grad, = torch.autograd.grad(features[0, :, 1, 1].sum(), x)
    rows, cols = grad[0].abs().sum(0).nonzero().unbind(1)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (1, 18, 1, 18)  # an 18x18 receptive field
    assert grad[1].abs().sum() == 0  # and no sample sees another in eval mode
