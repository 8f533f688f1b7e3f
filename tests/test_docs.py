"""The docs as a user reads them: the Python API example runs as written (shortened: one epoch on 256
digits, 5 iterations), every `ganforge` command line in README.md and docs/ parses, the README stays
short, and the pages generated from code are current."""
import re
import shlex
from pathlib import Path

import pytest

from ganforge.cli import build_parser
from ganforge.records import read_record

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_python_api_example_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "python-api.md").read_text(), re.S).group(1)
    for long, short in (("epochs=10", "epochs=1, limit=256"), ("iters=300", "iters=5"), ("n=10_000", "n=200")):
        assert long in code
        code = code.replace(long, short)
    namespace: dict = {}
    exec(compile(code, "docs/python-api.md", "exec"), namespace)
    assert namespace["metrics"]["kind"] == "image-evaluation" and namespace["metrics"]["results"][0]["lenet_fid"] > 0
    assert read_record(tmp_path / "runs/api/evaluation/metrics.json").kind == "image-evaluation"
    assert read_record(tmp_path / "runs/api-restore/results.json")["masks"]["square"]["hidden_fraction"] > 0
    assert read_record(tmp_path / "runs/api-samples/results.json")["n"] == 64
    assert tuple(namespace["result"].losses.shape) == (4, 5, 5)
    assert tuple(namespace["row"].shape) == (1, 9, 1, 28, 28)


def command_lines(text: str) -> list[str]:
    """The `ganforge ...` lines of a page's indented code blocks, comments dropped; `&&` splits a line."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("    ") or "ganforge " not in line:
            continue
        code = line.split("  #")[0].split("# ")[0] if "#" in line else line
        for part in code.split("&&"):
            part = part.strip()
            start = part.find("ganforge ")
            if start != -1 and not part.startswith(("pip", "tensorboard")):
                lines.append(part[start:])
    return lines


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_line_in_the_docs_parses(page, capsys):
    parser = build_parser()
    for line in command_lines(page.read_text()):
        argv = shlex.split(line.replace("\\", ""))[1:]
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page.name}: `{line}` does not parse: {capsys.readouterr().err.strip()}")


def test_the_readme_reads_in_a_few_minutes():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200 and max(map(len, lines)) <= 300
    linked = set(re.findall(r"\(docs/([\w.-]+\.md)", "\n".join(lines)))
    assert {p.name for p in PAGES[1:]} <= linked  # every docs page is reachable from the README
