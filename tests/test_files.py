"""The I/O layer: atomic writes, the cleanup of dead writers' temporaries, output checks, one writer per folder."""
import errno
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from videogan.cli import main
from videogan.files import (FolderBusy, OutputError, check_not_an_input, hold_folder, remove_stale_temporaries,
                            temporary_name, write_atomic)
from videogan.files import atomic
from videogan.checkpoint import load_checkpoint, save_checkpoint

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src"), "OMP_NUM_THREADS": "1"}
FOLDER_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


class _FullDisk:
    """A file whose writes fail with ENOSPC once `room` bytes are written, as on a full disk."""

    def __init__(self, file, room: int):
        self._file, self.room = file, room

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.room:
            self._file.write(data[:self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)


def fill_disk(monkeypatch, room: int = 1000, names: str = "") -> None:
    """Every atomic write whose target's name contains `names` finds `room` bytes of free space."""
    def full_open(file, mode="r", *args, **kwargs):
        opened = open(file, mode, *args, **kwargs)
        writing = "w" in mode or "x" in mode
        return _FullDisk(opened, room) if writing and names in Path(file).name else opened

    monkeypatch.setattr(atomic, "open", full_open, raising=False)  # shadows the builtin in that module only


@given(old=st.binary(max_size=2000), new=st.binary(max_size=2000), fail_after=st.none() | st.integers(0, 2000),
       as_text=st.booleans())
@FOLDER_SETTINGS
def test_a_write_replaces_the_file_whole_or_not_at_all(tmp_path, old, new, fail_after, as_text):
    path = tmp_path / "out.bin"
    path.write_bytes(old)

    def writer(f):
        if fail_after is not None and fail_after <= len(new):
            f.write(new[:fail_after])
            raise RuntimeError("the writer failed midway")
        f.write(new)

    if fail_after is not None and fail_after <= len(new):
        with pytest.raises(RuntimeError):
            write_atomic(path, writer)
        assert path.read_bytes() == old
    elif as_text:
        text = new.decode("latin-1")
        write_atomic(path, text)
        assert path.read_text() == text
    else:
        write_atomic(path, writer)
        assert path.read_bytes() == new
    assert leftovers(tmp_path) == []


@given(room=st.integers(0, 5000))
@example(room=0)
@FOLDER_SETTINGS
def test_a_full_disk_is_one_line_naming_the_file_and_the_earlier_file_stays(tmp_path, monkeypatch, room):
    path = tmp_path / "report.html"
    path.write_text("the earlier report")
    with monkeypatch.context() as patch:
        fill_disk(patch, room)
        with pytest.raises(OutputError) as caught:
            write_atomic(path, "x" * 6000)
    assert str(caught.value) == f"{path}: cannot write: no space left on device"
    assert path.read_text() == "the earlier report" and leftovers(tmp_path) == []


def test_a_checkpoint_on_a_full_disk_names_it_and_keeps_the_earlier_ones(tmp_path, monkeypatch):
    first = save_checkpoint(tmp_path / "checkpoints" / "checkpoint-0000002.pt", {"config": {}, "w": torch.ones(3)})
    before = first.read_bytes()
    fill_disk(monkeypatch, room=600)
    with pytest.raises(OutputError, match=r"checkpoint-0000004\.pt: cannot write: no space left on device$"):
        save_checkpoint(tmp_path / "checkpoints" / "checkpoint-0000004.pt", {"config": {}, "w": torch.ones(1000)})
    assert first.read_bytes() == before and load_checkpoint(first)["w"].sum() == 3
    assert os.listdir(tmp_path / "checkpoints") == [first.name]


def test_train_on_a_full_disk_stops_with_one_line_and_the_run_resumes_from_its_last_checkpoint(
        tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    fill_disk(monkeypatch, room=4096, names="checkpoint-0000004")
    args = ["train", "--preset", "tiny", "--device", "cpu", "--no-progress", "--iterations", "4",
            "--checkpoint-every", "2", "--sample-every", "100", "--out", str(run)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"videogan train: error: {run / 'checkpoints' / 'checkpoint-0000004.pt'}: "
                                            "cannot write: no space left on device")
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["checkpoint-0000002.pt"]
    assert load_checkpoint(run)["iteration"] == 2 and leftovers(run) == []
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--no-progress", "--iterations", "4"]) == 0
    assert load_checkpoint(run)["iteration"] == 4


def test_shards_and_manifests_on_a_full_disk_leave_no_temporaries(tmp_path, monkeypatch):
    from videogan.data.shards import ShardWriter, completed_shards

    writer = ShardWriter(tmp_path, "t", max_clips=100)
    writer.add_clip("a", np.zeros((2, 4, 4, 3), np.uint8), {})
    writer.end_input({"source": "a", "status": "ok"})
    fill_disk(monkeypatch, room=10, names=".t-00000.jsonl")
    with pytest.raises(OutputError, match="t-00000.jsonl: cannot write: no space left on device"):
        writer.close()
    writer.abort()
    assert leftovers(tmp_path) == [] and completed_shards(tmp_path) == []


HOSTS = st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,20}", fullmatch=True)


@given(other_host=HOSTS, name=st.from_regex(r"[a-z][a-z0-9_.\-]{0,12}", fullmatch=True))
@FOLDER_SETTINGS
def test_only_dead_writers_of_this_host_lose_their_temporaries(tmp_path, other_host, name):
    folder = tmp_path / "f"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    here = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    kept = {f".{name}.{here}-1-0123abcd.tmp",  # pid 1 is alive
            f".{name}.{other_host}-{dead.pid}-0123abcd.tmp" if other_host != here else f".{name}.kept",
            name + ".tmp.json", name}  # not temporaries
    removed = {f".{name}.{here}-{dead.pid}-0123abcd.tmp", f".{name}.{here}-{os.getpid()}-89abcdef.tmp",
               f".{name}.tmp{dead.pid}",  # earlier versions' names
               f"{name}.{dead.pid}-0123abcd.tmp"}
    for file in kept | removed:
        (folder / file).write_text("x")
    assert remove_stale_temporaries(folder, quiet=True) == len(removed)
    assert {p.name for p in folder.iterdir()} == kept


def test_temporary_names_are_unique_hidden_and_beside_the_target(tmp_path):
    names = {temporary_name(tmp_path / "a.json") for _ in range(100)}
    assert len(names) == 100 and all(n.parent == tmp_path and n.name.startswith(".a.json.") for n in names)


# What an existing file may hold: the formats an output of another kind must never replace.
def _checkpoint(path):
    save_checkpoint(path, {"config": {}})


def _tar(path):
    with tarfile.open(path, "w") as tar:
        tar.addfile(tarfile.TarInfo("a.npy"), io.BytesIO())


def _mp4(path):
    from videos import write_video

    write_video(path, np.zeros((4, 16, 16, 3), np.uint8))


def _png(path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(path, format="PNG")


FOREIGN = {"checkpoint": (".pt", _checkpoint), "shard": (".tar", _tar),
           "clip": (".npy", lambda p: np.save(p, np.zeros(3))),
           "video": (".mp4", _mp4), "image": (".png", _png)}


@given(kind=st.sampled_from(sorted(FOREIGN)), name=st.sampled_from(["eval-4.json", "result.json", "x.pt", "out"]))
@FOLDER_SETTINGS
def test_an_output_never_replaces_a_file_of_another_kind(tmp_path, kind, name):
    suffix, write = FOREIGN[kind]
    made = tmp_path / f"made{suffix}"  # the writers choose the format by the suffix; the name at risk may differ
    made.unlink(missing_ok=True)
    write(made)
    path = tmp_path / name
    path.write_bytes(before := made.read_bytes())
    with pytest.raises(OutputError, match="would replace"):
        check_not_an_input(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("name", ["config.json", "stats.jsonl", "manifest.jsonl", "answers.jsonl", "study.json"])
def test_an_output_never_replaces_a_runs_or_a_datasets_own_file(tmp_path, name):
    (tmp_path / name).write_text("{}\n")
    with pytest.raises(OutputError, match=f"would replace the {name}"):
        check_not_an_input(tmp_path / name)


def test_an_output_may_replace_its_own_earlier_result_but_not_an_input(tmp_path):
    earlier = tmp_path / "eval-4.json"
    earlier.write_text('{"fvd": 1}')
    check_not_an_input(earlier)
    check_not_an_input(tmp_path / "new.json")
    with pytest.raises(OutputError, match="a file this command reads"):
        check_not_an_input(earlier, inputs=[str(tmp_path / "." / "eval-4.json")])


def test_evaluate_refuses_to_write_its_json_over_the_runs_checkpoint(tmp_path, capsys):
    checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-0000004.pt"
    save_checkpoint(checkpoint, {"config": {}, "iteration": 4})
    before = checkpoint.read_bytes()
    assert main(["evaluate", str(tmp_path / "run"), "--out", str(checkpoint)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would replace a checkpoint" in err and str(checkpoint) in err
    assert checkpoint.read_bytes() == before


HOLD = """
import sys, time
from videogan.files import hold_folder
with hold_folder(sys.argv[1], "test folder", sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""


def hold_in_another_process(folder: Path, name: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), name], env=ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_a_second_writer_stops_at_once_naming_the_holder(tmp_path, capsys):
    run = tmp_path / "run"
    holder = hold_in_another_process(run, ".videogan.lock")
    try:
        started = time.monotonic()
        assert main(["train", "--preset", "tiny", "--device", "cpu", "--out", str(run)]) == 2
        assert time.monotonic() - started < 10
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"pid {holder.pid} on {socket.gethostname()} since 20" in err
    assert "run folder is in use" in err and not (run / "checkpoints").exists()


def test_a_lock_of_a_killed_holder_is_taken_over_with_a_note(tmp_path, capsys):
    holder = hold_in_another_process(tmp_path, ".videogan.lock")
    holder.kill()  # as kill -9: no clean-up runs, the holder's line stays in the lock file
    holder.wait()
    with hold_folder(tmp_path, "test folder") as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert f"pid {holder.pid} on {socket.gethostname()}" in capsys.readouterr().err and lock.read_text() == ""


ORPHAN = """
import os, signal, sys, time
from videogan.files import hold_folder
with hold_folder(sys.argv[1], "test folder"):
    if os.fork() == 0:  # a child (a loader worker, say) keeps the locked file open after its parent dies
        time.sleep(60)
        os._exit(0)
    print("held", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_lock_kept_by_a_dead_holders_child_is_taken_over(tmp_path, capsys):
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN, str(tmp_path)], env=ENV, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline() == "held\n"
        proc.wait()
        with hold_folder(tmp_path, "test folder"):
            pass
        assert f"pid {proc.pid}" in capsys.readouterr().err
    finally:
        os.killpg(proc.pid, 9)


def test_two_prepares_into_one_out_the_second_stops_but_array_jobs_share_it(tmp_path, capsys):
    out = tmp_path / "out"
    holder = hold_in_another_process(out, ".prepare-share-0-of-2.lock")
    try:
        src = tmp_path / "src"
        src.mkdir()
        assert main(["prepare", str(src), str(out), "--num-shards", "2", "--shard-index", "0"]) == 2
        assert "share 0 of 2) is in use by pid" in capsys.readouterr().err
        # the array's other job runs beside it; a job that splits the inputs otherwise would overlap: refused
        assert main(["prepare", str(src), str(out), "--num-shards", "2", "--shard-index", "1"]) == 0
        assert main(["prepare", str(src), str(out)]) == 2
        assert "with another --num-shards" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(FolderBusy, match="in use"), hold_folder(out, "x", ".held"), hold_folder(out, "x", ".held"):
        pass


def test_a_file_system_without_locks_is_written_with_a_note(tmp_path, monkeypatch, capsys):
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with hold_folder(tmp_path, "test folder"):
        pass
    assert "this file system has no locks (no locks available)" in capsys.readouterr().err


def test_a_lock_file_planted_as_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".videogan.lock").symlink_to(precious)
    with pytest.raises(OutputError, match="cannot write"), hold_folder(tmp_path / "out", "test folder"):
        pass
    assert precious.read_text() == "keep me"
