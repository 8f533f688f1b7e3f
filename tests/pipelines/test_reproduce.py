"""`ganforge reproduce --scale smoke` runs the report's suite through the library's functions and
builds one self-contained page, which a real browser (headless Chromium) renders without errors
and with every image decoded."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ganforge.cli import build_parser, main
from ganforge.data import load_dataset
from ganforge.cli.train import given_options
from ganforge.pipelines.reproduce import SCALES, plan
from ganforge.records import read_record
from ganforge.training import AEConfig, TrainConfig


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

# Injected into a copy of the page: records script errors and failed loads, then writes what it
# found (and each image's natural size) into the DOM, which --dump-dom prints.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || (e.target && e.target.tagName))), true);
const __ce = console.error; console.error = (...a) => { window.__errors.push(a.join(' ')); __ce(...a); };
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-probe', JSON.stringify({errors: window.__errors,
    sizes: imgs.map(i => [i.naturalWidth, i.naturalHeight])}));
});
</script>"""


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "suite"
    assert main(["reproduce", "--scale", "smoke", "-o", str(out)]) == 0
    return out


@pytest.mark.slow  # the whole smoke suite, about 20 s
def test_smoke_suite_runs_every_experiment_of_the_report(suite):
    page = (suite / "report.html").read_text()
    for folder in ("gan-cross_entropy-k4", "gan-non_saturated-k4", "gan-mse-k4", "gan-non_saturated-k0", "ae-none",
                   "ae-moments", "interpolate-ae"):
        assert (suite / folder).is_dir(), folder
    # the latent-space sections on the report's generator and on the recipe's
    labels = load_dataset("mnist").test_labels
    for tag, run in (("", "gan-non_saturated-k4"), ("-recipe", "gan-recipe")):
        assert len(list((suite / f"invert{tag}" / "loss_curves").glob("*.png"))) == 5
        inverted = read_record(suite / f"invert{tag}" / "results.json", expect=("inversion",))
        picked = {int(labels[int(r["image"][5:-1])]) for r in inverted["images"]}  # "test[i]"
        assert len(picked) == 5  # five images, five classes (the test split's first five are all zeros)
        restore = read_record(suite / f"restore{tag}" / "results.json", expect=("restoration",))
        assert set(restore["masks"]) == {"pepper", "crosswalk", "square"}
        pairs = read_record(suite / f"interpolate-gan{tag}" / "results.json", expect=("interpolation",))["pairs"]
        assert len({int(labels[int(p[k][5:-1])]) for p in pairs for k in "ab"}) == 4
        sweep = read_record(suite / run / "evaluation" / "metrics.json")
        assert [r["truncation"] for r in sweep["results"]] == [0.5, 1, 1.5, 2, None]
    assert "no CelebA data" in page  # skipped, with its reason, where CelebA is absent
    record = read_record(suite / "reproduce.json", expect=("reproduction",))
    statuses = {e["folder"]: e["status"] for e in record["experiments"]}
    assert statuses["gan-celeb"] == "skipped" and sum(s == "done" for s in statuses.values()) == 20
    for folder in ("gan-cross_entropy-k4", "gan-mse-k4", "gan-non_saturated-k0", "gan-recipe"):  # every GAN evaluated
        assert read_record(suite / folder / "evaluation" / "metrics.json").kind == "image-evaluation"
    assert page.count('<section data-kind="reproduction">') == 1
    for name in ("restoration", "interpolation", "Latent values against N(0, 1)", "GAN runs side by side",
                 "truncation", "pepper", "crosswalk", "square"):
        assert name in page, name


@pytest.mark.slow  # the whole smoke suite, about 20 s
def test_report_is_self_contained(suite):
    page = (suite / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    assert "<script" not in page
    assert page.count("data:image/png;base64,") >= 20


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs Debian's chromium package)")
def test_report_renders_in_headless_chromium(suite, tmp_path):
    page = (suite / "report.html").read_text().replace("<head>", "<head>" + PROBE, 1)
    probe = tmp_path / "probe.html"
    probe.write_text(page)
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                           "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r"data-probe=\"([^\"]*)\"", done.stdout)
    assert found, done.stderr[-2000:]
    result = json.loads(found.group(1).replace("&quot;", '"'))
    assert result["errors"] == []
    assert len(result["sizes"]) >= 20
    assert all(w > 0 and h > 0 for w, h in result["sizes"])


def test_reproduce_refuses_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    assert main(["reproduce", "-o", str(tmp_path / "busy")]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


@pytest.mark.slow  # the whole smoke suite, about 20 s
def test_report_puts_runs_side_by_side(suite, tmp_path):
    out = tmp_path / "two.html"
    assert main(["report", str(suite / "gan-non_saturated-k4"), str(suite / "gan-non_saturated-k0"),
                 "-o", str(out)]) == 0
    page = out.read_text()
    assert "GAN runs side by side" in page and page.count("<h2 id=") == 4  # two runs and their evaluations
    assert Path(out).stat().st_mode & 0o044  # readable by others, like any file the user makes


@pytest.mark.parametrize("scale", list(SCALES))
def test_each_training_experiment_shows_the_command_that_does_the_same(tmp_path, scale):
    """The command shown beside each run, given to ganforge, makes the config the suite trained with."""
    parser = build_parser()
    for exp in plan(SCALES[scale], tmp_path, "cpu", None):
        argv = exp.command.split()[1:]
        if argv[0] not in ("train", "train-ae"):
            assert build_parser().parse_args(argv).func  # the others parse too
            continue
        cls = TrainConfig if argv[0] == "train" else AEConfig
        shown = cls(**given_options(parser.parse_args(argv)))
        assert shown == exp.config


def spread_benchmark():
    import importlib.util
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce.py"
    spec = importlib.util.spec_from_file_location("reproduce_spread", path)
    spread = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spread)
    return spread


def test_spread_outcome_tells_collapse_from_blotchy_variety():
    """Measured `--scale cpu` generators: the k=4 GANs drew nearly nothing but ones (their grids), although
    the evaluator reads their strokes as several classes (class KL 0.64-0.90 in three of four runs); their
    coverage of the test digits (0.01-0.02) gives them away, against 0.26-0.34 for k=0's blotchy but varied
    digits."""
    outcome, collapse = spread_benchmark().outcome, "mode collapse (coverage < 0.05 or class KL > 1)"
    row = dict(lenet_fid=805.0, classifier_score=2.55, class_kl_to_uniform=0.90, coverage=0.016)
    assert outcome(row) == collapse
    assert outcome({**row, "coverage": 0.34, "lenet_fid": 224.0}) == "varied, blotchy digits"
    assert outcome({**row, "coverage": 0.34, "class_kl_to_uniform": 1.9}) == collapse
    assert outcome({**row, "coverage": 0.98, "lenet_fid": 16.0, "class_kl_to_uniform": 0.01}) == "digits"
    assert outcome({**row, "classifier_score": 1.0, "coverage": 0.002}) == "nothing (one class, score < 1.5)"


@pytest.mark.slow  # the whole smoke suite, about 20 s
def test_spread_benchmark_reads_a_suite(suite, tmp_path):
    """benchmarks/reproduce.py reads each GAN row's evaluation from a finished suite, names the outcome, and
    a row whose run failed says which experiment failed and why."""
    spread = spread_benchmark()
    one = {**spread.read_suite(suite), "measured": "today", "machine": {"cpu": "test", "cores": 2}}
    assert set(one["rows"]) == set(spread.ROWS)
    for name, row in one["rows"].items():
        metrics = read_record(suite / name / "evaluation" / "metrics.json")
        untruncated = next(r for r in metrics["results"] if r.get("truncation") is None)
        assert row["lenet_fid"] == untruncated["lenet_fid"]
        assert row["outcome"] == spread.outcome(row)
    # the same suite twice: every row stable
    md = spread.markdown({"suites": [one, one]})
    assert md.count("| yes |") == len(spread.ROWS)
    # a suite whose mse run failed: that row says so, and differs from the good suite's
    broken = tmp_path / "broken"
    shutil.copytree(suite, broken)
    shutil.rmtree(broken / "gan-mse-k4" / "evaluation")
    record = json.loads((broken / "reproduce.json").read_text())
    for e in record["experiments"]:
        if e["folder"] == "gan-mse-k4":
            e["status"], e["reason"] = "failed", "loss became nan"
        elif e["folder"] == "gan-mse-k4/evaluation":
            e["status"], e["reason"] = "skipped", "needs gan-mse-k4, which failed"
    (broken / "reproduce.json").write_text(json.dumps(record))
    two = {**spread.read_suite(broken), "measured": "today", "machine": {"cpu": "test", "cores": 2}}
    assert two["rows"]["gan-mse-k4"] == {"outcome": "GAN, mse loss, k=4 failed: loss became nan"}
    md = spread.markdown({"suites": [one, two]})
    assert md.count("| yes |") == len(spread.ROWS) - 1 and "loss became nan" in md
