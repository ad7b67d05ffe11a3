"""The `footage` presets, and the warning when clips are too still for the two-stream decomposition."""
import json

import numpy as np
import torch

from videogan.cli import main
from videogan.config import get_preset
from videogan.data.motion import STILL_CLIPS, mean_frame_change, stillness_warning
from videogan.data.synthetic import MovingObjects

from videos import write_video

SHORT = ["--iterations", "2", "--batch-size", "2", "--workers", "0", "--device", "cpu", "--no-progress"]


def test_footage_trains_with_its_recipe_and_samples_from_the_average(tmp_path, capsys):
    run = tmp_path / "footage"
    assert main(["train", "--preset", "footage", *SHORT, "--out", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert (saved["model"]["frames"], saved["model"]["size"], saved["model"]["upsample"]) == (16, 32, "resize")
    assert saved["model"]["d_norm"] == "none" and saved["train"]["augment"] == get_preset("footage").train.augment
    assert saved["model"]["d_minibatch_std"] == 4  # D sees how much each group of 4 clips differs
    assert saved["train"]["mask_l1"] == 1.0 and saved["train"]["ema_half_life"] > 0
    assert json.loads((run / "stats.jsonl").read_text().splitlines()[-1])["r1"] > 0
    assert "move little" not in capsys.readouterr().err  # the built-in scenes move enough
    assert "generator_ema" in torch.load(run / "checkpoints" / "checkpoint-0000002.pt", weights_only=True)
    assert main(["sample", str(run), "--n", "2", "--seed", "0", "--out", str(run / "final")]) == 0
    assert (run / "final" / "sheet.png").exists()


def test_footage_large_is_the_paper_size_and_steps(tmp_path):
    """The GPU-sized sibling: 32 x 64 x 64 at the paper's widths; on the CPU, one step at batch 1."""
    run = tmp_path / "large"
    assert main(["train", "--preset", "footage-large", *SHORT[:2], "--iterations", "1", "--batch-size", "1",
                 "--out", str(run), *SHORT[4:]]) == 0
    config = get_preset("footage-large")
    assert (config.model.frames, config.model.size, config.model.g_width, config.model.d_width) == (32, 64, 64, 64)
    assert config.train.augment == get_preset("footage").train.augment
    assert config.model.d_minibatch_std == 4  # at batch 1 a group of one: the extra channel is constant
    state = torch.load(run / "checkpoints" / "checkpoint-0000001.pt", weights_only=True)
    assert state["config"]["model"]["size"] == 64 and state["iteration"] == 1


class _Clips(torch.utils.data.Dataset):
    def __init__(self, videos):
        self.videos = videos

    def __len__(self):
        return len(self.videos)

    def __getitem__(self, index):
        return {"video": self.videos[index], "label": 0}


def test_stillness_is_measured_as_mean_frame_change():
    still = _Clips([torch.full((3, 8, 16, 16), 0.3)] * 5)
    assert mean_frame_change(still) == 0.0 and "move little" in stillness_warning(still)
    assert stillness_warning(MovingObjects(16, 32, length=64)) is None
    one_frame = _Clips([torch.zeros(3, 1, 16, 16)])
    assert stillness_warning(one_frame) is None  # no frame-to-frame change to speak of
    # a clip whose pixels alternate by 2 x STILL_CLIPS each frame sits just above the line
    flicker = torch.stack([torch.full((3, 16, 16), STILL_CLIPS * (t % 2) * 1.01) for t in range(8)], 1)
    assert stillness_warning(_Clips([flicker])) is None
    assert stillness_warning(_Clips([flicker * 0.9])) is not None


def test_training_on_still_footage_says_so_once_at_the_start(tmp_path, capsys):
    """A camera's 25 frames/s of barely moving people: the run warns once, before its first step, and trains;
    a resume does not warn again."""
    for i in range(3):  # a grey wall with a small dark patch that creeps a pixel a frame
        frames = np.full((20, 32, 32, 3), 160, np.uint8)
        for t in range(20):
            frames[t, 12:16, 4 + t:8 + t] = 40
        write_video(tmp_path / "still" / f"v{i}.mp4", frames, fps=25)
    run = tmp_path / "run"
    args = ["train", "--preset", "tiny", "--data", str(tmp_path / "still"), "--device", "cpu", "--no-progress",
            "--iterations", "2", "--out", str(run)]
    assert main([*args, "--log-every", "1"]) == 0
    lines = capsys.readouterr().err.splitlines()
    warned = [n for n, line in enumerate(lines) if "move little" in line]
    ticks = [n for n, line in enumerate(lines) if line.startswith("it ")]
    assert len(warned) == 1 and ticks and warned[0] < ticks[0], lines
    assert main(["train", "--resume", str(run), "--iterations", "4", "--no-progress"]) == 0
    assert "move little" not in capsys.readouterr().err
