"""Animations: GIF and MP4 written through imageio and read back (frame count, size, pixels), latent
walks from `interpolate --video` and `--loop`, a run's progress from `train --progress-video`, and the
report's animated grids."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.animation import grid_frames, read_animation, write_animation
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.latent.interpolation import walk


def _frames(count: int, h: int, w: int) -> np.ndarray:
    """Grey ramps that move from frame to frame: at most 256 colours, so a GIF keeps them exactly."""
    ramp = (np.arange(w)[None, :] * 7 + np.arange(h)[:, None] * 3) % 256
    grey = np.stack([(ramp + 20 * t) % 256 for t in range(count)]).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=3)


def test_a_gif_reads_back_frame_for_frame(tmp_path):
    frames = _frames(5, 20, 30)
    path = write_animation(tmp_path / "walk.gif", frames, fps=10)
    back = read_animation(path)
    assert back.shape == (5, 20, 30, 3) and np.array_equal(back, frames)
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed, nothing left behind


def test_an_mp4_reads_back_with_even_sides_and_close_pixels(tmp_path):
    frames = _frames(6, 31, 33)  # odd sides: H.264 in yuv420p needs even ones
    back = read_animation(write_animation(tmp_path / "walk.mp4", frames, fps=12))
    assert back.shape == (6, 32, 34, 3)
    error = np.abs(back[:, :31, :33].astype(int) - frames.astype(int)).mean()
    assert error < 6, error  # lossy, but the same pictures


def test_bad_names_and_frames_are_one_clear_error(tmp_path):
    with pytest.raises(GanforgeError, match="as .gif or .mp4"):
        write_animation(tmp_path / "walk.avi", _frames(2, 4, 4), fps=1)
    with pytest.raises(GanforgeError, match="is not a folder"):
        write_animation(tmp_path / "missing" / "walk.gif", _frames(2, 4, 4), fps=1)
    with pytest.raises(GanforgeError, match="uint8 pixels"):
        write_animation(tmp_path / "walk.gif", np.zeros((2, 4, 4), np.uint8), fps=1)


def test_a_walk_starts_and_ends_on_its_stops_and_a_loop_closes():
    decode = torch.nn.Identity()
    stops = torch.tensor([[[0.0, 0.0]], [[4.0, 0.0]], [[4.0, 8.0]]])  # (S=3, P=1, z=2)
    open_walk = walk(decode, stops, 4)
    assert open_walk.shape == (9, 1, 2)  # (S - 1) * steps + 1
    assert torch.equal(open_walk[0], stops[0]) and torch.equal(open_walk[-1], stops[-1])
    assert torch.equal(open_walk[4], stops[1]) and torch.allclose(open_walk[2], torch.tensor([[2.0, 0.0]]))
    loop = walk(decode, stops, 4, closed=True)
    assert loop.shape == (12, 1, 2) and torch.allclose(loop[-1], torch.tensor([[1.0, 2.0]]))  # a step from the first


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("anim")
    assert main(["train", "-g", "M2", "-d", "M3", "-b", "64", "--limit", "128", "-e", "3", "-q", "--progress-video",
                 "-o", str(root / "run")]) == 0
    return root / "run"


def test_training_progress_is_every_epochs_grid_in_turn(run, tmp_path):
    frames = read_animation(run / "progress.gif")
    grids = [np.asarray(Image.open(run / "samples" / f"epoch_{e:03d}.png").convert("RGB")) for e in (1, 2, 3)]
    assert len(frames) == 3 and frames.shape[1:] == grids[0].shape
    assert np.array_equal(frames[0], grids[0]) and np.array_equal(frames[-1], grids[-1])
    out = tmp_path / "report.html"
    assert main(["report", str(run), "-o", str(out)]) == 0
    assert "data:image/gif;base64," in out.read_text()  # the run's own animation is on the page


def test_interpolate_video_and_loop(run, tmp_path):
    out, video = tmp_path / "int", tmp_path / "pairs.gif"
    assert main(["interpolate", "--generator", str(run), "--a", "0", "4", "--b", "1", "9", "-i", "5", "-s", "2",
                 "--video", str(video), "--frames", "4", "-o", str(out)]) == 0
    frames = read_animation(video)
    assert frames.shape[0] == 5 and frames.shape[1:3] == (32, 62)  # 2 pairs side by side, 28 px and padding
    assert json.loads((out / "results.json").read_text())["animation"]["frames"] == 5
    loop = tmp_path / "loop"
    assert main(["interpolate", "--generator", str(run), "--loop", "3", "--rows", "2", "--frames", "6",
                 "-o", str(loop)]) == 0
    frames = read_animation(loop / "loop.gif")
    start = np.asarray(Image.open(loop / "start.png").convert("RGB"))
    assert len(frames) == 18 and np.array_equal(frames[0], start)  # 3 legs of 6, from the first stop
    page = tmp_path / "report.html"
    assert main(["report", str(out), str(loop), "-o", str(page)]) == 0
    assert page.read_text().count("data:image/gif;base64,") == 1  # pairs.gif lies outside the folders given


def test_bad_animation_options_are_one_line(run, tmp_path, capsys):
    for argv, message in ((["--loop", "3", "--video", str(tmp_path / "x.avi")], "as .gif or .mp4"),
                          (["--loop", "3", "--a", "0", "--b", "1"], "without --a, --b or --classes"),
                          (["--loop", "3", "--fps", "0"], "--fps must be in")):
        capsys.readouterr()
        assert main(["interpolate", "--generator", str(run), *argv, "-o", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err
        assert not (tmp_path / "o").exists()


def test_report_animates_a_runs_grids_on_request(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "-g", "M2", "-d", "M3", "-b", "64", "--limit", "128", "-e", "2", "-q", "-o", str(run)]) == 0
    page = tmp_path / "report.html"
    assert main(["report", str(run), "-o", str(page)]) == 0
    assert "image/gif" not in page.read_text()
    assert main(["report", str(run), "--progress-video", "-o", str(page)]) == 0
    assert "data:image/gif;base64," in page.read_text() and not (run / "progress.gif").exists()


def test_grid_frames_match_the_saved_grids():
    images = torch.rand(2, 3, 1, 8, 8) * 2 - 1  # (T, N, C, H, W)
    frames = grid_frames(images, nrow=3)
    assert frames.shape == (2, 12, 32, 3) and frames.dtype == np.uint8
