import numpy as np
import pytest
import torch
from PIL import Image
from videos import read_video

from videogan.data.video_io import grid, to_uint8, write_video


@pytest.mark.parametrize("ext", ["mp4", "gif"])
def test_written_videos_decode_with_the_right_frames_and_size(tmp_path, ext):
    rng = np.random.default_rng(0)
    frames = np.repeat(np.repeat(rng.integers(0, 255, (12, 9, 10, 3), dtype=np.uint8), 2, 1), 2, 2)  # 12 18x20
    path = tmp_path / f"v.{ext}"
    write_video(path, frames, fps=8)
    decoded = read_video(path)
    assert decoded.shape == (12, 18, 20, 3)
    if ext == "gif":
        with Image.open(path) as im:
            assert im.n_frames == 12
    else:
        assert np.abs(decoded.astype(int) - frames).mean() < 20  # lossy, but the same picture


def test_odd_sizes_are_padded_for_h264(tmp_path):
    write_video(tmp_path / "odd.mp4", np.zeros((3, 7, 9, 3), np.uint8))
    assert read_video(tmp_path / "odd.mp4").shape == (3, 8, 10, 3)


def test_unknown_extension_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="v.avi"):
        write_video(tmp_path / "v.avi", np.zeros((2, 4, 4, 3), np.uint8))


def test_grid_and_range_conversion():
    videos = torch.stack([torch.full((3, 2, 4, 4), v) for v in (-1.0, 0.0, 1.0)])
    frames = to_uint8(videos)
    assert frames.shape == (3, 2, 4, 4, 3) and frames[0].max() == 0 and frames[2].min() == 255
    tiled = grid(frames, columns=2, pad=1)
    assert tiled.shape == (2, 2 * 5 + 1, 2 * 5 + 1, 3)
    assert (tiled[:, 1:5, 6:10] == 128).all()  # second video, first row
