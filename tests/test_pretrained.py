"""Generators that ship inside ganforge: listed with their cards, read with --pretrained by every command that
reads a generator, checked against their sha256, and stored in float16 only where that costs no quality."""
from pathlib import Path

import pytest

from ganforge.checkpoint import load_checkpoint
from ganforge.cli import build_parser, main
from ganforge.errors import GanforgeError
from ganforge.loading import open_generator
from ganforge.pipelines.export import default_export_path
from ganforge.pretrained import FOLDER, cards, pretrained_file

SHIPPED = sorted(cards())
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no pretrained generator in this checkout")


def test_every_card_names_its_file_its_command_and_what_it_measured():
    total = 0
    for name, card in cards().items():
        path = pretrained_file(name)  # the sha256 checked
        total += path.stat().st_size
        assert card["bytes"] == path.stat().st_size and card["command"].startswith("ganforge train ")
        assert card["metrics"]["lenet_fid"] > 0 and card["precision"] in ("float16", "float32")
        _, meta = load_checkpoint(path)
        assert (meta["generator"], meta["dataset"], meta["pretrained"]) == (card["model"], card["dataset"], name)
    assert total < 10 * 2**20  # all of them under 10 MB of the wheel


def test_models_lists_them_and_sample_reads_one(tmp_path, capsys):
    assert main(["models", "--pretrained"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in SHIPPED) and "ganforge train" in listing
    out = tmp_path / "s"
    assert main(["sample", "--pretrained", SHIPPED[0], "-n", "16", "-o", str(out)]) == 0
    assert (out / "samples.png").stat().st_size > 0


def test_every_command_that_reads_a_generator_takes_the_name():
    parser = build_parser()
    for command in ("sample", "evaluate", "invert", "restore", "interpolate", "export", "demo"):
        args = parser.parse_args([command, "--pretrained", SHIPPED[0]])
        assert args.generator == str(FOLDER / cards()[SHIPPED[0]]["file"]), command
    # a ganforge export of it lands in the current folder, never inside the installed package
    assert default_export_path(FOLDER / "mnist.safetensors", "onnx") == Path("pretrained-mnist.onnx")


def test_an_unknown_name_or_a_damaged_file_is_one_line(tmp_path, capsys, monkeypatch, run_cli):
    assert run_cli(["sample", "--pretrained", "faces", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no pretrained generator 'faces'; shipped: " + ", ".join(cards()) in err
    card = dict(cards()[SHIPPED[0]], sha256="0" * 64)
    monkeypatch.setattr("ganforge.pretrained.cards", lambda: {SHIPPED[0]: card})
    assert run_cli(["sample", "--pretrained", SHIPPED[0], "-o", str(tmp_path / "o")]) == 2
    assert "missing or damaged" in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.slow  # an evaluation of 10,000 samples per generator
def test_the_cards_measurements_hold_and_float16_cost_no_quality(tmp_path):
    """make_pretrained.py measured each generator in float32 and in the precision stored, on the same samples; the
    stored file, evaluated again as `ganforge evaluate` does, gives the card's FID."""
    from ganforge.pipelines.evaluate import evaluate

    for name, card in cards().items():
        assert abs(card["metrics"]["lenet_fid"] - card["float32_metrics"]["lenet_fid"]) <= 0.5
        try:
            fid = evaluate(open_generator(pretrained_file(name)), tmp_path / name, n=card["samples_evaluated"])
        except GanforgeError as error:  # the emoji set's test pictures are not on every machine
            assert card["dataset"] == "emoji" and "emoji-noto-64.npz" in str(error)
            continue
        assert fid["results"][0]["lenet_fid"] == pytest.approx(card["metrics"]["lenet_fid"], abs=0.05)
