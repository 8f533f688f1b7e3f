"""The bad inputs a hostile read of ganforge tried, each ending in one line and exit code 2: numbers past
what a library or an allocation can take, crafted checkpoint metadata, non-finite weights, files of the
wrong kind."""
import json
import math

import pytest
from safetensors.torch import load_file, save_file

from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    run = tmp_path_factory.mktemp("gen") / "run"
    assert main(["train", "-g", "M2", "-d", "M3", "-b", "32", "--limit", "64", "-e", "1", "-q", "-o", str(run)]) == 0
    return run / "generator.safetensors"


def _one_line(capsys, needle: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and needle in err, err


TRAIN = ["train", "--dataset", "ring", "-e", "1", "--limit", "1000", "-b", "500", "-q"]


@pytest.mark.parametrize("argv,needle", [
    (TRAIN + ["--seed", "-1"], "--seed"),
    (TRAIN + ["--seed", "4294967296", "--clusters", "8"], "must be <= 4,294,967,295"),
    (TRAIN + ["--seed", "100000000000000"], "--seed"),
    (TRAIN + ["-z", "1000000000000"], "must be <= 4,096"),
    (["sample", "--generator", "GEN", "--seed", "100000000000000000000"], "--seed"),
    (["sample", "--generator", "GEN", "-n", "10000000000"], "must be <= 10,000"),
    (["sample", "--generator", "GEN", "--truncation=-inf"], "must be a positive number"),
    (["evaluate", "--generator", "GEN", "--truncation", "nan"], "must be a positive number"),
], ids=["seed-negative", "seed-2^32", "seed-1e14", "z-1e12", "sample-seed-1e20", "sample-n-1e10",
        "truncation-minus-inf", "truncation-nan"])
def test_numbers_past_what_the_libraries_take(generator, tmp_path, capsys, run_cli, argv, needle):
    argv = [str(generator) if a == "GEN" else a for a in argv]
    assert run_cli(argv + ["-o", str(tmp_path / "out")]) == 2
    _one_line(capsys, needle)
    assert not (tmp_path / "out").exists()


def _with_meta(source, folder, changes: dict):
    tensors, meta = load_checkpoint(source)
    path = folder / "crafted.safetensors"
    save_file(tensors, path, metadata={"ganforge": json.dumps({**meta, **changes})})  # the digest still fits
    return path


@pytest.mark.parametrize("changes,needle", [
    ({"classes": -3}, "classes, not an integer"),
    ({"classes": "ten"}, "classes, not an integer"),
    ({"classes": 10**9}, "classes, not an integer"),
    ({"z_dim": 10**12}, "latent size of 1000000000000"),
    ({"shape": [1, 28]}, "data shape of [1, 28]"),
    ({"classes": 2, "clusters": "all"}, "clusters are not 2 shares"),
    ({"classes": 2, "class_prior": [0.5]}, "class prior is not 2 shares"),
    ({"generator": ["M2"]}, "lacks the generator's name"),
], ids=["classes-negative", "classes-text", "classes-1e9", "z-1e12", "shape", "clusters", "class-prior", "model-list"])
def test_crafted_checkpoint_metadata_is_checked_before_it_sizes_anything(generator, tmp_path, capsys, changes,
                                                                          needle):
    path = _with_meta(generator, tmp_path, changes)
    assert main(["sample", "--generator", str(path), "-n", "4", "-o", str(tmp_path / "s")]) == 2
    _one_line(capsys, needle)


@pytest.mark.parametrize("command", [["sample", "-n", "4"], ["evaluate", "-n", "10"], ["export", "--format", "onnx"]])
def test_a_generator_with_non_finite_weights_is_one_line_in_every_command(generator, tmp_path, capsys, command):
    tensors = load_file(generator)
    name = next(k for k in tensors if k.startswith("G.") and tensors[k].is_floating_point())
    tensors[name] = tensors[name].clone().fill_(math.nan)
    _, meta = load_checkpoint(generator)
    path = tmp_path / "nan.safetensors"
    meta.pop("digest")
    save_file(tensors, path, metadata={"ganforge": json.dumps(meta)})
    assert main([command[0], "--generator", str(path), *command[1:], "-o", str(tmp_path / "out")]) == 2
    _one_line(capsys, "holds non-finite weights")


@pytest.mark.parametrize("name,content", [("gen.pt", b"just some text\n"), ("gen.safetensors", b"{not a header"),
                                          ("gen.pkl", b"\x80\x04K\x01."), ("gen.bin", b"")])
def test_a_file_of_the_wrong_kind_under_any_name_is_one_line(tmp_path, capsys, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["sample", "--generator", str(path), "--model", "M4", "-n", "4", "-o", str(tmp_path / "s")]) == 2
    _one_line(capsys, str(path))
