"""The README's Python example runs as written (shortened: one epoch on 256 digits, 5 iterations)."""
import re
from pathlib import Path

from ganforge.records import read_record

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_example_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    for long, short in (("epochs=10", "epochs=1, limit=256"), ("iters=300", "iters=5"), ("n=10_000", "n=200")):
        assert long in code
        code = code.replace(long, short)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["metrics"]["kind"] == "image-evaluation" and namespace["metrics"]["results"][0]["lenet_fid"] > 0
    assert read_record(tmp_path / "runs/api/evaluation/metrics.json").kind == "image-evaluation"
    assert read_record(tmp_path / "runs/api-restore/results.json")["masks"]["square"]["hidden_fraction"] > 0
    assert read_record(tmp_path / "runs/api-samples/results.json")["n"] == 64
    assert tuple(namespace["result"].losses.shape) == (4, 5, 5)
    assert tuple(namespace["row"].shape) == (1, 9, 1, 28, 28)
