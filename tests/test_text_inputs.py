"""Text files a user gives (a --groups file, a VideoGAN list, a UCF-101 class index or split list, a list of
videos to prepare, study instructions): whatever bytes they hold, the reader parses them or fails with one
line that names the file; never a bare UnicodeDecodeError."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from videogan.data.formats import VideoGANList
from videogan.data.labelled import list_labelled
from videogan.data.prepare import list_sources
from videogan.files import read_text_lines
from videogan.tasks.recognition.groups import read_groups
from videogan.tasks.study.make import read_instructions

# bytes that are text, that are not (latin-1, binary, NUL), and mixes of both
contents = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8")),
    st.text(alphabet="éàü\u2028\x0c ab\n#\t", max_size=60).map(lambda t: t.encode("latin-1", "replace")),
    st.tuples(st.text(max_size=40), st.binary(max_size=20)).map(lambda p: p[0].encode() + b"\x00" + p[1]),
)


def _readers(tmp, path):
    """Each reader with `path` as the user's file (the other files it needs are valid)."""
    (tmp / "ucf" / "a").mkdir(parents=True, exist_ok=True)
    (tmp / "ucf" / "trainlist01.txt").write_text("a/v.avi 1\n")
    ucf_index = tmp / "ucf" / "classInd.txt"
    ucf_index.write_bytes(path.read_bytes())
    return {
        "--groups": lambda: read_groups(str(path), [str(tmp / "a" / "v.mp4")], str(tmp)),
        "VideoGAN list": lambda: VideoGANList(path, frames=8, size=16),
        "UCF-101 class index": lambda: list_labelled(tmp / "ucf", 1, "train"),
        "prepare's list of videos": lambda: list_sources(path),
        "--instructions": lambda: read_instructions(path),
    }, {"UCF-101 class index": ucf_index}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=contents)
def test_any_bytes_parse_or_fail_naming_the_file(tmp_path, data):
    path = tmp_path / "user.txt"
    path.write_bytes(data)
    readers, paths = _readers(tmp_path, path)
    for role, read in readers.items():
        try:
            read()
        except (ValueError, FileNotFoundError) as err:
            message = str(err)
            assert str(paths.get(role, path)) in message and "\n" not in message, (role, message)


@pytest.mark.parametrize("data, problem", [(b"a b\n\xff\xfe c\n", "not UTF-8 text (byte 0xff at offset 4)"),
                                           (b"a\x00b c\n", "holds NUL bytes")])
def test_the_error_says_what_is_wrong_with_the_bytes(tmp_path, data, problem):
    path = tmp_path / "groups.tsv"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="groups.tsv: the --groups file is") as err:
        read_text_lines(path, "--groups file")
    assert problem in str(err.value)


def test_lines_split_at_newlines_only(tmp_path):
    """A form feed or U+2028 inside a line keeps the next lines' numbers; CRLF ends and a BOM are dropped."""
    path = tmp_path / "list.txt"
    path.write_bytes("\ufeffa\x0cb\r\nc\u2028d\ne".encode())
    assert read_text_lines(path, "list") == ["a\x0cb", "c\u2028d", "e"]
