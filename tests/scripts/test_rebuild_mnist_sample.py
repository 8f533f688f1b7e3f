import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rebuild_mnist_sample.py"
spec = importlib.util.spec_from_file_location("rebuild_mnist_sample", SCRIPT)
rebuild = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rebuild)


def test_convert_restores_bytes_from_rounded_floats(tmp_path):
    digits = tmp_path / "src" / "digits"
    digits.mkdir(parents=True)
    rng = np.random.default_rng(0)
    originals = {}
    for d in range(10):
        pixels = rng.integers(0, 256, (d % 3 + 1, 784), dtype=np.uint8)
        originals[d] = pixels
        # The package stores pixel/255 rounded to 3 decimals.
        (digits / f"{d}.json").write_text(json.dumps({"data": [round(v / 255, 3) for v in pixels.flatten().tolist()]}))
    images, labels = rebuild.convert(tmp_path)
    assert images.dtype == np.uint8 and images.shape == (sum(len(p) for p in originals.values()), 28, 28)
    assert np.array_equal(images.reshape(-1, 784), np.concatenate(list(originals.values())))
    assert labels.tolist() == [d for d in range(10) for _ in range(d % 3 + 1)]


def test_npz_of_the_bundled_arrays_has_the_recorded_checksum():
    with np.load(rebuild.BUNDLED) as npz:
        blob = rebuild.to_npz(npz["images"], npz["labels"])
    assert hashlib.sha256(blob).hexdigest() == "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef"
