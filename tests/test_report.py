"""`ganforge reproduce --scale smoke` runs the report's suite and builds one self-contained page,
which a real browser (headless Chromium) renders without errors and with every image decoded."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ganforge.cli import main

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


def test_smoke_suite_runs_every_experiment_of_the_report(suite):
    page = (suite / "report.html").read_text()
    for folder in ("gan-cross_entropy-k4", "gan-non_saturated-k4", "gan-mse-k4", "gan-non_saturated-k0", "invert",
                   "restore", "interpolate-gan", "ae-none", "ae-moments", "interpolate-ae"):
        assert (suite / folder).is_dir(), folder
    assert len(list((suite / "invert" / "loss_curves").glob("*.png"))) == 4
    restore = json.loads((suite / "restore" / "results.json").read_text())
    assert set(restore["masks"]) == {"pepper", "crosswalk", "square"}
    sweep = json.loads((suite / "gan-non_saturated-k4" / "evaluation" / "metrics.json").read_text())
    assert [r["truncation"] for r in sweep["results"]] == [0.5, 1, 1.5, 2, None]
    assert "no CelebA data" in page  # skipped, with its reason, where CelebA is absent
    for name in ("restoration", "interpolation", "Latent values against N(0, 1)", "GAN runs side by side",
                 "truncation", "pepper", "crosswalk", "square"):
        assert name in page, name


def test_report_is_self_contained(suite):
    page = (suite / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)
    assert "<script" not in page
    assert page.count("data:image/png;base64,") >= 20


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


def test_report_of_a_folder_no_command_wrote_is_one_line(tmp_path, capsys):
    (tmp_path / "stray").mkdir()
    assert main(["report", str(tmp_path / "stray"), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no file a ganforge command writes" in err
    assert not (tmp_path / "r.html").exists()


def test_reproduce_refuses_a_folder_with_files(tmp_path, capsys):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    assert main(["reproduce", "-o", str(tmp_path / "busy")]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_report_puts_runs_side_by_side(suite, tmp_path):
    out = tmp_path / "two.html"
    assert main(["report", str(suite / "gan-non_saturated-k4"), str(suite / "gan-non_saturated-k0"),
                 "-o", str(out)]) == 0
    page = out.read_text()
    assert "GAN runs side by side" in page and page.count("<h2 id=") == 3  # two runs, one evaluation
    assert Path(out).stat().st_mode & 0o044  # readable by others, like any file the user makes
