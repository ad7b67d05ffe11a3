import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

from videogan.config import get_preset, replace

sys.path.insert(0, str(Path(__file__).parent))  # the tests' video writers (tests/videos.py)


@pytest.fixture
def tiny_config():
    """The tiny preset with checkpoints every 2 iterations and a log line per iteration."""
    return replace(get_preset("tiny"), train={"iterations": 6, "log_every": 1, "checkpoint_every": 2,
                                             "sample_every": 100, "keep_checkpoints": 0, "device": "cpu"})

# `make fuzz`: HYPOTHESIS_PROFILE=fuzz gives the generated tests that use the default number of examples
# (tests/test_flags_fuzz.py) a long run; CI uses Hypothesis's default
settings.register_profile("fuzz", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny run of 2 iterations with its checkpoint, stats.jsonl and config.json (copy it to change it)."""
    from videogan.train.gan import train

    run = tmp_path_factory.mktemp("trained") / "run"
    config = replace(get_preset("tiny"), train={"iterations": 2, "log_every": 1, "checkpoint_every": 2,
                                                "sample_every": 100, "device": "cpu"})
    train(config, run, progress=False)
    return run
