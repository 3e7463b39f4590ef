"""The organisation's logo: an uploaded PNG or JPEG, decoded and re-encoded as a clean PNG.

Contract (:func:`clean_logo`): the upload must be at most
:data:`MAX_LOGO_BYTES` and decode as a PNG or JPEG (Pillow is told to try
no other format); an image of more than :data:`MAX_LOGO_PIXELS` pixels (a
decompression bomb, by Pillow's ``MAX_IMAGE_PIXELS`` or ours) is refused
from its header, before its pixels are decoded. What comes out is built
from the pixels alone: turned upright by its EXIF orientation, scaled down to
fit :data:`MAX_LOGO_SIZE` (aspect kept), and saved as a new PNG without
EXIF, ICC profile, text chunks or any other metadata of the upload. Each
refusal raises :class:`~tipbox.errors.InvalidInput` with its own code.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from tipbox.errors import InvalidInput

__all__ = ["MAX_LOGO_BYTES", "MAX_LOGO_PIXELS", "MAX_LOGO_SIZE", "clean_logo"]

MAX_LOGO_BYTES = 512 * 1024
MAX_LOGO_SIZE = (512, 512)
MAX_LOGO_PIXELS = 25_000_000
FORMATS = ("PNG", "JPEG")


def check_size(size: int) -> None:
    """Refuse an upload of more than :data:`MAX_LOGO_BYTES`."""
    if size > MAX_LOGO_BYTES:
        raise InvalidInput("the logo file is too large", code="logo_too_large",
                           params={"num": MAX_LOGO_BYTES // 1024})


def clean_logo(raw: bytes) -> bytes:
    """The PNG to store for the upload ``raw``; raises ``InvalidInput`` when refused."""
    check_size(len(raw))
    if not raw:
        raise InvalidInput("no logo file was chosen", code="logo_not_an_image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=FORMATS) as image:
                _check_pixels(image.size)
                return _encode(_pixels(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_many_pixels() from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInput("the logo is not a readable PNG or JPEG image",
                           code="logo_not_an_image") from error


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_LOGO_PIXELS:
        raise _too_many_pixels()


def _too_many_pixels() -> InvalidInput:
    return InvalidInput("the logo has too many pixels", code="logo_too_many_pixels",
                        params={"num": MAX_LOGO_PIXELS // 1_000_000})


def _pixels(image: Image.Image) -> Image.Image:
    """Upright, scaled to fit, in RGB or RGBA: pixels only."""
    upright = ImageOps.exif_transpose(image)
    upright.thumbnail(MAX_LOGO_SIZE)
    transparent = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    mode = "RGBA" if transparent else "RGB"
    converted = upright.convert(mode)
    # A new image from the raw pixels: nothing of the upload's ``info`` survives.
    return Image.frombytes(mode, converted.size, converted.tobytes())


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
