import pytest

from videogan.config import get_preset, replace


@pytest.fixture
def tiny_config():
    """The tiny preset with checkpoints every 2 iterations and a log line per iteration."""
    return replace(get_preset("tiny"), train={"iterations": 6, "log_every": 1, "checkpoint_every": 2,
                                             "sample_every": 100, "keep_checkpoints": 0, "device": "cpu"})
