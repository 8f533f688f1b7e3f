"""invert, restore, interpolate and sample from the command line, and safe loading of generators."""
import json
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ganforge.cli import main
from ganforge.loading import open_generator


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny MNIST generator trained for a few iterations (its quality does not matter here)."""
    root = tmp_path_factory.mktemp("gen")
    assert main(["train", "-g", "M2", "-d", "M3", "-b", "64", "--limit", "256", "-e", "1", "-q",
                 "-o", str(root / "run")]) == 0
    return root / "run"


def test_invert_writes_curves_grid_latents_and_results(run, tmp_path, capsys):
    out = tmp_path / "inv"
    assert main(["invert", "--generator", str(run), "-n", "3", "-i", "15", "-s", "4", "-o", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results["images"]) == 3
    for row in results["images"]:
        assert len(row["restart_losses"]) == 4
        assert row["chosen"] == int(np.argmin(row["restart_losses"]))
        assert row["mse"] == pytest.approx(min(row["restart_losses"]), rel=1e-4)
    assert sorted(p.name for p in (out / "loss_curves").iterdir()) == [f"image_{i:03d}.png" for i in range(3)]
    z = load_file(str(out / "z.safetensors"))
    assert z["z"].shape == (3, 50) and z["z_all"].shape == (3, 4, 50)
    assert (out / "grid.png").stat().st_size > 0
    assert "outputs in" in capsys.readouterr().out


def test_invert_accepts_image_files_of_any_size_and_mode(run, tmp_path, capsys):
    rgb = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 40, 3), dtype=np.uint8)).save(rgb)
    grey = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(grey)
    out = tmp_path / "inv"
    assert main(["invert", "--generator", str(run), "--images", str(rgb), str(grey), "-i", "5", "-s", "2",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "big.jpg is 40x60 RGB; converted to L 28x28" in err and "digit.png" not in err
    assert [r["image"] for r in json.loads((out / "results.json").read_text())["images"]] == ["big.jpg", "digit.png"]


def test_restore_all_masks_reports_psnr_and_ssim(run, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["restore", "--generator", str(run), "--indices", "0", "1", "-i", "10", "-s", "2",
                 "--masks", "all", "-o", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())["masks"]
    assert set(report) == {"pepper", "crosswalk", "square"}
    assert report["pepper"]["hidden_fraction"] == pytest.approx(0.3, abs=0.001)
    assert report["crosswalk"]["hidden_fraction"] == pytest.approx(14 / 28)
    assert report["square"]["hidden_fraction"] == pytest.approx(64 / 784, abs=1e-4)
    for kind, r in report.items():
        assert all(k in r for k in ("psnr_all", "psnr_hidden", "ssim_all", "ssim_hidden"))
        assert len(r["images"]) == 2
        assert (out / f"restore_{kind}.png").exists()
    printed = capsys.readouterr().out
    assert "pepper" in printed and "PSNR hid" in printed


def test_restore_with_a_mask_file(run, tmp_path):
    mask = np.full((56, 56), 255, np.uint8)
    mask[:28] = 0  # top half hidden, at twice the image size
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "res"
    assert main(["restore", "--generator", str(run), "--indices", "3", "-i", "5", "-s", "1",
                 "--mask-file", str(tmp_path / "mask.png"), "-o", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["masks"]["file"]["hidden_fraction"] == 0.5


def test_interpolate_rows_follow_the_report_alphas(run, tmp_path):
    out = tmp_path / "int"
    assert main(["interpolate", "--generator", str(run), "--a", "0", "4", "--b", "1", "9", "-i", "5", "-s", "2",
                 "-o", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["alphas"] == [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1]
    assert results["pairs"] == [{"a": "test[0]", "b": "test[1]"}, {"a": "test[4]", "b": "test[9]"}]
    with Image.open(out / "interpolation.png") as im:
        assert im.width > im.height  # nine columns, two rows


def test_sample_with_truncation_and_individual_files(run, tmp_path):
    out = tmp_path / "s"
    assert main(["sample", "--generator", str(run), "-n", "6", "--truncation", "0.5", "--individual",
                 "--seed", "3", "-o", str(out)]) == 0
    z = load_file(str(out / "z.safetensors"))["z"]
    assert z.shape == (6, 50) and z.abs().max() <= 0.5
    assert len(list((out / "samples").iterdir())) == 6
    with Image.open(out / "samples" / "0000.png") as im:
        assert im.size == (28, 28)


class Payload:
    """A pickle that would create a file if it were ever unpickled with full pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_is_refused_and_never_runs(tmp_path, capsys, run_cli):
    marker = tmp_path / "pwned"
    bad = tmp_path / "generator.pkl"
    with open(bad, "wb") as f:
        pickle.dump({"fc.0.weight": Payload(marker)}, f)
    code = run_cli(["sample", "--generator", str(bad), "--model", "M1", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "refused to load" in err and "Traceback" not in err
    assert not marker.exists()


def test_legacy_state_dict_loads_with_model_name(run, tmp_path):
    G = open_generator(run).G
    legacy = tmp_path / "g.pt"
    torch.save(G.state_dict(), legacy)
    opened = open_generator(legacy, model="M2", dataset="mnist")
    z = torch.randn(2, 50)
    assert torch.equal(opened.G(z), G(z))
    with pytest.raises(Exception, match="--model"):
        open_generator(legacy)


@pytest.mark.parametrize("argv,needle", [
    (["invert", "--generator", "nowhere"], "generator nowhere does not exist"),
    (["invert", "--indices", "99999"], "out of range"),
    (["invert", "--images", "missing.png"], "cannot read image missing.png"),
    (["invert", "-z", "7"], "latent size -z 7 does not match"),
    (["restore", "--square-size", "40"], "--square-size must be between 1 and 28"),
    (["interpolate", "--a", "1", "--b", "2", "3"], "give them in pairs"),
    (["interpolate", "--a", "1", "--b", "2", "--alphas", "0,x"], "--alphas must be comma-separated numbers"),
    (["sample", "--truncation", "0"], "--truncation: must be a positive number"),
    (["restore", "--pepper-fraction", "0"], "hides no pixels"),
    (["invert", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
])
def test_bad_input_exits_2_with_one_line(run, tmp_path, capsys, argv, needle, run_cli):
    if "--generator" not in argv:
        argv = argv[:1] + ["--generator", str(run)] + argv[1:]
    (tmp_path / "junk.png").write_bytes(b"not an image")
    code = run_cli(argv + ["-i", "2", "-s", "1", "-o", str(tmp_path / "out")] if argv[0] != "sample"
                   else argv + ["-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in err


def test_corrupt_image_file_is_one_line(run, tmp_path, capsys, run_cli):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    assert run_cli(["invert", "--generator", str(run), "--images", str(junk), "-o", str(tmp_path / "o")]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_sample_from_a_toy_generator_writes_points(tmp_path):
    run = tmp_path / "ring"
    assert main(["train", "--dataset", "ring", "-b", "500", "--limit", "1000", "-e", "1", "-q", "-o", str(run)]) == 0
    assert main(["sample", "--generator", str(run), "-n", "100", "-o", str(tmp_path / "s")]) == 0
    assert load_file(str(tmp_path / "s" / "points.safetensors"))["points"].shape == (100, 2)
    assert (tmp_path / "s" / "samples.png").exists()
