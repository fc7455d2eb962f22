"""RFC 8785 (JCS) canonical JSON and a strict parser for untrusted JSON.

Standard library only: the offline verifier (`python -m custody.verify`) imports this module with nothing
but the standard library and `cryptography` installed, so no Django and no third-party import here.

`canonicalize` first tries a fast path through the C `json` encoder. That encoder differs from JCS in
float formatting (`22.0`, `1e-05`), key order (code points, not UTF-16 code units) and the non-JSON
values it tolerates, so the fast path only runs on a prepared copy of the value on which the two are
provably identical; anything else goes to the slow path, a direct implementation of RFC 8785.

Messages here are plain English: callers with a user in front of them translate by `code` and `path`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

__all__ = [
    "MAX_SAFE_INTEGER",
    "CanonicalizationError",
    "StrictJsonError",
    "canonicalize",
    "canonicalize_slow",
    "ecmascript_number",
    "json_path",
    "parse_json_strict",
    "sha256_hex",
]

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalizationError(ValueError):
    """A value that has no RFC 8785 form, with the JSON path of the offending part."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{message} (at {path or 'the top level'})")
        self.message = message
        self.path = path


class StrictJsonError(ValueError):
    """Untrusted JSON refused, with a stable code and, where known, the JSON path of the problem."""

    def __init__(self, code: str, message: str, path: str | None = None) -> None:
        super().__init__(
            f"{code}: {message}" + (f" (at {path or 'the top level'})" if path is not None else "")
        )
        self.code = code
        self.message = message
        self.path = path


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_path(parent: str, key: str | int) -> str:
    """Extend a path such as `payload.cells` by an object key or an array index."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=True)}]"


# Slow path: RFC 8785 section 3.2, written out.


def ecmascript_number(value: float) -> str:
    """A finite double as ECMAScript's Number::toString writes it (RFC 8785 section 3.2.2.3)."""
    if value != value or value in (math.inf, -math.inf):
        raise ValueError("NaN and Infinity have no JSON form")
    if value == 0:
        return "0"  # also for -0.0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that reads back to the same double, which is the
    # digit string ECMAScript requires; only the layout around it differs.
    mantissa, _, exponent_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    all_digits = whole + fraction
    significant = all_digits.lstrip("0")
    # value == 0.<digits> * 10**point
    point = len(whole) + (int(exponent_text) if exponent_text else 0) - (len(all_digits) - len(significant))
    digits = significant.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        exponent = n - 1
        exponent_sign = "+" if exponent >= 0 else "-"
        head = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{head}e{exponent_sign}{abs(exponent)}"
    return sign + text


_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _code in range(0x20):
    _STRING_ESCAPES.setdefault(chr(_code), f"\\u{_code:04x}")
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Invalid(Exception):
    """Raised deep in the slow path; the caller adds the path from the trail of keys."""

    def __init__(self, message: str) -> None:
        self.message = message


def _escape_string(text: str) -> str:
    if _SURROGATE.search(text):
        raise _Invalid("string contains a lone UTF-16 surrogate, which is not valid Unicode")
    return '"' + _NEEDS_ESCAPE.sub(lambda match: _STRING_ESCAPES[match.group(0)], text) + '"'


def _utf16_order(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly as the code units do (RFC 8785 section 3.2.3).
    return key.encode("utf-16-be")


def _write(value: Any, out: list[str], trail: list[str | int]) -> None:
    """Append the JCS text of value; trail holds the keys and indexes leading to it."""
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_escape_string(value))
    elif isinstance(value, int):
        number = int(value)
        if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
            raise _Invalid(f"integer {number} is outside the range JSON numbers hold exactly (±(2**53 - 1))")
        out.append(str(number))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid(f"{value!r} has no JSON form")
        out.append(ecmascript_number(float(value)))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise _Invalid(f"object key {key!r} is not a string")
            if _SURROGATE.search(key):
                raise _Invalid("object key contains a lone UTF-16 surrogate, which is not valid Unicode")
        out.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_order)):
            if index:
                out.append(",")
            out.append(_escape_string(key))
            out.append(":")
            trail.append(key)
            _write(value[key], out, trail)
            trail.pop()
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            trail.append(index)
            _write(item, out, trail)
            trail.pop()
        out.append("]")
    elif isinstance(value, Decimal):
        raise _Invalid("Decimal values are not allowed: convert to a string or a float deliberately")
    else:
        raise _Invalid(f"values of type {type(value).__name__} have no JSON form")


def canonicalize_slow(value: Any, *, root: str = "") -> bytes:
    """RFC 8785 bytes of a JSON value by the reference algorithm (what the fast path must equal)."""
    out: list[str] = []
    trail: list[str | int] = []
    try:
        _write(value, out, trail)
    except _Invalid as invalid:
        path = root
        for step in trail:
            path = json_path(path, step)
        raise CanonicalizationError(invalid.message, path) from None
    except RecursionError:
        raise CanonicalizationError("value is nested too deeply or refers to itself", root) from None
    return "".join(out).encode("utf-8")


# Fast path: a prepared copy fed to the C encoder.


class _Decline(Exception):
    """The fast path cannot prove its output equals RFC 8785 for this value."""


def _prepare_float(value: float) -> float | int:
    if value.is_integer():
        # Integral doubles up to 2**53 print as the integer they are ("22", not "22.0").
        if -9007199254740992.0 <= value <= 9007199254740992.0:
            return int(value)
        raise _Decline
    # A non-integral double is below 2**52, and from 1e-4 up repr() writes it without an exponent,
    # exactly as ECMAScript does; smaller ones may differ ("1e-05" against "0.00001"). NaN and the
    # infinities fail both comparisons and decline too.
    if 1e-4 <= value < 1e16 or -1e16 < value <= -1e-4:
        return value
    raise _Decline


def _prepare(value: Any) -> Any:
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is float:
        return _prepare_float(value)
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise _Decline
    if kind is dict:
        return _prepare_object(value)
    if kind is list or kind is tuple:
        return _prepare_array(value)
    raise _Decline


def _prepare_array(values: list[Any] | tuple[Any, ...]) -> list[Any]:
    prepared = []
    append = prepared.append
    for item in values:
        kind = type(item)
        if kind is str or kind is bool or item is None:
            append(item)
        elif kind is float:
            append(_prepare_float(item))
        else:
            append(_prepare(item))
    return prepared


def _prepare_object(mapping: dict[Any, Any]) -> dict[str, Any]:
    keys = list(mapping)
    for key in keys:
        if type(key) is not str:
            raise _Decline
    if "".join(keys).isascii():
        keys.sort()
    else:
        # Code-point order equals UTF-16 order except around supplementary characters, so sort
        # non-ASCII keys by their UTF-16 code units; lone surrogates fail to encode and decline.
        try:
            keys.sort(key=_utf16_order)
        except UnicodeEncodeError:
            raise _Decline from None
    prepared = {}
    for key in keys:
        item = mapping[key]
        kind = type(item)
        if kind is str or kind is bool or item is None:
            prepared[key] = item
        elif kind is float:
            prepared[key] = _prepare_float(item)
        else:
            prepared[key] = _prepare(item)
    return prepared


# The prepared copy is already in RFC 8785 key order, so the encoder must keep insertion order. With
# ensure_ascii=False the C encoder escapes exactly what JCS escapes (quote, backslash, \b \f \n \r \t and
# the other C0 controls as lowercase \u00xx) and writes everything else as is; floats reach it only in
# the form where repr() and ECMAScript agree.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False, sort_keys=False
)


def _canonicalize_fast(value: Any) -> bytes | None:
    """RFC 8785 bytes through the C encoder, or None when that would not be provably identical."""
    try:
        return _ENCODER.encode(_prepare(value)).encode("utf-8")
    except (_Decline, RecursionError, UnicodeEncodeError, ValueError):
        return None


def canonicalize(value: Any, *, root: str = "") -> bytes:
    """RFC 8785 canonical bytes of a JSON value (dict, list, tuple, str, int, float, bool, None)."""
    fast = _canonicalize_fast(value)
    if fast is not None:
        return fast
    return canonicalize_slow(value, root=root)


# Strict parsing of untrusted JSON.

# These scans run on the raw bytes with bytes.translate/replace/split, all linear C loops: a regex over
# a few kilobytes of digits costs more than the parse itself.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")  # one regex pass, so "{[]}" loses one level, not two
_STRUCTURE_ONLY = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_NUMBER_SHAPE = bytes.maketrans(
    b"0123456789eE+-" + bytes(byte for byte in range(256) if byte not in b"0123456789eE+-"),
    b"0000000000ee++" + b" " * (256 - 14),
)


def _deeper_than(data: bytes, limit: int) -> bool:
    """Whether brackets outside string literals nest deeper than limit, without parsing."""
    if b"\\" in data:
        # Escaped backslashes first, then escaped quotes, so that only real string delimiters remain.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Dropping '""' only joins two string interiors around a gap that held no bracket.
    structure = data.translate(None, _STRUCTURE_ONLY).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])  # the even pieces lie outside strings
    # Each pass removes the innermost pairs, so after `limit` passes only deeper nesting is left.
    for _ in range(limit + 1):
        inner = _INNERMOST_PAIR.sub(b"", structure)
        if inner == structure:
            return False  # all matched, or brackets the parser will report as malformed
        structure = inner
    return True


def _may_overflow(data: bytes) -> bool:
    """Whether some number could overflow a double: a three-digit exponent or 300 digits in a row."""
    shape = data.translate(_NUMBER_SHAPE)
    return b"e000" in shape or b"e+000" in shape or b"0" * 300 in shape


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        raise _Refused("DUPLICATE_KEY", "duplicate key")
    return mapping


def _refuse_constant(name: str) -> Any:
    raise _Refused("NON_FINITE_NUMBER", f"{name} is not a JSON number")


def _int_in_range(text: str) -> bool:
    # JSON forbids leading zeros, so more than 16 digits is out of range without converting: int() of a
    # 5,000-digit literal would raise Python's own digit-limit ValueError instead.
    if len(text) <= 15:
        return True
    digits = len(text) - text.startswith("-")
    return digits <= 16 and -MAX_SAFE_INTEGER <= int(text) <= MAX_SAFE_INTEGER


def _checked_int(text: str) -> int:
    if not _int_in_range(text):
        raise _Refused("NUMBER_OUT_OF_RANGE", "integer outside ±(2**53 - 1)")
    return int(text)


def _checked_float(text: str) -> float:
    number = float(text)
    if number in (math.inf, -math.inf):
        raise _Refused("NUMBER_OUT_OF_RANGE", "number too large for a double")
    return number


class _Pairs(list):
    """An object kept as its key/value pairs, so the locating pass sees duplicates."""


class _Literal:
    """A refused literal, kept in place by the locating pass."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message


def _literal_int(text: str) -> int | _Literal:
    if _int_in_range(text):
        return int(text)
    shown = text if len(text) <= 24 else f"{text[:12]}...({len(text)} characters)"
    return _Literal("NUMBER_OUT_OF_RANGE", f"integer {shown} is outside ±(2**53 - 1)")


def _literal_float(text: str) -> float | _Literal:
    number = float(text)
    if math.isinf(number):
        shown = text if len(text) <= 24 else f"{text[:12]}...({len(text)} characters)"
        return _Literal("NUMBER_OUT_OF_RANGE", f"number {shown} is too large for a double")
    return number


def _literal_constant(name: str) -> _Literal:
    return _Literal("NON_FINITE_NUMBER", f"{name} is not a JSON number")


def _first_problem(node: Any, path: str) -> StrictJsonError | None:
    if isinstance(node, _Literal):
        return StrictJsonError(node.code, node.message, path)
    if isinstance(node, str):
        if _SURROGATE.search(node):
            return StrictJsonError("INVALID_UNICODE", "string contains a lone UTF-16 surrogate", path)
        return None
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for key, item in node:
            if _SURROGATE.search(key):
                return StrictJsonError("INVALID_UNICODE", "key contains a lone UTF-16 surrogate", path)
            if key in seen:
                return StrictJsonError("DUPLICATE_KEY", f"duplicate key {key!r}", json_path(path, key))
            seen.add(key)
            if (problem := _first_problem(item, json_path(path, key))) is not None:
                return problem
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if (problem := _first_problem(item, json_path(path, index))) is not None:
                return problem
    return None


def _malformed(exc: json.JSONDecodeError) -> StrictJsonError:
    return StrictJsonError("MALFORMED_JSON", f"{exc.msg} (line {exc.lineno}, column {exc.colno})")


def _locate(text: str) -> StrictJsonError | None:
    """Parse again, keeping refused parts in place, and name the first one in document order."""
    try:
        document = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_int=_literal_int,
            parse_float=_literal_float,
            parse_constant=_literal_constant,
        )
    except json.JSONDecodeError as exc:
        return _malformed(exc)  # malformed further on, which is the more basic fault
    return _first_problem(document, "")


def parse_json_strict(raw: bytes, *, max_bytes: int, max_depth: int = 32) -> Any:
    """Parse untrusted JSON, refusing anything whose meaning could be ambiguous or unbounded."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("parse_json_strict takes the raw bytes of a request body")
    size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    if size > max_bytes:
        raise StrictJsonError("TOO_LARGE", f"{size} bytes is over the limit of {max_bytes} bytes")
    data = bytes(raw)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJsonError("NOT_UTF8", f"not valid UTF-8 at byte {exc.start}") from None
    # Bracket depth first: json.loads itself would recurse as deep as the input goes.
    if data.count(b"[") + data.count(b"{") > max_depth and _deeper_than(data, max_depth):
        raise StrictJsonError("TOO_DEEP", f"nested more than the limit of {max_depth} levels")
    hooks: dict[str, Callable[..., Any]] = {
        "object_pairs_hook": _refuse_duplicates,
        "parse_int": _checked_int,
        "parse_constant": _refuse_constant,
    }
    if _may_overflow(data):
        hooks["parse_float"] = _checked_float  # a Python call per float: only when one may be infinite
    try:
        document = json.loads(text, **hooks)
    except json.JSONDecodeError as exc:
        raise _malformed(exc) from None
    except RecursionError:
        raise StrictJsonError("TOO_DEEP", f"nested more than {max_depth} levels deep") from None
    except _Refused as refused:
        located = _locate(text)
        raise (located or StrictJsonError(refused.code, refused.message)) from None
    # A \uD800-style escape is the only way a lone surrogate gets in; check only when one might.
    if _SURROGATE_ESCAPE.search(text):
        located = _locate(text)
        if located is not None:
            raise located
    return document
