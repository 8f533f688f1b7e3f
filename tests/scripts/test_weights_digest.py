"""scripts/weights_digest.py: a digest that changes with any bit of any tensor and not with the file's order."""
import importlib.util
from pathlib import Path

import torch
from safetensors.torch import save_file

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "weights_digest.py"


def test_digest_sees_one_bit_and_ignores_order(tmp_path):
    spec = importlib.util.spec_from_file_location("weights_digest", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    a = {"G.w": torch.arange(6.0).view(2, 3), "D.b": torch.ones(4)}
    save_file(a, tmp_path / "a.safetensors")
    save_file(dict(reversed(list(a.items()))), tmp_path / "b.safetensors")
    flipped = a["G.w"].clone()
    flipped.view(torch.int32)[0, 0] ^= 1  # the lowest bit of one float
    save_file({**a, "G.w": flipped}, tmp_path / "c.safetensors")
    da, db, dc = (script.digest(tmp_path / f"{n}.safetensors") for n in "abc")
    assert da == db != dc and len(da) == 16
