"""``ganforge report``: one section per record kind, built from real tiny outputs; anything it does
not recognise is one line and exit code 2; folders of ganforge 0.1 (no kind) still open."""
import base64
import json
import shutil
from pathlib import Path

import pytest

from ganforge.cli import main
from ganforge.loading import open_generator
from ganforge.pipelines import (InversionOptions, evaluate, image_refs, interpolate_images, invert_images,
                                pick_images, restore_images, sample_images)
from ganforge.records import read_record
from ganforge.pipelines.report import build_report
from ganforge.training import AEConfig, TrainConfig, train, train_ae

TINY = InversionOptions(restarts=2, iters=5)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """A folder of every kind a command writes (but reproduce, see tests/pipelines), made by the library."""
    root = tmp_path_factory.mktemp("outputs")
    gan = train(TrainConfig(generator="M2", discriminator="M3", batch_size=64, limit=128, epochs=1, quiet=True,
                            out=str(root / "gan")))
    toy = train(TrainConfig(dataset="ring", batch_size=500, limit=1000, epochs=1, quiet=True, out=str(root / "toy")))
    stacked = train(TrainConfig(dataset="stacked-mnist", batch_size=32, limit=64, epochs=1, quiet=True,
                                out=str(root / "stacked")))
    ae = train_ae(AEConfig(batch_size=32, limit=128, epochs=1, cdf_samples=100, quiet=True, out=str(root / "ae")))
    g = open_generator(gan)
    evaluate(g, root / "image-eval", n=200)
    evaluate(g, gan / "evaluation", n=200)
    evaluate(open_generator(toy), toy / "evaluation")
    evaluate(open_generator(stacked), root / "stacked-eval", n=2000)
    images, names = pick_images(g, n=2)
    invert_images(g, images, names, TINY, root / "invert")
    restore_images(g, images, names, TINY, root / "restore", masks=("pepper", "square"))
    first, a = image_refs(g, ["0"])
    second, b = image_refs(g, ["1"])
    interpolate_images(g, first, second, (a, b), TINY, root / "interpolate")
    sample_images(g, 16, root / "sample", truncation=0.7)
    return {"gan-run": gan, "toy-run": toy, "ae-run": ae, "image-evaluation": root / "image-eval",
            "toy-evaluation": toy / "evaluation", "stacked-mnist-evaluation": root / "stacked-eval",
            "inversion": root / "invert", "restoration": root / "restore", "interpolation": root / "interpolate",
            "samples": root / "sample"}


# what each kind's section must show (besides its data-kind)
SHOWS = {
    "gan-run": ["GAN M2/M3 on mnist", "Samples over epochs", "FID (LeNet features)"],
    "toy-run": ["GAN pac-g/pac-d on ring", "modes of a 2-D toy", "high_quality_share"],
    "ae-run": ["autoencoder AE on mnist", "Latent values against N(0, 1)", "KS to N(0, 1)"],
    "image-evaluation": ["FID (LeNet features)", "Class histogram", "classifier score"],
    "toy-evaluation": ["modes of a 2-D toy", "modes_covered", "reverse_kl"],
    "stacked-mnist-evaluation": ["Stacked MNIST modes", "modes_covered", "kl_to_uniform"],
    "inversion": ["inversion: 2 restarts, 5 iterations", "Loss per restart"],
    "restoration": ["restoration: 2 restarts", "PSNR hidden (dB)", "pepper: original | masked | restored"],
    "interpolation": ["interpolation (linear)", "one row per pair"],
    "samples": ["16 samples, truncation ψ = 0.7"],
}
KIND_OF_FOLDER = {"toy-run": "gan-run"}


@pytest.mark.parametrize("kind", list(SHOWS))
def test_each_kind_has_its_section(outputs, kind, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(outputs[kind]), "-o", str(out)]) == 0
    page = out.read_text()
    assert f'<section data-kind="{KIND_OF_FOLDER.get(kind, kind)}">' in page
    for text in SHOWS[kind]:
        assert text in page, text


def test_runs_side_by_side_show_each_runs_evaluation(outputs):
    page = build_report([outputs["gan-run"], outputs["toy-run"], outputs["ae-run"]])
    assert "GAN runs side by side" in page and "Autoencoder runs" not in page  # one AE run: nothing to compare
    assert page.count('<section data-kind="gan-run">') == 2 and page.count("-evaluation\">") == 2


def _copy(outputs, kind: str, tmp_path: Path) -> Path:
    folder = tmp_path / kind
    shutil.copytree(outputs[kind], folder)
    return folder


@pytest.mark.parametrize("content,needle", [
    ("[1, 2, 3]", "JSON of another shape"),
    ('{"generator": "x", "results": 3}', "JSON of another shape"),
    ('{"kind": "image-evaluation", "format": 0, "results": []}', "in format 0; this ganforge reads format 1"),
    ('{"kind": "image-evaluation", "format": 7, "results": []}', "in format 7"),
    ('{"kind": "hologram", "format": 1}', "kind 'hologram', which this ganforge does not know"),
    ('{"kind": "inversion", "format": 1}', "without the fields it should have"),
    ('{"kind": "image-evaluation", "form', "damaged: not complete JSON"),
])
def test_what_report_does_not_recognise_is_one_line_and_exit_2(outputs, tmp_path, capsys, content, needle):
    folder = _copy(outputs, "image-evaluation", tmp_path)
    (folder / "metrics.json").write_text(content)
    assert main(["report", str(folder), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganforge: error: ") and needle in err, err
    assert not (tmp_path / "r.html").exists()


def test_a_foreign_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / "notes.txt").write_text("mine")
    assert main(["report", str(tmp_path / "stray"), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no file a ganforge command writes" in err


def test_a_part_of_a_folder_is_refused_with_what_to_give(outputs, capsys, tmp_path):
    assert main(["report", str(outputs["gan-run"] / "summary.json"), "-o", str(tmp_path / "r.html")]) == 2
    assert "give the folder" in capsys.readouterr().err


def _as_format_0(folder: Path) -> None:
    """Rewrite a folder's records as ganforge 0.1 wrote them: no kind, no format, old metric names."""
    for path in folder.rglob("*.json"):
        data = json.loads(path.read_text())
        kind = data.pop("kind", None)
        data.pop("format", None)
        if kind == "latent-normality":
            data = data["epochs"]
        if kind == "ae-run":
            data["kind"] = "autoencoder"
        if kind == "image-evaluation":
            data.pop("features", None)
            data["results"] = [{{"lenet_fid": "fid", "lenet_kid": "kid", "lenet_kid_std": "kid_std"}.get(k, k): v
                                for k, v in r.items()} for r in data["results"]]
        if kind == "samples":
            path.unlink()
            continue
        path.write_text(json.dumps(data))


@pytest.mark.parametrize("kind", ["gan-run", "ae-run", "toy-evaluation", "inversion", "restoration", "interpolation",
                                  "samples"])
def test_folders_of_ganforge_0_1_still_open(outputs, tmp_path, kind):
    folder = _copy(outputs, kind, tmp_path)
    _as_format_0(folder)
    page = build_report([folder])
    assert f'<section data-kind="{kind}">' in page
    if kind == "gan-run":  # its evaluation's plain "fid" is read as the LeNet-feature FID
        assert read_record(folder / "evaluation" / "metrics.json").data["results"][0]["lenet_fid"] > 0
        assert "FID (LeNet features)" in page


MARKUP = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&"
# numbers a hostile folder may hold as strings instead
NUMBERS_AS_TEXT = ("conditional_accuracy", "test_accuracy", "inception_fid", "mean_mse", "lenet_fid", "seconds")


def _poisoned(value, key: str = ""):
    """``value`` with every string in it, and the numbers above, replaced by markup (kind and format kept)."""
    if isinstance(value, dict):
        return {k: v if k in ("kind", "format") else _poisoned(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_poisoned(v, key) for v in value]
    return MARKUP if isinstance(value, str) or key in NUMBERS_AS_TEXT else value


def _no_markup(page: str) -> None:
    assert "<script" not in page and "<img src=x" not in page and "onerror=alert(2)>" not in page
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:;' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text


@pytest.mark.parametrize("kind", list(SHOWS))
def test_markup_in_every_string_field_of_every_kind_is_shown_as_text(outputs, kind, tmp_path):
    folder = _copy(outputs, kind, tmp_path)
    for path in folder.rglob("*.json"):
        path.write_text(json.dumps(_poisoned(json.loads(path.read_text()))))
    _no_markup(build_report([folder], title=MARKUP))


def test_images_come_only_from_inside_the_folders_reported_on(outputs, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "private.txt").write_text("a private note")
    shutil.copytree(outputs["samples"], secret / "sample")  # an image outside the suite's folder
    folder = _copy(outputs, "gan-run", tmp_path)
    grids = sorted((folder / "samples").glob("epoch_*.png"))
    grids[-1].unlink()
    grids[-1].symlink_to(secret / "private.txt")  # a sample grid that is a link to a private file
    page = build_report([folder])
    assert base64.b64encode(b"a private note").decode() not in page and f"{grids[-1].name}: not shown" in page
    suite = tmp_path / "suite"
    suite.mkdir()
    done = {"status": "done", "seconds": 1.0, "reason": None, "command": "ganforge sample"}
    (suite / "reproduce.json").write_text(json.dumps({"kind": "reproduction", "format": 1, "scale": "smoke",
        "experiments": [{**done, "name": "up", "folder": "../secret/sample"},
                        {**done, "name": "absolute", "folder": str(secret / "sample")}]}))
    page = build_report([suite])
    assert page.count("data:image/png") == 0 and page.count("not shown (outside the suite") == 2
