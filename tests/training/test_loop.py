"""The run lifecycle's guards: non-finite losses, vanishing-gradient warnings, unwritable output."""
import json
import os

import pytest
import torch

import ganforge.training.gan as gan
from ganforge.checkpoint import load_checkpoint
from ganforge.cli import main
from ganforge.training.stats import read_metrics

RING = ["train", "--dataset", "ring", "-b", "1000", "--limit", "5000", "-q", "--log-every", "2"]


def _patch_step(monkeypatch, at: int, value: float, field: str):
    real_step, calls = gan.GanTrainer.train_step, {"n": 0}

    def step(*a, **kw):
        stats = real_step(*a, **kw)
        calls["n"] += 1
        if calls["n"] >= at:
            stats = stats._replace(**{field: torch.tensor(value)})
        return stats

    monkeypatch.setattr(gan.GanTrainer, "train_step", step)


def test_nan_loss_stops_cleanly_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    _patch_step(monkeypatch, at=8, value=float("nan"), field="g_loss")  # g_loss NaN in epoch 2 (5 iterations/epoch)
    assert main(RING + ["-e", "3", "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert "loss became non-finite at iteration 8" in err and "last good checkpoint kept" in err
    _, meta = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert meta["position"]["iteration"] == 5  # end of epoch 1, before the NaN
    rows = read_metrics(run / "metrics.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(1, 9))  # the NaN row is kept as evidence
    assert not (run / "generator.safetensors").exists()

    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0
    rows = read_metrics(run / "metrics.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(1, 16))  # cut back at 5, then continued
    assert all(r["g_loss"] == r["g_loss"] for r in rows)  # no NaN left


def test_vanishing_gradients_are_reported(tmp_path, monkeypatch, capsys):
    _patch_step(monkeypatch, at=3, value=1e-7, field="g_grad_norm")
    assert main(RING + ["-e", "2", "-o", str(tmp_path / "r"), "--vanish-patience", "4"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: vanishing gradients") == 1
    assert "since iteration 3" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_unwritable_output_folder_fails_before_training(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    assert main(RING + ["-e", "1", "-o", str(ro / "run")]) == 2
    assert "cannot write to output folder" in capsys.readouterr().err


def test_output_path_that_is_a_file_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(RING + ["-e", "1", "-o", str(blocker / "run")]) == 2
    assert "cannot write to output folder" in capsys.readouterr().err
    assert blocker.read_text() == "x"


def test_full_disk_before_training_is_one_clear_line(tmp_path, monkeypatch, capsys):
    import errno
    from pathlib import Path

    real = Path.write_bytes

    def full(self, data):
        if self.name == ".write-test":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    assert main(RING + ["-e", "1", "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "cannot write to output folder" in errors[0] and "No space left" in errors[0]
    assert not (tmp_path / "run").exists()  # nothing left to block the next try


def test_disk_filling_up_mid_run_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys):
    import errno

    import ganforge.io as gio

    run = tmp_path / "run"
    real, calls = gio.os.fsync, {"n": 0}

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".last.safetensors."):
            calls["n"] += 1
            if calls["n"] == 2:  # the second checkpoint write finds the disk full
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(gio.os, "fsync", fsync)
    assert main(RING + ["-e", "3", "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1 and "No space left" in err
    _, meta = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert meta["position"]["iteration"] == 5  # the first checkpoint, whole
    assert not list((run / "checkpoints").glob(".*.tmp"))  # the failed write cleaned up after itself
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0


def test_time_limit_stops_as_at_an_epoch_end_and_resume_continues_exactly(tmp_path):
    args = RING + ["-e", "2", "--log-every", "3"]
    assert main(args + ["-o", str(tmp_path / "whole")]) == 0
    # a limit that has passed at the first flush: the run stops after iteration 3 of epoch 1
    assert main(args + ["--time-limit", "1e-9", "-o", str(tmp_path / "cut")]) == 0
    cut = tmp_path / "cut"
    summary = json.loads((cut / "summary.json").read_text())
    assert summary["stopped_by_time_limit"] and (summary["epochs"], summary["iterations"]) == (0, 3)
    _, meta = load_checkpoint(cut / "checkpoints" / "last.safetensors")
    assert meta["position"] == {"epoch": 0, "batch": 3, "iteration": 3}
    for f in ("generator.safetensors", "samples/epoch_001.png", "loss.png"):
        assert (cut / f).exists(), f
    assert main(["train", "--resume", str(cut), "--time-limit", "100", "-q"]) == 0
    assert not json.loads((cut / "summary.json").read_text())["stopped_by_time_limit"]
    a = load_checkpoint(tmp_path / "whole" / "generator.safetensors")[0]
    b = load_checkpoint(cut / "generator.safetensors")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "whole" / "metrics.csv").read_text() == (cut / "metrics.csv").read_text()


def test_time_limit_without_epochs_trains_until_the_limit(tmp_path):
    assert main(RING + ["--time-limit", "0.02", "-o", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stopped_by_time_limit"] and summary["seconds"] >= 1.2
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] is None


def test_a_run_folder_has_one_writer_and_the_lock_dies_with_its_process(tmp_path, capsys):
    import subprocess
    import sys

    from ganforge.training.run_folder import RunFolder

    run, fresh = tmp_path / "run", tmp_path / "fresh"
    assert main(RING + ["-e", "1", "-o", str(run)]) == 0
    capsys.readouterr()
    holders = [RunFolder(run), RunFolder(fresh)]  # as a `train -o` or a `--resume` holds them while it trains
    for holder in holders:
        holder.lock()
    for folder, argv in ((fresh, RING + ["-e", "1", "-o", str(fresh)]), (run, ["train", "--resume", str(run), "-q"])):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{folder} is in use: another ganforge process is writing it" in err
    assert len(read_metrics(run / "metrics.csv")) == 5 and not any(fresh.iterdir())  # nothing written
    for holder in holders:
        holder.release()
    # a process killed with the folder held: the OS lets go, and --resume goes on
    code = (f"from ganforge.training.run_folder import RunFolder; RunFolder(__import__('pathlib').Path({str(run)!r}))"
            ".lock(); print('held', flush=True); __import__('time').sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    assert main(["train", "--resume", str(run), "-e", "2", "-q"]) == 2
    child.kill()
    child.wait()
    assert main(["train", "--resume", str(run), "-e", "2", "-q"]) == 0
    assert len(read_metrics(run / "metrics.csv")) == 10


def test_a_run_killed_before_its_first_checkpoint_starts_again_in_place(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(RING + ["-e", "1", "-o", str(run)]) == 0
    for stale in ("checkpoints/last.safetensors", "generator.safetensors", "summary.json"):
        (run / stale).unlink()  # what a kill before the first checkpoint leaves: config, metrics, figures
    (run / ".metrics.csv.123.tmp").write_text("half")
    assert main(["train", "--resume", str(run), "-q"]) == 0
    assert "stopped before its first checkpoint; starting it from the beginning" in capsys.readouterr().err
    assert len(read_metrics(run / "metrics.csv")) == 5 and not list(run.glob(".*.tmp"))
    for stale in ("checkpoints/last.safetensors", "generator.safetensors", "summary.json"):
        (run / stale).unlink()
    assert main(RING + ["-e", "1", "-o", str(run)]) == 0  # a fresh run into it, too
    for stale in ("checkpoints/last.safetensors", "generator.safetensors", "summary.json"):
        (run / stale).unlink()
    (run / "notes.txt").write_text("mine")  # a folder holding anything else is not a run's to clear
    assert main(RING + ["-e", "1", "-o", str(run)]) == 2 and (run / "notes.txt").read_text() == "mine"
