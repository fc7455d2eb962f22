from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from passport import codes

REFDATA = Path(__file__).resolve().parents[3] / "shared" / "refdata"
TODAY = date(2026, 11, 25)
VALID = "X12MCPM27KLPCLT2M2382320"  # the Catena-X example with a 2026 production year


def parse(code: str, **kwargs: object) -> codes.ParsedCode:
    return codes.parse_code(code, today=TODAY, **kwargs)


def error_of(code: str, **kwargs: object) -> codes.CodeError:
    with pytest.raises(codes.CodeError) as caught:
        parse(code, **kwargs)
    return caught.value


def test_parse_code_splits_every_segment():
    parsed = parse(VALID)
    assert (parsed.manufacturer, parsed.product_type, parsed.battery_type, parsed.spec) == (
        "X12",
        "M",
        "C",
        "PM",
    )
    assert (parsed.traceability, parsed.date_letters, parsed.serial) == ("27KLPCL", "T2M", "2382320")
    assert parsed.production_date == date(2026, 2, 21)
    assert parsed.scheme == codes.SCHEME_GBT


@pytest.mark.parametrize(
    "typed",
    [
        "  x12mcpm27klpclt2m2382320 ",
        "Ｘ１２ＭＣＰＭ２７ＫＬＰＣＬＴ２Ｍ２３８２３２０",
        "\u200bX12MCPM27KLPCL\u200dT2M2382320\ufeff",
        "X12MCPM27KLPCLT2M\u20602382320",
    ],
)
def test_parse_code_normalises_case_width_and_invisible_characters(typed):
    assert parse(typed).code == VALID


@pytest.mark.parametrize(
    ("code", "error_code", "segment", "position"),
    [
        ("X12MCPM27KLPCLT2M238232", "CODE_LENGTH", None, None),
        ("X12MCPM27KLPCLT2M23823201", "CODE_LENGTH", None, None),
        ("", "CODE_LENGTH", None, None),
        ("X1_MCPM27KLPCLT2M2382320", "CODE_CHARACTERS", "manufacturer", 3),
        ("X12XCPM27KLPCLT2M2382320", "PRODUCT_TYPE", "product_type", 4),
        ("X12MHPM27KLPCLT2M2382320", "BATTERY_TYPE", "battery_type", 5),
        ("X12MCPM27KLPCLO2M2382320", "DATE_LETTER", "year", 15),
        ("X12MCPM27KLPCLTDM2382320", "DATE_LETTER", "month", 16),
        ("X12MCPM27KLPCLT2Q2382320", "DATE_LETTER", "day", 17),
        ("X12MCPM27KLPCLT2I2382320", "DATE_LETTER", "day", 17),
        ("X12MCPM27KLPCLT2X2382320", "DATE_INVALID", "day", 17),
        ("X12MCPM27KLPCLUCY2382320", "DATE_IN_FUTURE", "year", 15),
        ("X12MCPM27KLPCLT2M0000000", "SERIAL_ZERO", "serial", 18),
        ("X12MCPM27KLPCLT2M23823A0", "SERIAL_FORMAT", "serial", 23),
    ],
)
def test_parse_code_names_segment_and_position_of_each_error(code, error_code, segment, position):
    error = error_of(code)
    assert (error.code, error.segment, error.position) == (error_code, segment, position)
    assert error.status_code == 400
    if position is not None:
        assert f"{position}" in str(error.message)


def test_parse_code_checks_the_real_calendar():
    assert parse("X12MCPM27KLPCLT2R2382320").production_date == date(2026, 2, 24)
    assert error_of("X12MCPM27KLPCLT2X2382320").code == "DATE_INVALID"  # 30 February
    assert parse("X12MCPM27KLPCLK2T2382320").production_date == date(2019, 2, 26)
    assert error_of("X12MCPM27KLPCLK2W2382320").code == "DATE_INVALID"  # 2019 is no leap year
    assert parse("X12MCPM27KLPCLR2W2382320").production_date == date(2024, 2, 29)
    assert parse("X12MCPM27KLPCLS4X2382320").production_date == date(2025, 4, 30)
    assert error_of("X12MCPM27KLPCLS4Y2382320").code == "DATE_INVALID"  # 31 April


def test_parse_code_refuses_unallocated_manufacturer_through_the_lookup():
    error = error_of(VALID, manufacturer_lookup=lambda code: None)
    assert (error.code, error.segment, error.position) == ("MANUFACTURER_UNKNOWN", "manufacturer", 1)
    assert parse(VALID, manufacturer_lookup={"X12": "Some OEM"}.get).manufacturer == "X12"


def test_letter_tables_cover_every_day_and_skip_confusable_letters():
    assert sorted(codes.DAY_LETTERS.values()) == list(range(1, 32))
    assert not {"I", "O", "Q", "Z", "0"} & (set(codes.DAY_LETTERS) | set(codes.YEAR_LETTERS))
    assert codes.YEAR_LETTERS["A"] == 2010
    assert codes.YEAR_LETTERS["T"] == 2026
    assert codes.YEAR_LETTERS["U"] == 2027
    assert codes.DAY_LETTERS["H"] == 17
    assert codes.DAY_LETTERS["J"] == 18
    assert codes.DAY_LETTERS["Y"] == 31
    assert list(codes.MONTH_LETTERS.values()) == list(range(1, 13))


def test_letter_tables_stay_inside_the_catenax_character_classes():
    model = json.loads((REFDATA / "catenax-semantic-models/derived/gbt34014_code_vectors.json").read_text())
    classes = re.findall(r"\[([^\]]+)\]\{1\}", model["regex"].split("|")[0])
    year_class, month_class, day_class = (re.compile(f"[{body}]") for body in classes[2:5])
    assert all(year_class.fullmatch(letter) for letter in codes.YEAR_LETTERS)
    assert all(month_class.fullmatch(letter) for letter in codes.MONTH_LETTERS)
    assert all(day_class.fullmatch(letter) for letter in codes.DAY_LETTERS)


def test_parse_code_agrees_with_the_catenax_vectors():
    vectors = json.loads((REFDATA / "catenax-semantic-models/derived/gbt34014_code_vectors.json").read_text())
    regex = re.compile(vectors["regex"])
    far_future = date(2031, 12, 31)  # the vectors use year X (2030); structure is what they test
    for vector in vectors["vectors"]:
        code = vector["code"]
        assert bool(regex.match(code)) == vector["matches_catenax_regex"]
        # Lower case is normalised at entry, so only the raw regex refuses it.
        if code != code.upper():
            assert codes.parse_code(code, today=far_future).code == code.upper()
            continue
        explanation = codes.explain_code(code, today=far_future)
        if not vector["matches_catenax_regex"]:
            assert not explanation.valid, vector["note"]
        elif "letter I" in vector["note"]:
            # Documented deviation: the regex class H-N lets I through; no date table uses it.
            assert explanation.errors[0].code == "DATE_LETTER"
        else:
            assert explanation.valid, vector["note"]


def test_recoded_second_life_code_is_parsed():
    parsed = parse("X12MCPMT2M2382320RM")
    assert parsed.scheme == codes.SCHEME_GBT_RECODED
    assert parsed.production_date == date(2026, 2, 21)
    assert parsed.traceability == ""


def test_explain_code_reports_every_segment_with_meaning_and_validity():
    explanation = codes.explain_code(
        "X12MHPM27KLPCLT2M2382320", today=TODAY, manufacturer_lookup={"X12": "OEM"}.get
    )
    by_name = {segment.name: segment for segment in explanation.segments}
    assert [segment.position for segment in explanation.segments] == [1, 4, 5, 6, 8, 15, 16, 17, 18]
    assert by_name["manufacturer"].meaning == "OEM"
    assert by_name["product_type"].meaning == "module"
    assert not by_name["battery_type"].valid
    assert by_name["battery_type"].error.code == "BATTERY_TYPE"
    assert explanation.as_dict()["error"]["position"] == 5


def test_gtin_check_digit_matches_gs1_examples():
    assert codes.gtin_check_digit("0950600013435") == 2
    assert codes.gtin_is_valid("09506000134352")
    assert not codes.gtin_is_valid("09506000134353")
    assert codes.gtin_check_digit("0001234560001") == 2


@pytest.mark.parametrize(
    "typed",
    [
        "0109506000134352" + "21" + "AB-12/x",
        "(01)09506000134352(21)AB-12/x",
        "https://id.example.com/01/09506000134352/21/AB-12%2Fx",
        "https://id.example.com/01/09506000134352/21/AB-12%2Fx?linkType=all",
        "/01/09506000134352/21/AB-12%2Fx",
    ],
)
def test_gs1_identifiers_parse_in_every_written_form(typed):
    parsed = parse(typed)
    assert (parsed.gtin, parsed.gs1_serial, parsed.code) == (
        "09506000134352",
        "AB-12/x",
        "0109506000134352" + "21AB-12/x",
    )
    assert parsed.digital_link_path == "/01/09506000134352/21/AB-12%2Fx"


def test_digital_link_round_trips():
    uri = codes.digital_link_uri("https://passport.test", "09506000134352", "S/N 7")
    assert uri == "https://passport.test/01/09506000134352/21/S%2FN%207"
    error = error_of(uri)  # a space is outside GS1 character set 82
    assert error.code == "GS1_SERIAL_CHARACTERS"
    assert (
        codes.parse_digital_link(codes.digital_link_uri("https://x", "09506000134352", "A-1")).gs1_serial
        == "A-1"
    )


@pytest.mark.parametrize(
    ("typed", "error_code"),
    [
        ("(01)09506000134353(21)A1", "GTIN_CHECK_DIGIT"),
        ("https://x/01/0950600013/21/A1", "GTIN_FORMAT"),
        ("(01)09506000134352(21)" + "A" * 21, "GS1_SERIAL_LENGTH"),
        ("https://x/01/09506000134352/10/LOT1/21/A1", "DIGITAL_LINK_PATH"),
        ("https://x/01/09506000134352", "DIGITAL_LINK_PATH"),
    ],
)
def test_gs1_errors_are_named(typed, error_code):
    assert error_of(typed).code == error_code


def test_gs1_short_gtins_are_padded_to_fourteen_digits():
    assert parse("https://x/01/9506000134352/21/A1").gtin == "09506000134352"


def _dictionary_entry(ai: str) -> list[str]:
    text = (REFDATA / "gs1-syntax-dictionary/gs1-syntax-dictionary.txt").read_text()
    line = next(line for line in text.splitlines() if line.split(" ", 1)[0] == ai)
    return line.split("#", 1)[0].split()


def test_gs1_rules_match_the_syntax_dictionary():
    gtin = _dictionary_entry("01")
    assert "N14,csum,gcppos2" in gtin
    assert codes.GTIN_LENGTH == 14
    dlpkey = next(item for item in gtin if item.startswith("dlpkey="))
    assert "21" in dlpkey.split("=", 1)[1].split("|")[0].split(",")  # serial is a qualifier of the GTIN
    serial = _dictionary_entry("21")
    assert "X..20" in serial
    assert codes.GS1_SERIAL_MAX_LENGTH == 20
    assert any(item.startswith("req=") and "01" in item for item in serial)
    cset82 = set("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
    assert len(cset82) == 82
    assert cset82 == codes.CSET_82
