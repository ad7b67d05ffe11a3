"""Classes a fresh round of new-user and attacker cases found after the hardening: an output that is a
device or a pipe, a resume told to write elsewhere, a report of a folder that holds no run, a checkpoint
whose finite weights still make NaN videos, an output named like a run's report."""
import os

import pytest

from forged import forged_copy
from videogan.cli import main
from videogan.files import OutputError, check_not_an_input, check_writable, write_atomic
from videogan.models.sampler import load_sampler


def test_an_output_that_is_a_pipe_is_refused_before_work_and_never_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="device, pipe or socket"):
        check_writable(fifo, is_file=True)
    with pytest.raises(OutputError, match="device, pipe or socket"):
        write_atomic(fifo, "{}")
    assert fifo.is_fifo()


def test_a_resume_told_to_write_elsewhere_is_refused(trained_run, tmp_path, capsys):
    assert main(["train", "--resume", str(trained_run), "--out", str(tmp_path / "other"), "--iterations", "4"]) == 2
    assert "--resume continues" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_a_report_of_a_folder_without_a_run_is_refused(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err and not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("change", ["negative variance", "huge weights"])
def test_a_checkpoint_whose_generator_makes_nan_videos_is_refused(trained_run, tmp_path, change):
    def edit(state):
        for key, value in state["generator"].items():
            if change == "negative variance" and key.endswith("running_var"):
                value.fill_(-1.0)
            if change == "huge weights" and key.endswith("weight"):
                value.mul_(1e30)

    with pytest.raises(ValueError, match="NaN or infinite"):
        load_sampler(forged_copy(trained_run, tmp_path, edit))


def test_an_output_named_like_a_runs_report_is_refused(tmp_path):
    (tmp_path / "report.html").write_text("<!doctype html>")
    with pytest.raises(OutputError, match="report.html"):
        check_not_an_input(tmp_path / "report.html")
