"""Image decoding for ingestion and queries: formats, EXIF orientation, pixel limits, drafts."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from furet.errors import MediaError, PayloadTooLargeError
from furet.media.pixel_budget import DECODE_BUDGET

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff"}
)

# furet enforces its own, configurable pixel limit (with a clear message) before decoding.
Image.MAX_IMAGE_PIXELS = None
# Truncated JPEGs must fail, not come out half grey.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class DecodedImage:
    image: Image.Image  # RGB, EXIF orientation applied, possibly reduced by draft
    width: int  # original size, before any draft
    height: int


def _open(source: Path | bytes, max_pixels: int, min_side: int) -> DecodedImage:
    try:
        if isinstance(source, Path):
            if source.stat().st_size == 0:
                raise MediaError("empty file (0 bytes)")
            img: Image.Image = Image.open(source)
        else:
            if not source:
                raise MediaError("empty upload (0 bytes)")
            img = Image.open(io.BytesIO(source))
        width, height = img.size
        if width * height > max_pixels:
            error = PayloadTooLargeError if isinstance(source, bytes) else MediaError
            raise error(
                f"{width}x{height} = {width * height:,} pixels, over the limit of "
                f"{max_pixels:,} (possible decompression bomb; raise FURET_MAX_IMAGE_PIXELS "
                "if the image is legitimate)"
            )
        if img.format == "JPEG" and min_side:
            # Decode at a reduced DCT scale: big JPEGs decode several times faster, in a
            # fraction of the memory.
            img.draft("RGB", (min_side, min_side))
        if getattr(img, "is_animated", False):
            img.seek(0)  # first frame of a GIF / animated WebP
        with DECODE_BUDGET.hold(img.size[0] * img.size[1]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img.load()
                img = _reduced(img, min_side)
                img = ImageOps.exif_transpose(img) or img
            if img.mode != "RGB":
                img = _to_rgb(img)
        return DecodedImage(img, width, height)
    except (MediaError, PayloadTooLargeError):
        raise
    except UnidentifiedImageError:
        raise MediaError("not an image (or a format Pillow cannot read)") from None
    except PermissionError:
        raise MediaError("unreadable (permission denied)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"corrupt or truncated image ({exc})") from None


def _reduced(img: Image.Image, min_side: int) -> Image.Image:
    """``img`` shrunk by an integer factor while its short side stays >= 2 x ``min_side``
    (what every caller needs at most), so the full-size buffer is freed at once."""
    if not min_side:
        return img
    factor = min(img.size) // (2 * min_side)
    return img.reduce(factor) if factor >= 2 else img


def pixel_count(data: bytes) -> int:
    """Width x height of an uploaded image from its header (nothing decoded); 0 if unknown."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Exception:  # not an image: decoding will say so with its own message
        return 0
    return int(width) * int(height)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def decode_image(path: Path, max_pixels: int, min_side: int = 256) -> DecodedImage:
    """Decode ``path`` to RGB; raises :class:`MediaError` with a one-line reason."""
    return _open(path, max_pixels, min_side)


def decode_bytes(data: bytes, max_pixels: int, min_side: int = 256) -> DecodedImage:
    """Decode an uploaded image; over the pixel limit raises :class:`PayloadTooLargeError`."""
    return _open(data, max_pixels, min_side)


def make_thumbnail(image: Image.Image, size: int) -> bytes:
    """JPEG bytes of ``image`` fitted in ``size`` x ``size``."""
    thumb = image.copy()
    thumb.thumbnail((size, size), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=80)
    return buf.getvalue()
