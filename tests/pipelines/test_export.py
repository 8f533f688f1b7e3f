"""``ganforge export``: the ONNX file run by onnxruntime and the TorchScript file run by plain torch
give ganforge's own samples for any batch size, and carry the generator's metadata."""
import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from ganforge.cli import main
from ganforge.loading import open_generator


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    image = ["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "128", "-b", "32", "-e", "1", "-q",
             "--ema", "1", "-o", str(root / "mnist")]
    toy = ["train", "--dataset", "ring", "-g", "pac-g", "-d", "pac-d", "--limit", "400", "-b", "100", "-e", "1", "-q",
           "-o", str(root / "ring")]
    assert main(image) == 0 and main(toy) == 0
    return root


def _ganforge_samples(run, z, raw=False):
    with torch.no_grad():
        return open_generator(run, raw=raw).G(torch.from_numpy(z)).numpy()


@pytest.mark.parametrize("name,shape", [("mnist", (1, 28, 28)), ("ring", (2,))])
def test_onnx_in_onnxruntime_matches_ganforge(runs, tmp_path, name, shape):
    out = tmp_path / "g.onnx"
    assert main(["export", "--generator", str(runs / name), "--format", "onnx", "-o", str(out)]) == 0
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    z_dim = open_generator(runs / name).z_dim
    for batch in (1, 7, 64):  # the batch size is dynamic
        z = np.random.default_rng(batch).standard_normal((batch, z_dim)).astype(np.float32)
        got = session.run(["samples"], {"z": z})[0]
        assert got.shape == (batch, *shape)
        assert np.abs(got - _ganforge_samples(runs / name, z)).max() <= 1e-4
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(out)).metadata_props}
    assert meta["z_dim"] == z_dim and meta["shape"] == list(shape)
    assert meta["value_range"] == ([-1.0, 1.0] if name == "mnist" else None)
    assert meta["weights"] == ("ema" if name == "mnist" else "raw")


def test_torchscript_in_plain_torch_matches_ganforge_with_either_weights(runs, tmp_path):
    for raw in (False, True):
        out = tmp_path / f"g{raw}.pt"
        assert main(["export", "--generator", str(runs / "mnist"), "--format", "torchscript", "-o", str(out)]
                    + (["--raw-weights"] if raw else [])) == 0
        extra = {"ganforge.json": ""}
        module = torch.jit.load(str(out), _extra_files=extra)
        meta = json.loads(extra["ganforge.json"])
        assert meta["weights"] == ("raw" if raw else "ema") and meta["model"] == "M4"
        z = np.random.default_rng(0).standard_normal((5, meta["z_dim"])).astype(np.float32)
        with torch.no_grad():
            got = module(torch.from_numpy(z)).numpy()
        assert np.abs(got - _ganforge_samples(runs / "mnist", z, raw=raw)).max() <= 1e-4
    ema, raw = (torch.jit.load(str(tmp_path / f"g{r}.pt")) for r in (False, True))
    z = torch.randn(3, 50)
    assert not torch.allclose(ema(z), raw(z))  # two different sets of weights were written


def test_default_file_in_the_run_folder_and_bad_input(runs, tmp_path, capsys):
    assert main(["export", "--generator", str(runs / "ring"), "--format", "torchscript"]) == 0
    assert (runs / "ring" / "generator.pt").is_file()
    capsys.readouterr()
    assert main(["export", "--generator", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    missing_dir = tmp_path / "no" / "such" / "dir" / "g.onnx"
    assert main(["export", "--generator", str(runs / "ring"), "-o", str(missing_dir)]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--class-batchnorm"]], ids=["class-input", "class-batchnorm"])
def test_a_conditional_generator_exports_with_its_class_input(tmp_path, extra):
    run = tmp_path / "cond"
    assert main(["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "128", "-b", "32", "-e", "1", "-q",
                 "--conditional", *extra, "-o", str(run)]) == 0
    gen = open_generator(run)
    z = np.random.default_rng(0).standard_normal((6, gen.z_dim)).astype(np.float32)
    y = np.array([7, 7, 0, 3, 9, 1], dtype=np.int64)
    with torch.no_grad():
        expected = gen.conditional(torch.from_numpy(z), torch.from_numpy(y)).numpy()
    assert main(["export", "--generator", str(run), "--format", "onnx", "-o", str(tmp_path / "c.onnx")]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "c.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z", "class"]
    assert np.abs(session.run(None, {"z": z, "class": y})[0] - expected).max() <= 1e-4
    assert main(["export", "--generator", str(run), "--format", "torchscript", "-o", str(tmp_path / "c.pt")]) == 0
    with torch.no_grad():
        got = torch.jit.load(str(tmp_path / "c.pt"))(torch.from_numpy(z), torch.from_numpy(y)).numpy()
    assert np.abs(got - expected).max() <= 1e-4
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / "c.onnx")).metadata_props}
    assert meta["classes"] == 10 and meta["inputs"] == ["z", "class"]
