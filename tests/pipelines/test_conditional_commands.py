"""A class-conditional generator through the commands: sample --class, interpolate --classes,
restore --class, and evaluate's conditional accuracy and per-class FID (checked on stand-in
generators whose answers are known)."""
import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.loading import OpenedGenerator, open_generator
from ganforge.models.conditional import WithClasses
from ganforge.pipelines import evaluate


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond")
    assert main(["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "128", "-b", "32", "-e", "1", "-q",
                 "--conditional", "--ema", "1", "-o", str(root / "run")]) == 0
    return root / "run"


def test_sample_with_a_class_draws_that_class(run, tmp_path):
    out = tmp_path / "s"
    assert main(["sample", "--generator", str(run), "-n", "6", "--class", "7", "-o", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["class"] == 7
    gen = open_generator(run)
    z = load_file(str(out / "z.safetensors"))["z"]
    with torch.no_grad():
        seven, cycled = gen.conditional(z, torch.full((6,), 7)), gen.G(z)
    torch.testing.assert_close(gen.with_class(7).G(z), seven)
    torch.testing.assert_close(cycled, gen.conditional(z, torch.arange(6)))


def test_interpolate_between_classes_and_restore_with_a_class(run, tmp_path):
    out = tmp_path / "i"
    assert main(["interpolate", "--generator", str(run), "--classes", "3", "8", "--rows", "2", "--alphas", "0,0.5,1",
                 "-o", str(out)]) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["classes"] == [3, 8] and record["alphas"] == [0, 0.5, 1] and (out / "interpolation.png").exists()
    out = tmp_path / "r"
    assert main(["restore", "--generator", str(run), "--indices", "0", "-i", "10", "-s", "2", "--class", "4",
                 "-o", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["class"] == 4


@pytest.mark.parametrize("argv,needle", [
    (["sample", "--class", "10"], "not one of the generator's classes 0..9"),
    (["interpolate", "--classes", "3", "8", "--a", "1"], "without --a, --b or --class"),
    (["interpolate"], "give --a and --b"),
])
def test_bad_class_requests_are_one_line(run, tmp_path, capsys, argv, needle):
    assert main([argv[0], "--generator", str(run), *argv[1:], "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err


def test_an_unconditional_generator_refuses_a_class(tmp_path, capsys):
    assert main(["train", "-g", "M2", "-d", "M3", "--limit", "64", "-b", "32", "-e", "1", "-q",
                 "-o", str(tmp_path / "plain")]) == 0
    capsys.readouterr()
    assert main(["sample", "--generator", str(tmp_path / "plain"), "--class", "3", "-o", str(tmp_path / "s")]) == 2
    assert "is not class-conditional" in capsys.readouterr().err


class RealDigits(nn.Module):
    """A stand-in conditional generator: G(z, y) is a real test digit of class y (``obey``), or of
    class 0 whatever y is asked for; which digit of that class depends on z."""

    def __init__(self, obey: bool):
        super().__init__()
        data = load_dataset("mnist")
        self.classes, self.obey = 10, obey
        self.by_class = [data.test[data.test_labels == c] for c in range(10)]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y = y if self.obey else torch.zeros_like(y)
        pick = (z[:, 0].abs() * 1e4).long()
        return torch.stack([self.by_class[c][i % len(self.by_class[c])] for c, i in zip(y.tolist(), pick.tolist())])


@pytest.mark.parametrize("obey", [True, False], ids=["obeys", "ignores the class"])
def test_conditional_accuracy_and_per_class_fid(tmp_path, obey):
    digits = RealDigits(obey)
    gen = OpenedGenerator(WithClasses(digits), 8, (1, 28, 28), "test-digits", "mnist", "test", conditional=digits)
    row = evaluate(gen, tmp_path / "e", n=2000)["results"][0]
    fids = row["per_class_fid"]
    assert len(fids) == 10
    if obey:  # the evaluator's own accuracy on test digits is about 98 %
        assert row["conditional_accuracy"] > 0.97
        assert max(fids) < 30  # each class's samples are that class's test digits
        assert main(["report", str(tmp_path / "e"), "-o", str(tmp_path / "report.html")]) == 0
        assert "% of samples show the class asked for" in (tmp_path / "report.html").read_text()
    else:
        assert row["conditional_accuracy"] == pytest.approx(0.1, abs=0.02)  # only the zeros are right
        assert fids[0] < 30 and min(fids[1:]) > 10 * fids[0]
