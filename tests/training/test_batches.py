"""The training data on the device: images held as uint8 pixels (a quarter of float32's memory) and
made floats batch by batch, bit for bit what the loaders' floats were."""
import torch

from ganforge.config import TrainConfig, resolve
from ganforge.data import load_dataset
from ganforge.data.registry import as_pixels, to_unit_range
from ganforge.training import build_gan_trainer
from ganforge.training.batches import Batches, epoch_order
from ganforge.training.distributed import SINGLE
from ganforge.training.loop import Setting

CPU = torch.device("cpu")


def test_pixels_round_trip_bit_for_bit_and_other_data_stays_float():
    pixels = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    images = to_unit_range(pixels)
    assert torch.equal(as_pixels(images, chunk=16), pixels)  # chunks of 16, the last one short
    assert as_pixels(images + 1e-3) is None  # not pixels: kept as floats
    assert as_pixels(torch.randn(10, 2)) is None  # 2-D points


def _trainer(dataset: str, **options):
    cfg = resolve(TrainConfig(dataset=dataset, device="cpu", **options))
    data = load_dataset(dataset).limit(256)
    torch.manual_seed(0)
    return build_gan_trainer(Setting(cfg, data, CPU, SINGLE, torch.Generator().manual_seed(1))), data


def test_a_trainer_holds_mnist_as_uint8_and_its_batches_are_the_loaders_floats():
    gan, data = _trainer("mnist", clusters=0)
    assert gan.batches.x.dtype == torch.uint8
    assert gan.batches.x.element_size() * gan.batches.x.numel() == 256 * 784  # a byte per pixel
    index = epoch_order(len(data.train), 0, 0)[:64]
    real, labels = gan.batches.take(index)
    assert real.dtype == torch.float32 and torch.equal(real, data.train[index]) and labels is None
    assert real.is_contiguous(memory_format=torch.channels_last)  # the layout the models train in


def test_points_stay_float():
    gan, data = _trainer("ring")
    assert gan.batches.x.dtype == torch.float32
    assert torch.equal(gan.batches.take(torch.arange(5))[0], data.train[:5])


def test_look_ahead_draws_come_from_the_batches_own_generator():
    x = torch.arange(100.0)[:, None]
    a = Batches(x, batch_size=8, seed=0, draw_rng=torch.Generator().manual_seed(3))
    b = Batches(x, batch_size=8, seed=0, draw_rng=torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    first = a.draw()[0]
    torch.manual_seed(1)  # the global stream does not matter
    assert torch.equal(first, b.draw()[0]) and len(first) == 8
