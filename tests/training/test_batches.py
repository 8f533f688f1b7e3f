"""The training data on the device: images held as uint8 pixels (a quarter of float32's memory) and
made floats batch by batch, bit for bit what the loaders' floats were; data over the device's budget
streamed from host memory with the same result."""
import torch
from safetensors.torch import load_file

from ganforge.config import TrainConfig, resolve
from ganforge.data import load_dataset
from ganforge.data.registry import as_pixels, to_unit_range
from ganforge.training import build_gan_trainer
from ganforge.cli import main
from ganforge.training.batches import Batches, data_budget, epoch_order, hold
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


def test_data_over_the_budget_streams_from_host_memory_and_trains_bit_for_bit_as_in_memory(tmp_path):
    """--data-memory below the data's size: the images stay in host memory and each batch is gathered there
    on a worker thread (the next one prefetched); the run's weights and metrics equal the in-memory run's."""
    common = ["train", "--dataset", "mnist", "--limit", "320", "-b", "32", "-e", "2", "-q", "--conditional",
              "-k", "1", "--recipe", "none"]  # look-ahead draws and labels go through the batches too
    assert main(common + ["-o", str(tmp_path / "memory")]) == 0
    assert main(common + ["--data-memory", "0.0001", "-o", str(tmp_path / "streamed")]) == 0  # 100 KB < 250 KB
    a, b = (load_file(str(tmp_path / run / "checkpoints" / "last.safetensors")) for run in ("memory", "streamed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "memory" / "metrics.csv").read_text() == (tmp_path / "streamed" / "metrics.csv").read_text()


def test_the_autoencoder_streams_too(tmp_path):
    common = ["train-ae", "--limit", "256", "-b", "32", "-e", "1", "-q"]
    assert main(common + ["-o", str(tmp_path / "memory")]) == 0
    assert main(common + ["--data-memory", "0", "-o", str(tmp_path / "streamed")]) == 0
    a, b = (load_file(str(tmp_path / run / "checkpoints" / "last.safetensors")) for run in ("memory", "streamed"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_hold_keeps_what_fits_on_the_device_and_says_when_it_streams(capsys):
    images = to_unit_range(torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8))  # 480 bytes as pixels
    x, streamed = hold(images, CPU, budget=480)
    assert x.dtype == torch.uint8 and not streamed and capsys.readouterr().err == ""
    x, streamed = hold(images, CPU, budget=479)
    assert streamed and "stream" in capsys.readouterr().err
    assert data_budget(0.5, CPU) == 2 ** 29 and data_budget(None, CPU) == float("inf")


def test_a_prefetched_batch_is_the_one_asked_for_and_a_wrong_guess_costs_nothing():
    x = torch.arange(100, dtype=torch.uint8)[:, None].repeat(1, 4).view(100, 1, 2, 2)
    batches = Batches(x, batch_size=4, seed=0, draw_rng=torch.Generator(), device=CPU, streamed=True)
    batches.prefetch(torch.tensor([5, 6, 7, 8]))
    batches.prefetch(torch.tensor([1, 2, 3, 4]))
    assert torch.equal(batches.take(torch.tensor([1, 2, 3, 4]))[0], to_unit_range(x[1:5]))  # the first guess skipped
    assert torch.equal(batches.take(torch.tensor([9, 0, 9, 0]))[0], to_unit_range(x[[9, 0, 9, 0]]))  # not fetched
    batches.close()
