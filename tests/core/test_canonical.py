"""RFC 8785 canonical JSON (fast and slow paths) and the strict parser for untrusted JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from core import canonical
from core.canonical import (
    CanonicalizationError,
    StrictJsonError,
    canonicalize,
    canonicalize_slow,
    ecmascript_number,
    parse_json_strict,
    sha256_hex,
)

REPO = Path(__file__).resolve().parents[2]
JCS = REPO.parent / "shared" / "refdata" / "rfc8785-jcs" / "testdata"
VECTORS = sorted(path.name for path in (JCS / "input").glob("*.json"))


def _fast(value: Any) -> bytes | None:
    return canonical._canonicalize_fast(value)


# The reference vectors


def test_reference_vectors_are_present():
    assert len(VECTORS) == 6


@pytest.mark.parametrize("name", VECTORS)
def test_canonicalize_slow_path_matches_reference_vector(name):
    value = json.loads((JCS / "input" / name).read_bytes())
    assert canonicalize_slow(value) == (JCS / "output" / name).read_bytes()


@pytest.mark.parametrize("name", VECTORS)
def test_canonicalize_fast_path_matches_reference_vector_or_declines(name):
    value = json.loads((JCS / "input" / name).read_bytes())
    expected = (JCS / "output" / name).read_bytes()
    fast = _fast(value)
    # values.json holds 1e30 and 1e-27, whose exponent notation only the slow path writes.
    if name == "values.json":
        assert fast is None
    else:
        assert fast == expected
    assert canonicalize(value) == expected


@pytest.mark.parametrize("name", VECTORS)
def test_reference_vector_outputs_agree_with_their_hex_dumps(name):
    hex_dump = (JCS / "outhex" / name.replace(".json", ".txt")).read_text()
    assert bytes.fromhex("".join(hex_dump.split())) == (JCS / "output" / name).read_bytes()


@pytest.mark.parametrize("name", VECTORS)
def test_parse_json_strict_then_canonicalize_reproduces_reference_vector(name):
    value = parse_json_strict((JCS / "input" / name).read_bytes(), max_bytes=10_000)
    assert canonicalize(value) == (JCS / "output" / name).read_bytes()


# Numbers


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (22.0, "22"),
        (-22.0, "-22"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (1.5e-5, "0.000015"),
        (0.0001, "0.0001"),
        (5e-324, "5e-324"),
        (-5e-324, "-5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (333333333.33333329, "333333333.3333333"),
        (0.1 + 0.2, "0.30000000000000004"),
        (4.5, "4.5"),
        (2.0**53, "9007199254740992"),
        (1e30, "1e+30"),
        (-1.5e-300, "-1.5e-300"),
    ],
)
def test_ecmascript_number_writes_what_ecmascript_writes(number, expected):
    assert ecmascript_number(number) == expected
    assert canonicalize(number) == expected.encode()
    assert canonicalize_slow(number) == expected.encode()
    assert rfc8785.dumps(number) == expected.encode()


def test_canonicalize_fast_path_writes_integral_floats_as_integers():
    assert _fast({"t": 22.0, "v": [3.0, -0.0, 3.281]}) == b'{"t":22,"v":[3,0,3.281]}'


@pytest.mark.parametrize("number", [1e-5, 1e21, 1e300, 5e-324, 2.0**60, -1e-7])
def test_canonicalize_fast_path_declines_numbers_written_with_exponent(number):
    assert _fast([number]) is None
    assert canonicalize([number]) == rfc8785.dumps([number])


# Keys, strings and values


def test_canonicalize_orders_keys_by_utf16_code_units_not_code_points():
    # U+1F602 is D83D DE02 in UTF-16, so it sorts before U+FB33 although its code point is higher.
    value = {"\ufb33": 1, "\U0001f602": 2, "\u00f6": 3}
    expected = '{"\u00f6":3,"\U0001f602":2,"\ufb33":1}'.encode()
    assert canonicalize(value) == expected
    assert canonicalize_slow(value) == expected
    assert _fast(value) == expected


def test_canonicalize_escapes_strings_as_jcs_does():
    value = '\u20ac$\u000f\nA\'B"\\\\"/\x7f\b\f\t\r\x00\x1f'
    expected = '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/\x7f\\b\\f\\t\\r\\u0000\\u001f"'.encode()
    assert canonicalize(value) == expected
    assert canonicalize_slow(value) == expected


def test_canonicalize_accepts_tuples_and_int_enums_like_rfc8785():
    class Severity(IntEnum):
        HIGH = 3

    value = {"a": (1, 2), "severity": Severity.HIGH, "ok": True, "none": None}
    assert canonicalize(value) == rfc8785.dumps(value) == b'{"a":[1,2],"none":null,"ok":true,"severity":3}'


def test_sha256_hex_hashes_bytes():
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# Rejections, each naming the JSON path


@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ({"cells": [3.2, 3.3, 3.1, float("nan")]}, "payload.cells[3]", "nan"),
        ({"cells": [float("inf")]}, "payload.cells[0]", "inf"),
        ({"t": -math.inf}, "payload.t", "inf"),
        ({"n": 2**53}, "payload.n", "outside"),
        ({"n": -(2**53)}, "payload.n", "outside"),
        ({"owner": {1: "x"}}, "payload.owner", "not a string"),
        ({"mass": Decimal("1.5")}, "payload.mass", "Decimal"),
        ({"seen": {1, 2}}, "payload.seen", "set"),
        ({"raw": b"\x00"}, "payload.raw", "bytes"),
        ({"text": "a\ud800b"}, "payload.text", "surrogate"),
        ({"bad\udfffkey": 1}, "payload", "surrogate"),
        ({"weird key": [[float("nan")]]}, 'payload["weird key"][0][0]', "nan"),
    ],
)
def test_canonicalize_rejects_values_without_a_jcs_form(value, path, words):
    for function in (canonicalize, canonicalize_slow):
        with pytest.raises(CanonicalizationError) as caught:
            function(value, root="payload")
        assert caught.value.path == path
        assert words in caught.value.message
        assert isinstance(caught.value, ValueError)


def test_canonicalize_accepts_the_largest_safe_integers():
    limit = 2**53 - 1
    assert canonicalize([limit, -limit]) == f"[{limit},{-limit}]".encode()


def test_canonicalize_rejects_a_value_that_contains_itself():
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(CanonicalizationError):
        canonicalize(loop)


def test_canonicalize_names_the_top_level_when_no_root_is_given():
    with pytest.raises(CanonicalizationError) as caught:
        canonicalize(float("nan"))
    assert caught.value.path == ""
    assert "top level" in str(caught.value)


# Properties: both paths equal the rfc8785 package


def _json_values(keys: st.SearchStrategy[str], floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
        | floats
        | st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=6),
        max_leaves=30,
    )


ANY_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
ANY_VALUE = _json_values(st.text(max_size=8), ANY_FLOAT)


@settings(max_examples=400, deadline=None)
@given(ANY_VALUE)
@example({"a": [1e21, 1e-7, 5e-324, -0.0, 22.0]})
@example({"\U0001f602": 1, "\ufb33": 2, "\ue000": 3})
def test_canonicalize_both_paths_equal_rfc8785_package(value):
    expected = rfc8785.dumps(value)
    assert canonicalize_slow(value) == expected
    fast = _fast(value)
    assert fast is None or fast == expected
    assert canonicalize(value) == expected


@settings(max_examples=1000, deadline=None)
@given(ANY_FLOAT)
@example(1e21)
@example(1e-7)
@example(5e-324)
@example(-0.0)
@example(22.0)
@example(9007199254740993.0)
@example(0.0001)
@example(0.00009999999999999999)
def test_canonicalize_floats_equal_rfc8785_package(number):
    expected = rfc8785.dumps(number)
    assert ecmascript_number(number).encode() == expected
    fast = _fast([number])
    assert fast is None or fast == b"[" + expected + b"]"


TELEMETRY_VALUE = _json_values(
    st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)), max_size=8),
    st.floats(min_value=1e-4, max_value=1e6) | st.floats(min_value=-1e6, max_value=-1e-4) | st.just(0.0),
)


@settings(max_examples=300, deadline=None)
@given(TELEMETRY_VALUE)
def test_canonicalize_fast_path_takes_telemetry_shaped_values(value):
    fast = _fast(value)
    assert fast is not None
    assert fast == rfc8785.dumps(value)


def _has_huge_integral_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer() and abs(value) > 2**53 - 1
    if isinstance(value, list):
        return any(_has_huge_integral_float(item) for item in value)
    if isinstance(value, dict):
        return any(_has_huge_integral_float(item) for item in value.values())
    return False


@settings(max_examples=300, deadline=None)
@given(ANY_VALUE)
def test_parse_json_strict_reads_back_canonical_bytes_to_the_same_canonical_bytes(value):
    # JCS writes an integral double such as 1e20 as integer digits, which the strict parser refuses as
    # an integer beyond 2**53 - 1: only values inside that range survive the round trip.
    assume(not _has_huge_integral_float(value))
    canonical_bytes = canonicalize(value)
    again = parse_json_strict(canonical_bytes, max_bytes=len(canonical_bytes), max_depth=64)
    assert canonicalize(again) == canonical_bytes


# The strict parser


def _refusal(raw: bytes, **limits: int) -> StrictJsonError:
    with pytest.raises(StrictJsonError) as caught:
        parse_json_strict(raw, max_bytes=limits.pop("max_bytes", 10_000), **limits)
    return caught.value


def test_parse_json_strict_returns_plain_values():
    raw = '{"soc_pct": 61.5, "cycle_count": 812, "faults": [], "plate": "沪A12345", "ok": true, "x": null}'
    assert parse_json_strict(raw.encode(), max_bytes=1000) == {
        "soc_pct": 61.5,
        "cycle_count": 812,
        "faults": [],
        "plate": "沪A12345",
        "ok": True,
        "x": None,
    }


def test_parse_json_strict_refuses_oversize_input_before_reading_it():
    error = _refusal(b"\xff" * 2000, max_bytes=1000)  # not even UTF-8: the size check comes first
    assert error.code == "TOO_LARGE"
    assert error.path is None


def test_parse_json_strict_accepts_input_of_exactly_the_limit():
    assert parse_json_strict(b"[1,2]", max_bytes=5) == [1, 2]
    assert parse_json_strict(memoryview(b"[1,2]"), max_bytes=5) == [1, 2]
    assert _refusal(memoryview(b"[1,2,3]"), max_bytes=5).code == "TOO_LARGE"


def test_parse_json_strict_refuses_invalid_utf8():
    error = _refusal(b'{"plate": "\xe6\xb2"}')
    assert error.code == "NOT_UTF8"
    assert "byte 11" in error.message


@pytest.mark.parametrize("raw", [b'{"a": 1,}', b"{'a': 1}", b'{"a": 1', b"", b"[1] [2]", b"\xef\xbb\xbf[1]"])
def test_parse_json_strict_refuses_malformed_json(raw):
    error = _refusal(raw)
    assert error.code == "MALFORMED_JSON"
    assert "line 1" in error.message


def test_parse_json_strict_refuses_duplicate_keys_naming_the_path():
    error = _refusal(b'{"payload": {"cells": [1, {"v": 1, "v": 2}]}}')
    assert error.code == "DUPLICATE_KEY"
    assert error.path == "payload.cells[1].v"


@pytest.mark.parametrize(
    ("raw", "path"),
    [(b'{"soc": NaN}', "soc"), (b"[1, Infinity]", "[1]"), (b'{"a": {"b": -Infinity}}', "a.b")],
)
def test_parse_json_strict_refuses_non_finite_literals(raw, path):
    error = _refusal(raw)
    assert error.code == "NON_FINITE_NUMBER"
    assert error.path == path


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b'{"n": 9007199254740992}', "n"),
        (b'{"n": -9007199254740992}', "n"),
        (b'{"cells": [1, 123456789012345678901234567890]}', "cells[1]"),
        (b'{"v": 1e400}', "v"),
        (b'{"v": -1e400}', "v"),
        (b'{"v": [' + b"9" * 400 + b".5]}", "v[0]"),
        (b'{"v": [' + b"7" * 5000 + b"]}", "v[0]"),
        (b'{"v": [-' + b"7" * 17 + b"]}", "v[0]"),
    ],
)
def test_parse_json_strict_refuses_numbers_out_of_range(raw, path):
    error = _refusal(raw)
    assert error.code == "NUMBER_OUT_OF_RANGE"
    assert error.path == path


def test_parse_json_strict_refuses_integral_doubles_that_jcs_writes_as_big_integers():
    error = _refusal(canonicalize([1e20]))
    assert error.code == "NUMBER_OUT_OF_RANGE"
    assert error.path == "[0]"


def test_parse_json_strict_accepts_the_safe_integer_limits():
    assert parse_json_strict(b"[9007199254740991, -9007199254740991]", max_bytes=100) == [
        2**53 - 1,
        -(2**53 - 1),
    ]


def test_parse_json_strict_refuses_nesting_beyond_the_limit():
    error = _refusal(b"[" * 5 + b"]" * 5, max_depth=4)
    assert error.code == "TOO_DEEP"
    assert parse_json_strict(b"[" * 4 + b"]" * 4, max_bytes=100, max_depth=4) == [[[[]]]]


def test_parse_json_strict_ignores_brackets_inside_strings_when_measuring_depth():
    raw = b'{"text": "[[[[[[{{{{\\"[[[["}'
    assert parse_json_strict(raw, max_bytes=100, max_depth=1) == {"text": '[[[[[[{{{{"[[[['}


def test_parse_json_strict_measures_depth_correctly_around_escaped_backslashes_and_quotes():
    assert parse_json_strict(b'["\\\\", "\\"[[[[", "]]"]', max_bytes=100, max_depth=1) == [
        "\\",
        '"[[[[',
        "]]",
    ]
    error = _refusal(b'{"a": "\\\\", "b": [[["x"]]]}', max_depth=3)
    assert error.code == "TOO_DEEP"


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


TRICKY_TEXT = st.text(st.sampled_from('[]{}"\\ax'), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.integers(0, 9) | TRICKY_TEXT,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(TRICKY_TEXT, children, max_size=3),
        max_leaves=25,
    )
)
def test_parse_json_strict_depth_limit_matches_the_true_nesting(value):
    raw = json.dumps(value).encode()
    depth = _depth(value)
    assert parse_json_strict(raw, max_bytes=len(raw), max_depth=depth) == value
    if depth:
        assert _refusal(raw, max_bytes=len(raw), max_depth=depth - 1).code == "TOO_DEEP"


def test_parse_json_strict_reports_unbalanced_brackets_as_malformed():
    assert _refusal(b"[" * 100, max_depth=4).code == "MALFORMED_JSON"


def test_parse_json_strict_refuses_hostile_depth_without_recursing():
    error = _refusal(b"[" * 200_000 + b"]" * 200_000, max_bytes=1_000_000)
    assert error.code == "TOO_DEEP"


def test_parse_json_strict_refuses_lone_surrogate_escapes():
    error = _refusal(b'{"name": ["ok", "\\ud800"]}')
    assert error.code == "INVALID_UNICODE"
    assert error.path == "name[1]"


def test_parse_json_strict_accepts_escaped_surrogate_pairs():
    assert parse_json_strict(b'{"\\ud83d\\ude02": "\\u00f6"}', max_bytes=100) == {"\U0001f602": "ö"}


def test_parse_json_strict_takes_bytes_only():
    with pytest.raises(TypeError):
        parse_json_strict("[1]", max_bytes=10)  # type: ignore[arg-type]


def test_strict_json_error_is_a_value_error_with_code_in_its_text():
    error = _refusal(b'{"a": NaN}')
    assert isinstance(error, ValueError)
    assert str(error).startswith("NON_FINITE_NUMBER")


# The offline verifier imports these modules with the standard library and cryptography only


def test_canonical_and_signing_import_without_django_or_pynacl():
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'django', 'nacl', 'rfc8785', 'rest_framework'}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from core import canonical, signing\n"
        "assert canonical.canonicalize({'b': 1.0, 'a': [1e-7]}) == b'{\"a\":[1e-7],\"b\":1}'\n"
        "key = signing.generate_private_key('Ed25519')\n"
        "assert signing.verify_signature(key.public_key(), b'm', signing.sign(key, b'm'), alg='Ed25519')\n"
        "print(signing.ed25519_backend())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "cryptography"
