"""Image files as the project reads them (predict's and visualize-units' inputs, JPEG clip strips, VideoGAN
list strips): one place where a file becomes an image or a one-line error naming it.

A header may claim any size: images above Pillow's `MAX_IMAGE_PIXELS` (about 89 megapixels) are refused
before their pixels are decoded, as possible decompression bombs, where Pillow would only warn (and decode
them) up to twice that size.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image


class ImageError(ValueError):
    """An image file that cannot be read, or is refused; raised inside `open_image`, it passes unchanged."""


@contextmanager
def open_image(source, name: str, formats: list[str] | None = None) -> Iterator[Image.Image]:
    """`Image.open(source)` (a path or a binary file), as a context manager in which decoding the pixels
    (`convert`, `np.asarray`) may fail too: any failure, the decoder's own included (truncated data,
    flipped bytes: Pillow raises OSError, SyntaxError, struct.error and more), is an ImageError naming
    `name`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=formats) as image:
                yield image
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{name}: refused as a possible decompression bomb ({err})") from None
    except Exception as err:  # whatever a decoder makes of damaged bytes, the file must be named
        raise ImageError(f"{name}: not a readable image ({type(err).__name__}: {err})") from None
