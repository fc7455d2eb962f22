"""QR codes for battery passports: rendered once per (address, format) and served from the cache.

The QR encodes exactly `PUBLIC_BASE_URL/p/{code}` (GS1 items: the Digital Link
`PUBLIC_BASE_URL/01/{gtin}/21/{serial}`), with error correction level M, a quiet zone of four
modules, and the human-readable code printed under the symbol. Rendering costs milliseconds, so it
never happens per request: the bytes are cached under a key made of the format and the encoded
address, which changes if PUBLIC_BASE_URL does.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from html import escape

import qrcode
from django.conf import settings
from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont

from passport import codes

RENDER_VERSION = "1"  # bump when the drawing changes, so cached images are replaced
QUIET_ZONE = 4
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
PNG_MODULE_PIXELS = 8
SVG_MODULE_UNITS = 10
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


@dataclass(frozen=True)
class QrImage:
    content: bytes
    content_type: str
    etag: str


def passport_path(code: str) -> str:
    """The path of a battery's public page: /p/{code}, or the Digital Link path for GS1 items."""
    gs1 = codes.split_gs1_code(code)
    if gs1 is not None:
        return codes.digital_link_path(*gs1)
    return f"/p/{code}"


def passport_url(code: str) -> str:
    """The address a battery's QR code encodes."""
    return settings.PUBLIC_BASE_URL + passport_path(code)


def _matrix(data: str) -> list[list[bool]]:
    symbol = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=QUIET_ZONE, box_size=1)
    symbol.add_data(data)
    symbol.make(fit=True)
    return symbol.get_matrix()


def render_svg(data: str, caption: str | None) -> bytes:
    """An SVG of the symbol (one path, dark runs per row) with an optional caption under it."""
    matrix = _matrix(data)
    size = len(matrix) * SVG_MODULE_UNITS
    caption_height = 4 * SVG_MODULE_UNITS if caption else 0
    runs: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append(
                    f"M{start * SVG_MODULE_UNITS} {y * SVG_MODULE_UNITS}h{(x - start) * SVG_MODULE_UNITS}"
                    f"v{SVG_MODULE_UNITS}h-{(x - start) * SVG_MODULE_UNITS}z"
                )
            else:
                x += 1
    text = ""
    if caption:
        font_size = min(3 * SVG_MODULE_UNITS, int(size * 1.6 / max(len(caption), 1)))
        text = (
            f'<text x="{size / 2:g}" y="{size + caption_height / 2:g}" '
            f'font-family="DejaVu Sans Mono, monospace" font-size="{font_size}" '
            f'text-anchor="middle" dominant-baseline="middle">{escape(caption)}</text>'
        )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size + caption_height}" '
        f'width="{size}" height="{size + caption_height}" shape-rendering="crispEdges">'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/>{text}</svg>'
    )
    return svg.encode("utf-8")


def render_png(data: str, caption: str | None) -> bytes:
    """A PNG of the symbol (8 pixels a module) with an optional caption under it."""
    matrix = _matrix(data)
    modules = len(matrix)
    symbol = Image.new("1", (modules, modules), 1)
    symbol.putdata([0 if dark else 1 for row in matrix for dark in row])
    size = modules * PNG_MODULE_PIXELS
    symbol = symbol.resize((size, size), Image.Resampling.NEAREST)
    caption_height = 5 * PNG_MODULE_PIXELS if caption else 0
    canvas = Image.new("L", (size, size + caption_height), 255)
    canvas.paste(symbol.convert("L"), (0, 0))
    if caption:
        font_size = max(10, min(3 * PNG_MODULE_PIXELS, int(size * 1.6 / max(len(caption), 1))))
        font = ImageFont.load_default(size=font_size)
        draw = ImageDraw.Draw(canvas)
        draw.text((size / 2, size + caption_height / 2), caption, fill=0, font=font, anchor="mm")
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _cache_key(fmt: str, data: str) -> str:
    return f"passport:qr:{RENDER_VERSION}:{fmt}:{hashlib.sha256(data.encode()).hexdigest()}"


def etag_for(code: str, fmt: str) -> str:
    """The ETag of a battery's QR image, known without rendering or reading it."""
    digest = hashlib.sha256(f"{RENDER_VERSION}|{fmt}|{passport_url(code)}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def cached_qr(code: str, fmt: str) -> QrImage | None:
    """The cached QR image of a battery, or None if it was never rendered under the current address."""
    content = cache.get(_cache_key(fmt, passport_url(code)))
    if content is None:
        return None
    return QrImage(content=content, content_type=FORMATS[fmt], etag=etag_for(code, fmt))


def qr_for(code: str, fmt: str) -> QrImage:
    """A battery's QR image: from the cache, or rendered once and cached without expiry."""
    found = cached_qr(code, fmt)
    if found is not None:
        return found
    data = passport_url(code)
    render = render_svg if fmt == "svg" else render_png
    content = render(data, caption(code))
    cache.set(_cache_key(fmt, data), content, timeout=None)
    return QrImage(content=content, content_type=FORMATS[fmt], etag=etag_for(code, fmt))


def caption(code: str) -> str:
    """The human-readable line under the symbol: the code, or the GS1 element string with brackets."""
    gs1 = codes.split_gs1_code(code)
    return f"(01){gs1[0]}(21){gs1[1]}" if gs1 else code
