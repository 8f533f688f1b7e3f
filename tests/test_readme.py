"""The README's Python example runs as written (on a generator trained here)."""
import re
from pathlib import Path

from ganforge.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_example_runs(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "-g", "M2", "-d", "M3", "-b", "64", "--limit", "128", "-e", "1", "-q", "-o", str(run)]) == 0
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    code = code.replace('"runs/RUN"', repr(str(run))).replace("iters=300", "iters=5")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert tuple(namespace["result"].losses.shape) == (4, 5, 5)
    assert tuple(namespace["row"].shape) == (1, 9, 1, 28, 28)
