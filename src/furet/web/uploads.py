"""Bounded uploads: a whole-body limit before parsing, and per-file size checks after."""

from __future__ import annotations

from fastapi import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from furet.errors import InvalidInputError, PayloadTooLargeError
from furet.media.images import pixel_count
from furet.web.problems import problem

#: Images accepted by one multipart request (as the Pl@ntNet API: up to 5 organs).
MAX_IMAGES = 5
#: Room for the multipart framing and small form fields beside the files.
FORM_OVERHEAD = 64 * 1024


class BodyLimitMiddleware:
    """Refuses bodies over ``limit`` bytes with 413 before they are parsed or spooled.

    Checks ``Content-Length`` up front, and counts chunked bodies as they arrive.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body over the limit of {self.limit:,} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await problem(413, detail)(scope, receive, send)
                    return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # HTTPException passes through FastAPI's body parsing unchanged.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, counting_receive, send)


async def read_images(
    files: list[UploadFile], max_bytes: int, max_pixels: int | None = None
) -> list[bytes]:
    """The bytes of 1 to :data:`MAX_IMAGES` uploaded files, each at most ``max_bytes``, with
    at most ``max_pixels`` pixels all together (read from their headers, before decoding)."""
    if not files:
        raise InvalidInputError("send 1 to 5 images in the multipart field 'images'")
    if len(files) > MAX_IMAGES:
        raise InvalidInputError(f"at most {MAX_IMAGES} images per request, got {len(files)}")
    out = []
    for f in files:
        data = await f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise PayloadTooLargeError(
                f"{f.filename or 'upload'} is over the limit of {max_bytes:,} bytes per image"
            )
        if not data:
            raise InvalidInputError(f"{f.filename or 'upload'} is empty")
        out.append(data)
    if max_pixels is not None:
        total = sum(pixel_count(d) for d in out)
        if total > max_pixels:
            raise PayloadTooLargeError(
                f"the images of this request have {total:,} pixels together, over the limit of "
                f"{max_pixels:,} per request; send smaller images or fewer at once"
            )
    return out
