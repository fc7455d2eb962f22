"""QR codes of material lots, drawn by the passport's renderer and cached once per address."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

from passport import qr

RENDER_VERSION = "1"


def lot_path(code: str) -> str:
    return f"/lots/{code}"


def lot_url(code: str) -> str:
    """The address a lot's QR code encodes."""
    return settings.PUBLIC_BASE_URL + lot_path(code)


def lot_qr(code: str, fmt: str) -> qr.QrImage:
    """A lot's QR image (SVG or PNG), rendered once and cached without expiry."""
    data = lot_url(code)
    digest = hashlib.sha256(f"{RENDER_VERSION}|{fmt}|{data}".encode()).hexdigest()
    key = f"custody:lot-qr:{fmt}:{digest}"
    content = cache.get(key)
    if content is None:
        render = qr.render_svg if fmt == "svg" else qr.render_png
        content = render(data, code)
        cache.set(key, content, timeout=None)
    return qr.QrImage(content=content, content_type=qr.FORMATS[fmt], etag=f'"{digest[:32]}"')
