import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import DATASETS, DataOptions, load_dataset
from ganforge.data import mnist as mnist_module
from ganforge.data.mnist import stratified_split
from ganforge.errors import GanforgeError


def test_bundled_mnist_split_is_stratified_8000_2000():
    d = load_dataset("mnist")
    assert d.train.shape == (8000, 1, 28, 28) and d.test.shape == (2000, 1, 28, 28)
    assert d.train.dtype == torch.float32 and d.train.min() == -1.0 and d.train.max() == 1.0
    # Class counts of the sample: 0:1001 1:1127 2:991 3:1032 4:980 5:863 6:1014 7:1070 8:944 9:978;
    # the test split takes a fifth of each, rounded so that the total is exactly 2,000.
    assert torch.bincount(d.test_labels).tolist() == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    assert torch.bincount(torch.cat([d.train_labels, d.test_labels])).tolist() == [
        1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert "bundled" in d.source


def test_bundled_split_is_fixed_and_disjoint():
    a, b = load_dataset("mnist"), load_dataset("mnist")
    assert torch.equal(a.test, b.test) and torch.equal(a.train, b.train)
    flat_train = {bytes(x.numpy().tobytes()) for x in a.train}
    assert not any(bytes(x.numpy().tobytes()) in flat_train for x in a.test)


def test_stratified_split_rounding_adds_up():
    labels = np.repeat(np.arange(3), [5, 7, 11])
    train, test = stratified_split(labels, 7, seed=0)
    assert len(test) == 7 and len(train) == 16 and not set(train) & set(test)


def test_corrupt_bundled_sample_is_refused(monkeypatch):
    monkeypatch.setattr(mnist_module, "SAMPLE_SHA256", "0" * 64)
    with pytest.raises(GanforgeError, match="corrupt"):
        load_dataset("mnist")


def _write_idx(path, array: np.ndarray):
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_from_debian_files(tmp_path, monkeypatch):
    folder = tmp_path / "debian"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION", folder)
    d = load_dataset("fashion")
    assert d.train.shape == (30, 1, 28, 28) and d.test.shape == (10, 1, 28, 28)
    assert d.train_labels.tolist() == [i % 10 for i in range(30)]
    assert "Debian" in d.source


def test_missing_fashion_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module, "DEBIAN_FASHION", tmp_path / "nothing")
    with pytest.raises(GanforgeError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion")


def _jpegs(folder, n, size=(50, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def test_celeb_from_torchvision_layout(tmp_path):
    base = tmp_path / "root" / "celeba"
    names = _jpegs(base / "img_align_celeba", 10)
    parts = [0] * 6 + [1] * 2 + [2] * 2
    (base / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, parts)))
    d = load_dataset("celeb", DataOptions(root=tmp_path / "root", image_size=32))
    assert d.train.shape == (8, 3, 32, 32) and d.test.shape == (2, 3, 32, 32)
    assert -1 <= d.train.min() and d.train.max() <= 1
    assert "torchvision CelebA layout" in d.source
    # A second load comes from the cache and is identical.
    assert torch.equal(load_dataset("celeb", DataOptions(root=tmp_path / "root", image_size=32)).train, d.train)


def test_celeb_from_any_image_folder_crops_to_centre(tmp_path):
    folder = tmp_path / "faces"
    _jpegs(folder / "a", 6, size=(60, 30))
    _jpegs(folder / "b", 4, size=(30, 30))
    # A wide image whose centre square is white and whose sides are black.
    img = np.zeros((30, 90, 3), np.uint8)
    img[:, 30:60] = 255
    Image.fromarray(img).save(folder / "wide.png")
    d = load_dataset("celeb", DataOptions(root=folder, image_size=16))
    assert len(d.train) + len(d.test) == 11 and d.shape == (3, 16, 16)
    whites = [x for x in torch.cat([d.train, d.test]) if x.min() > 0.95]
    assert len(whites) == 1  # the black sides were cropped away


def test_missing_celeb_says_how_to_get_it(tmp_path):
    with pytest.raises(GanforgeError, match="img_align_celeba"):
        load_dataset("celeb", DataOptions(root=tmp_path / "empty"))
    with pytest.raises(GanforgeError, match="--data-root"):
        load_dataset("celeb")


def test_stacked_mnist_channels_are_independent_digits():
    d = load_dataset("stacked-mnist")
    assert d.train.shape[1:] == (3, 28, 28)
    assert len(torch.unique(d.train_labels)) > 900  # nearly all of the 1,000 modes appear
    base = load_dataset("mnist")
    # Each channel of a stacked image is one MNIST training digit.
    first = d.train[0]
    for c in range(3):
        assert (base.train[:, 0] == first[c]).all(dim=(1, 2)).any()


@pytest.mark.parametrize("name,modes,std,extent", [("ring", 8, 0.02, 2.0), ("grid", 25, 0.05, 4.0)])
def test_toys(name, modes, std, extent):
    d = load_dataset(name)
    centres = d.extras["centres"]
    assert centres.shape == (modes, 2)
    assert centres.norm(dim=1).max() == pytest.approx(extent * (2 ** 0.5 if name == "grid" else 1), rel=1e-5)
    offsets = d.train - centres[d.train_labels]
    assert offsets.std().item() == pytest.approx(std, rel=0.05)


def test_registry_names():
    assert set(DATASETS.names()) == {"mnist", "fashion", "celeb", "stacked-mnist", "ring", "grid", "images", "emoji",
                                     "cifar10"}


def test_mnist_from_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 5)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1", np.arange(n) % 10)):
            gz = raw / f"{split}-{kind}-ubyte.gz"
            _write_idx(gz, arr)
            (raw / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    d = load_dataset("mnist", DataOptions(root=tmp_path))
    assert d.train.shape == (20, 1, 28, 28) and d.test.shape == (5, 1, 28, 28)
    assert "torchvision MNIST" in d.source


def test_mnist_root_without_files_says_how_to_get_them(tmp_path):
    with pytest.raises(GanforgeError, match="--download"):
        load_dataset("mnist", DataOptions(root=tmp_path))


def test_figures_pick_test_images_across_the_classes():
    from ganforge.data.registry import Dataset, balanced_order

    labels = torch.arange(10).repeat_interleave(20)  # a test split grouped by class, as MNIST's comes
    data = Dataset("d", torch.zeros(5, 1), torch.zeros(200, 1), "made here", test_labels=labels)
    picks = data.test_picks(8)
    assert len(set(labels[picks].tolist())) == 8  # eight images, eight classes (the first eight: all zeros)
    counts = torch.bincount(labels[data.test_picks(25)], minlength=10)
    assert counts.min() == 2 and counts.max() == 3
    assert torch.equal(data.test_picks(25, seed=3), data.test_picks(25, seed=3))  # fixed by the seed
    assert not torch.equal(data.test_picks(25, seed=3), data.test_picks(25, seed=4))
    assert sorted(balanced_order(labels, 200, 0).tolist()) == list(range(200))  # an order of all of them
    assert sorted(balanced_order(None, 7, 0).tolist()) == list(range(7))
    bundled = load_dataset("mnist")
    assert len(set(bundled.test_labels[bundled.test_picks(10)].tolist())) == 10
