import numpy as np
import pytest

from videogan.data import decode
from videogan.data.decode import DecodeError, count_frames, iter_frames, iter_parts, probe
from videogan.data.defects import Cuts
from videos import damage_middle, moving_pattern, write_audio_only, write_frame_folder, write_video


def nearest(decoded, source):
    """Index of the source frame each decoded frame is closest to."""
    return [int(np.argmin([np.abs(f.astype(int) - s).mean() for s in source])) for f in decoded]


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".gif"])
def test_encoded_files_decode_in_order(tmp_path, ext):
    video = moving_pattern(12, 32, 48)
    path = write_video(tmp_path / f"v{ext}", video, fps=10)
    frames = list(iter_frames(path))
    assert probe(path).fps == pytest.approx(10)
    assert len(frames) == 12 == count_frames(path)
    assert frames[0].shape == (32, 48, 3) and frames[0].dtype == np.uint8
    assert nearest(frames, video) == list(range(12))


def test_frame_folder_sorted_by_number_not_name(tmp_path):
    video = moving_pattern(12, 24, 24)
    folder = write_frame_folder(tmp_path / "frames", video)  # frame_10.png sorts before frame_2.png by name
    assert nearest(list(iter_frames(folder)), video) == list(range(12))


def test_grayscale_becomes_rgb_and_short_side_scales(tmp_path):
    path = write_video(tmp_path / "g.mp4", moving_pattern(6, 40, 64), gray=True)
    frames = list(iter_frames(path, short_side=20))
    assert frames[0].shape == (20, 32, 3)
    assert np.array_equal(frames[0][..., 0], frames[0][..., 1])


def test_variable_frame_rate_is_resampled_by_timestamps(tmp_path):
    video = moving_pattern(6, 32, 32)
    times = [0.0, 0.1, 0.15, 0.5, 0.6, 0.7]  # a burst and a gap
    path = write_video(tmp_path / "vfr.mp4", video, fps=10, times=times)
    frames = list(iter_frames(path, fps=10))
    # slots at 0.0 .. 0.7 s: the gap repeats frame 2 (0.15 s), the burst drops nothing it can keep
    assert nearest(frames, video) == [0, 1, 2, 2, 2, 3, 4, 5]


def test_resampling_halves_and_seeks(tmp_path):
    video = moving_pattern(20, 32, 32)
    path = write_video(tmp_path / "v.mp4", video, fps=20)
    assert nearest(list(iter_frames(path, fps=10)), video) == list(range(0, 20, 2))
    assert nearest(list(iter_frames(path, start=0.5)), video) == list(range(10, 20))


def test_unreadable_inputs_raise_one_line_reasons(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 50)
    write_audio_only(tmp_path / "audio.m4a")
    good = write_video(tmp_path / "good.mp4", moving_pattern(10, 32, 32)).read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(good[: len(good) // 2])
    for name, reason in [("empty.mp4", "empty"), ("text.mp4", "not a readable"), ("audio.m4a", "no video stream"),
                         ("truncated.mp4", "not a readable")]:
        with pytest.raises(DecodeError, match=reason):
            list(iter_frames(tmp_path / name))


def test_damage_mid_stream_cuts_the_damaged_frames_and_keeps_the_good_ones(tmp_path):
    video = moving_pattern(48, 32, 32)
    path = write_video(tmp_path / "damaged.mp4", video)
    damage_middle(path)
    cuts = Cuts()
    decoded = [frame for _, frame in iter_parts(path, cuts=cuts)]
    assert 0 < len(decoded) < 48 and nearest(decoded[:4], video) == [0, 1, 2, 3]
    assert cuts.damaged_stretches >= 1 and cuts.damaged_frames + cuts.undecodable_packets > 0
    # what is kept is the footage, not the decoder's guesses: each frame is as close to its source frame
    # as the encoder left it (about 8 levels on this fine texture; concealed frames are 18 and more)
    assert max(min(np.abs(f.astype(int) - s).mean() for s in video) for f in decoded) < 12


def test_frames_above_max_pixels_are_refused(tmp_path, monkeypatch):
    path = write_video(tmp_path / "big.mp4", moving_pattern(4, 32, 48))
    monkeypatch.setattr(decode, "MAX_PIXELS", 32 * 48 - 1)  # a 32x48 video stands in for one above 8192x8192
    with pytest.raises(DecodeError, match=r"resolution 48x32 too large \(limit 1535 pixels\)"):
        list(iter_frames(path))


def test_display_rotation_and_pauses(tmp_path):
    from test_corpus_prepare import top_half_white, write_rotated

    frames = list(iter_frames(write_rotated(tmp_path / "phone.mp4", top_half_white(4, 32)[:, :, :24], -90)))
    assert frames[0].shape == (24, 32, 3)  # stored 32 high, 24 wide: shown turned a quarter clockwise
    assert frames[0][:, 16:].mean() > 200 and frames[0][:, :16].mean() < 60
    times = [i * 0.04 + 600 * (i >= 5) for i in range(10)]
    parts = [part for part, _ in iter_parts(write_video(tmp_path / "gap.mp4", moving_pattern(10, 16, 16), times=times))]
    assert parts == [0] * 5 + [1] * 5  # ten minutes of pause are a break, not 15,000 copies of a frame
