"""scripts/emoji_npz.py: the emoji set from the npm package's layout, in sort order, skin tones sorted,
categories as sorted indices; what --dataset emoji then reads, as it reads the package's folder itself."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import DataOptions, load_dataset
from ganforge.errors import GanforgeError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "emoji_npz.py"


def test_a_package_becomes_the_npz_the_emoji_dataset_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "package" / "img" / "google" / "64"
    folder.mkdir(parents=True)
    for i, name in enumerate(["1f600", "1f44b", "1f44b-1f3fb", "1f44b-1f3fc", "1f1e6-1f1e8"]):
        Image.fromarray(np.full((64, 64, 4), 40 * i, np.uint8), "RGBA").save(folder / f"{name}.png")
    variant = {"has_img_google": True}
    emoji = [  # out of sort order, a variant without an image, skin tones out of order
        {"short_name": "wave", "image": "1f44b.png", "category": "People & Body", "sort_order": 2,
         "has_img_google": True, "skin_variations": {"1F3FC": {**variant, "image": "1f44b-1f3fc.png"},
                                                     "1F3FB": {**variant, "image": "1f44b-1f3fb.png"},
                                                     "1F3FD": {"has_img_google": False, "image": "none.png"}}},
        {"short_name": "grinning", "image": "1f600.png", "category": "Smileys & Emotion", "sort_order": 1,
         "has_img_google": True},
        {"short_name": "flag-ac", "image": "1f1e6-1f1e8.png", "category": "Flags", "sort_order": 3,
         "has_img_google": True},
        {"short_name": "no-image", "image": "x.png", "category": "Flags", "sort_order": 4, "has_img_google": False},
    ]
    (tmp_path / "package" / "emoji.json").write_text(json.dumps(emoji))
    spec = importlib.util.spec_from_file_location("emoji_npz", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    path = script.main(tmp_path / "package", tmp_path / "data")
    z = np.load(path)
    assert z["names"].tolist() == ["grinning", "wave", "wave:1F3FB", "wave:1F3FC", "flag-ac"]
    assert z["codepoints"].tolist() == ["1f600", "1f44b", "1f44b-1f3fb", "1f44b-1f3fc", "1f1e6-1f1e8"]
    assert z["categories"].tolist() == ["Flags", "People & Body", "Smileys & Emotion"]
    assert z["labels"].tolist() == [2, 1, 1, 1, 0] and z["images"].shape == (5, 64, 64, 4)
    assert int(z["images"][2, 0, 0, 0]) == 80  # 1f44b-1f3fb's picture
    d = load_dataset("emoji", DataOptions(root=tmp_path / "data"))
    assert len(d.train) + len(d.test) == 5 and d.extras["classes"] == z["categories"].tolist()
    package = load_dataset("emoji", DataOptions(root=tmp_path / "package"))  # no npz needed
    assert torch.equal(package.train, d.train) and torch.equal(package.train_labels, d.train_labels)
    with pytest.raises(GanforgeError, match="not the emoji-datasource-google package"):
        (tmp_path / "package" / "img" / "google" / "64" / "1f600.png").unlink()
        load_dataset("emoji", DataOptions(root=tmp_path / "package"))
