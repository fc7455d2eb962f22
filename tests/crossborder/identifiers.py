"""Identifiers that the scanner must find (valid check characters) and look-alikes it must not."""

from __future__ import annotations

VIN = "LSVAG2186E2100001"  # check character 6 is valid
VIN_WITH_X = None  # filled below: a VIN whose check character is X
RESIDENT_ID = "44030419851120873" + "6"
RESIDENT_ID_X = "11010519491231002X"
PLATE = "粤B·D12345"
PLATE_PLAIN = "京A12345"
MOBILE = "13912345678"
MOBILE_FORMATTED = "+86 138 0013 8000"
COORDINATES = "31.230416, 121.473701"


def _vin_with_x() -> str:
    from crossborder.scanner import vin_check_digit_valid

    for serial in range(100000, 200000):
        candidate = f"LGXC16DFXN0{serial}"
        if vin_check_digit_valid(candidate):
            return candidate
    raise AssertionError("no VIN with check character X in range")


VIN_WITH_X = _vin_with_x()
