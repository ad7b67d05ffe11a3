"""How one clip (t h w 3 uint8) is stored as a shard member.

- `jpeg` (default): the clip's frames stacked vertically in one baseline JPEG (a t*h x w "strip", the
  original release's own layout), quality 95 with full-resolution colour (4:4:4): 15-22% of `raw` on
  real 64 px clips, decoded with one call; chosen over lower qualities, chroma subsampling and
  H.264 by measurement (docs/data.md, benchmarks/clip_codecs.py).
- `raw`: a `.npy` file, lossless: the only format of shards written before formats existed (their
  manifest lines have no `format`, and read as `raw`).

Decoding checks what it gets against the manifest line (frame count, strip height); shards.load_clip
checks the bytes' checksum first and names the shard and member in any error.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from .images import ImageError, open_image

JPEG_QUALITY = 95
DEFAULT_FORMAT = "jpeg"


@dataclass(frozen=True)
class ClipFormat:
    name: str
    suffix: str  # the member's extension in the tar
    encode: Callable[[np.ndarray], bytes]  # t h w 3 uint8 -> bytes
    decode: Callable[[bytes, int], np.ndarray]  # (bytes, frames) -> t h w 3 uint8


def _encode_raw(video: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, video, allow_pickle=False)
    return buffer.getvalue()


def _decode_raw(data: bytes, frames: int) -> np.ndarray:
    """The header is checked before any array is made: it may claim any shape, and np.load would
    allocate it."""
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"an .npy file of version {version}, not 1.0 or 2.0")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(buffer)
    if dtype != np.uint8 or len(shape) != 4 or shape[0] != frames or shape[-1] != 3:
        raise ValueError(f"holds a {dtype} array of shape {shape}, not {frames} h w 3 uint8")
    if math.prod(shape) != len(data) - buffer.tell():
        raise ValueError(f"its header says {shape} ({math.prod(shape)} bytes), its data has {len(data) - buffer.tell()}")
    pixels = np.frombuffer(data, np.uint8, offset=buffer.tell())
    return pixels.reshape(shape, order="F" if fortran_order else "C").copy()  # writable, as np.load's


def _encode_jpeg(video: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    strip = video.reshape(-1, *video.shape[2:])  # t*h w 3
    Image.fromarray(strip).save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def _decode_jpeg(data: bytes, frames: int) -> np.ndarray:
    with open_image(io.BytesIO(data), "its JPEG strip", formats=["JPEG"]) as image:
        width, height = image.size
        if height % frames:  # checked before decoding: the header alone may claim any size
            raise ImageError(f"a {width}x{height} strip does not hold {frames} frames")
        strip = np.array(image.convert("RGB"))  # t*h w 3, writable (training may change it in place)
    return strip.reshape(frames, height // frames, width, 3)


FORMATS = {f.name: f for f in (ClipFormat("jpeg", ".jpg", _encode_jpeg, _decode_jpeg),
                               ClipFormat("raw", ".npy", _encode_raw, _decode_raw))}


def get_format(name: str) -> ClipFormat:
    """The format called `name` (a manifest's `format`, or --clip-format)."""
    if name not in FORMATS:
        raise ValueError(f"unknown clip format {name!r} (known: {', '.join(FORMATS)})")
    return FORMATS[name]
