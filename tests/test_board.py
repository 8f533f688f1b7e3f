"""--tensorboard: event files read back with TensorBoard's own reader hold every metrics.csv column
per iteration, each epoch's sample grid, the options as hyperparameters, and evaluate's metrics."""
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from ganforge.cli import main
from ganforge.training.stats import read_metrics


def _events(run):
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    return acc.Reload()


def test_a_gan_run_logs_curves_grids_options_and_evaluation(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "128", "-b", "32", "-e", "2", "-q",
                 "--log-every", "3", "--tensorboard", "-o", str(run)]) == 0
    acc = _events(run)
    tags = acc.Tags()
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake", "train/g_grad_norm"} <= set(tags["scalars"])
    csv = read_metrics(run / "metrics.csv")
    d_loss = acc.Scalars("train/d_loss")
    assert [e.step for e in d_loss] == [int(r["iteration"]) for r in csv] == list(range(1, 9))
    assert [e.value for e in d_loss] == pytest.approx([r["d_loss"] for r in csv], rel=1e-5)  # the CSV keeps 6 digits
    grids = acc.Images("samples")
    assert [g.step for g in grids] == [4, 8] and grids[0].width > 100  # one grid per epoch
    hparams = plugin_data_pb2.HParamsPluginData.FromString(
        acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    options = hparams.session_start_info.hparams
    assert options["generator"].string_value == "M4" and options["batch_size"].number_value == 32
    assert main(["evaluate", "--generator", str(run), "-n", "200"]) == 0
    fid = _events(run).Scalars("evaluate/lenet_fid")
    assert len(fid) == 1 and fid[0].step == 8 and fid[0].value > 0


def test_a_resumed_run_continues_the_curves_and_an_ae_run_logs_too(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "--limit", "256", "-b", "64", "-q",
            "--log-every", "1", "--tensorboard"]
    assert main(args + ["-e", "1", "-o", str(run)]) == 0
    assert main(["train", "--resume", str(run), "-e", "2", "-q"]) == 0
    steps = [e.step for e in _events(run).Scalars("train/g_loss")]
    assert steps == list(range(1, 9))  # one value per iteration, none twice
    ae = tmp_path / "ae"
    assert main(["train-ae", "--limit", "128", "-b", "32", "-e", "1", "-q", "--tensorboard", "-o", str(ae)]) == 0
    acc = _events(ae)
    assert len(acc.Scalars("train/image_mse")) == 4 and len(acc.Images("samples")) == 1
