"""China's provincial-level subdivisions (ISO 3166-2:CN), the province a facility's regulator sits in."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

CN_PROVINCES = {
    "CN-AH": _("Anhui"),
    "CN-BJ": _("Beijing"),
    "CN-CQ": _("Chongqing"),
    "CN-FJ": _("Fujian"),
    "CN-GD": _("Guangdong"),
    "CN-GS": _("Gansu"),
    "CN-GX": _("Guangxi"),
    "CN-GZ": _("Guizhou"),
    "CN-HA": _("Henan"),
    "CN-HB": _("Hubei"),
    "CN-HE": _("Hebei"),
    "CN-HI": _("Hainan"),
    "CN-HK": _("Hong Kong"),
    "CN-HL": _("Heilongjiang"),
    "CN-HN": _("Hunan"),
    "CN-JL": _("Jilin"),
    "CN-JS": _("Jiangsu"),
    "CN-JX": _("Jiangxi"),
    "CN-LN": _("Liaoning"),
    "CN-MO": _("Macao"),
    "CN-NM": _("Inner Mongolia"),
    "CN-NX": _("Ningxia"),
    "CN-QH": _("Qinghai"),
    "CN-SC": _("Sichuan"),
    "CN-SD": _("Shandong"),
    "CN-SH": _("Shanghai"),
    "CN-SN": _("Shaanxi"),
    "CN-SX": _("Shanxi"),
    "CN-TJ": _("Tianjin"),
    "CN-TW": _("Taiwan"),
    "CN-XJ": _("Xinjiang"),
    "CN-XZ": _("Tibet"),
    "CN-YN": _("Yunnan"),
    "CN-ZJ": _("Zhejiang"),
}


def province_name(code: str) -> str:
    return str(CN_PROVINCES.get(code, code))
