"""Text files a user hands us (lists of videos, groups, class indexes, instructions): read in one place, so
that bytes that are not text are one error naming the file, and line numbers are an editor's."""
from __future__ import annotations

import os
from pathlib import Path


def read_text_lines(path: str | os.PathLike, what: str) -> list[str]:
    """The lines of the UTF-8 text file at `path`, split at newlines only (a stray form feed or other
    Unicode line break inside a line does not shift the numbers an error gives), without their ends.
    `what` names the file's role in the error: "--groups file", "list of videos"."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: the {what} cannot be read ({err.strerror or err})") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark from a Windows editor is not part of line 1
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: the {what} is not UTF-8 text (byte 0x{data[err.start]:02x} at offset "
                         f"{err.start})") from None
    if "\x00" in text:
        raise ValueError(f"{path}: the {what} is not text (it holds NUL bytes)")
    return [line.removesuffix("\r") for line in text.split("\n")]
