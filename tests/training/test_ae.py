import json

import pytest
import torch
from safetensors.torch import load_file

from ganforge.cli import main
from ganforge.loading import open_generator
from ganforge.latent.interpolation import interpolate
from ganforge.training.ae import factor_at, ks_statistic, latent_moments, moment_loss
from ganforge.records import read_record
from ganforge.training.stats import read_metrics


def test_moments_of_known_samples():
    g = torch.Generator().manual_seed(0)
    normal = torch.randn(20_000, 8, generator=g)
    mean, var, kurt = latent_moments(normal).tolist()
    assert abs(mean) < 0.02 and var == pytest.approx(1, abs=0.03) and kurt == pytest.approx(3, abs=0.1)
    assert moment_loss(normal) < 2e-3
    uniform = torch.rand(20_000, 8, generator=g) * 2 - 1  # var 1/3, kurtosis 1.8
    mean, var, kurt = latent_moments(uniform).tolist()
    assert var == pytest.approx(1 / 3, abs=0.01) and kurt == pytest.approx(1.8, abs=0.03)
    assert moment_loss(uniform).item() == pytest.approx(((1 / 3 - 1) ** 2 + (1.8 - 3) ** 2) / 3, rel=0.03)


def test_moments_per_dimension_differ_from_pooled():
    # Each dimension is a constant shift of N(0,1): per dimension the mean is off, pooled the variance is.
    z = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(1)) + torch.tensor([-3.0, 3.0])
    dims = latent_moments(z, "dims").tolist()
    pooled = latent_moments(z, "all").tolist()
    assert dims[0] == pytest.approx(0, abs=0.05) and dims[1] == pytest.approx(1, abs=0.05)
    assert pooled[1] == pytest.approx(10, rel=0.05)  # variance of a two-bump mixture


def test_factor_schedule_is_the_reports():
    assert [factor_at(e) for e in range(15)] == pytest.approx(
        [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 2.048, 2.048, 2.048])


def test_ks_statistic():
    g = torch.Generator().manual_seed(0)
    assert ks_statistic(torch.randn(10_000, generator=g)) < 0.015
    assert ks_statistic(torch.randn(10_000, generator=g) * 2) > 0.15
    assert ks_statistic(torch.zeros(10)) == pytest.approx(0.5)


@pytest.fixture(scope="module")
def ae_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ae")
    common = ["train-ae", "--limit", "1024", "-e", "3", "-b", "32", "-q", "--log-every", "8"]
    assert main(common + ["-o", str(root / "plain")]) == 0
    # A large starting factor so that three short epochs are enough to see the moments act.
    assert main(common + ["--latent-reg", "moments", "--factor-start", "0.5", "-o", str(root / "moments")]) == 0
    return root


def test_training_lowers_image_mse_and_moments_lower_ks(ae_runs):
    for name in ("plain", "moments"):
        rows = read_metrics(ae_runs / name / "metrics.csv", columns=("iteration", "epoch", "image_mse"))
        assert len(rows) == 3 * 32
        first, last = rows[0]["image_mse"], sum(r["image_mse"] for r in rows[-10:]) / 10
        assert last < 0.6 * first, (name, first, last)
    plain = read_record(ae_runs / "plain" / "latent_ks.json", expect=("latent-normality",))["epochs"]
    moments = read_record(ae_runs / "moments" / "latent_ks.json", expect=("latent-normality",))["epochs"]
    assert [r["epoch"] for r in moments] == [1, 2, 3]
    assert moments[-1]["ks"] < moments[0]["ks"]
    assert moments[-1]["ks"] < plain[-1]["ks"]


def test_run_folder_of_train_ae(ae_runs):
    run = ae_runs / "moments"
    header = (run / "metrics.csv").read_text().splitlines()[0]
    assert header == "iteration,epoch,loss,image_mse,z_mse,z_term,factor"
    rows = read_metrics(run / "metrics.csv", columns=("iteration", "epoch", "factor", "z_mse", "z_term"))
    assert [r["factor"] for r in rows[::32]] == pytest.approx([0.5, 1.0, 2.0])
    assert all(r["z_term"] == pytest.approx(r["factor"] * r["z_mse"], rel=1e-4) for r in rows)
    for f in ("config.json", "loss.png", "samples/epoch_003.png", "cdf/epoch_001.png", "cdf/epoch_003.png",
              "checkpoints/last.safetensors", "generator.safetensors", "summary.json"):
        assert (run / f).exists(), f


def test_ae_as_generator_interpolation_endpoints_are_reconstructions(ae_runs):
    gen = open_generator(ae_runs / "plain")
    assert gen.encoder is not None and gen.z_dim == 100 and gen.shape == (1, 28, 28)
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    result = interpolate(gen.G, gen.encoder, x[:2], x[2:])
    ae = gen.G.ae
    recon, _ = ae(x)
    assert torch.allclose(result.rows[:, -1], recon[:2], atol=1e-5)
    assert torch.allclose(result.rows[:, 0], recon[2:], atol=1e-5)


def test_sample_and_interpolate_commands_take_an_ae_run(ae_runs, tmp_path):
    assert main(["sample", "--generator", str(ae_runs / "moments"), "-n", "4", "--truncation", "1.0",
                 "-o", str(tmp_path / "s")]) == 0
    assert load_file(str(tmp_path / "s" / "z.safetensors"))["z"].abs().max() <= 1.0
    assert main(["interpolate", "--generator", str(ae_runs / "plain"), "--a", "0", "--b", "1",
                 "-o", str(tmp_path / "i")]) == 0
    assert json.loads((tmp_path / "i" / "results.json").read_text())["latents_from"] == "encoder"


def test_ae_resume_is_exact(tmp_path):
    common = ["train-ae", "--limit", "256", "-b", "32", "-q", "--latent-reg", "moments"]
    assert main(common + ["-e", "2", "-o", str(tmp_path / "a")]) == 0
    assert main(common + ["-e", "1", "-o", str(tmp_path / "b")]) == 0
    assert main(["train-ae", "--resume", str(tmp_path / "b"), "-e", "2", "-q"]) == 0
    a = load_file(str(tmp_path / "a" / "checkpoints" / "last.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoints" / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a" / "metrics.csv").read_text() == (tmp_path / "b" / "metrics.csv").read_text()


def test_train_ae_on_a_colour_image_folder(tmp_path, noise_pictures):
    folder = noise_pictures("faces", 40, (20, 20))
    run = tmp_path / "run"
    assert main(["train-ae", "--dataset", "celeb", "--data-root", str(folder), "--image-size", "16", "-e", "1",
                 "-b", "8", "-q", "-o", str(run)]) == 0
    gen = open_generator(run)
    assert gen.model == "AE64" and gen.shape == (3, 16, 16)
    assert gen.G(torch.randn(2, 100)).shape == (2, 3, 16, 16)
