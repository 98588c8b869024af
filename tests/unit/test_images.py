import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from furet.errors import MediaError, PayloadTooLargeError
from furet.media.images import decode_bytes, decode_image, make_thumbnail

LIMIT = 10_000_000


def photo(w: int = 64, h: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "fmt,ext",
    [
        ("JPEG", "jpg"),
        ("PNG", "png"),
        ("WEBP", "webp"),
        ("BMP", "bmp"),
        ("TIFF", "tif"),
        ("GIF", "gif"),
    ],
)
def test_formats_decode_to_rgb(tmp_path: Path, fmt: str, ext: str) -> None:
    p = tmp_path / f"x.{ext}"
    photo().save(p, fmt)
    d = decode_image(p, LIMIT)
    assert d.image.mode == "RGB" and (d.width, d.height) == (64, 48)


def test_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "blue")]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100)
    px = decode_image(p, LIMIT).image.getpixel((10, 10))
    assert px[0] > 200 and px[2] < 50


def test_exif_orientation_applied(tmp_path: Path) -> None:
    img = photo(60, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    p = tmp_path / "rot.jpg"
    img.save(p, "JPEG", exif=exif.tobytes())
    assert decode_image(p, LIMIT).image.size == (30, 60)


def test_rgba_flattened_on_white(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(p)
    assert decode_image(p, LIMIT).image.getpixel((1, 1)) == (255, 255, 255)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        decode_image(p, LIMIT)


def test_truncated_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    photo(400, 300).save(buf, "JPEG")
    p = tmp_path / "trunc.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(MediaError, match="truncated"):
        decode_image(p, LIMIT)


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.png"
    p.write_text("hello, I am text")
    with pytest.raises(MediaError, match="not an image"):
        decode_image(p, LIMIT)


def test_decompression_bomb_file_and_upload(tmp_path: Path) -> None:
    p = tmp_path / "bomb.png"
    Image.new("L", (4000, 3000)).save(p)  # 12 Mpx, tiny on disk
    with pytest.raises(MediaError, match="over the limit"):
        decode_image(p, LIMIT)
    with pytest.raises(PayloadTooLargeError):
        decode_bytes(p.read_bytes(), LIMIT)


def test_thumbnail_bounded() -> None:
    data = make_thumbnail(photo(640, 320), 128)
    assert Image.open(io.BytesIO(data)).size == (128, 64)
