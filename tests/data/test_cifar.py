"""CIFAR-10 through torchvision's layout, on a tiny cifar-10-batches-py folder the test writes (torchvision
checks the real files' checksums; the test's own files pass that check by a patch)."""
import pickle

import numpy as np
import pytest
import torch

from ganforge.config import TrainConfig, resolve
from ganforge.data import DataOptions, load_dataset
from ganforge.errors import GanforgeError

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar
    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3 * 32 * 32), dtype=np.uint8)  # rows: R plane, G plane, B plane
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [0, 3, 9, 3]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": NAMES}, f)
    return tmp_path


def test_cifar10_reads_torchvisions_layout_as_32x32_colour_with_labels(cifar_root):
    data = load_dataset("cifar10", DataOptions(root=cifar_root, image_size=32))
    assert data.train.shape == (20, 3, 32, 32) and data.test.shape == (4, 3, 32, 32)
    assert data.train_labels.tolist() == [0, 3, 9, 3] * 5 and data.extras["classes"] == NAMES
    with open(cifar_root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        first = pickle.load(f)["data"][0].reshape(3, 32, 32)  # channel planes, as the files store them
    assert torch.equal(data.train[0], torch.from_numpy(first).float() / 127.5 - 1)


def test_cifar10_trains_at_its_own_size_unless_told_and_resizes_when_told(cifar_root):
    assert resolve(TrainConfig(dataset="cifar10")).image_size == 32  # its own size, not the colour default 64
    assert resolve(TrainConfig(dataset="emoji")).image_size == 64
    cfg = resolve(TrainConfig(dataset="cifar10"))
    assert (cfg.generator, cfg.discriminator) == ("M10", "M13")  # the colour recipe, measured on emoji, at 32
    big = load_dataset("cifar10", DataOptions(root=cifar_root, image_size=64))
    assert big.train.shape == (20, 3, 64, 64)


def test_cifar10_missing_is_one_clear_error(tmp_path):
    with pytest.raises(GanforgeError, match="CIFAR-10 under .*cifar-10-batches-py"):
        load_dataset("cifar10", DataOptions(root=tmp_path, image_size=32))
