"""Demo passports: manufacturer codes, battery models and about forty batteries, all through the services.

Huaneng registers its packs and modules itself (verified); Zhongyuan's come from records signed with
its registration key (verified) or from its own API calls; GreenCycle registers a few cells it found
(claimed); Lingnan once tries to register a Huaneng code that already exists (a clone alert); the
German buyer is granted access to two packs. Running it twice changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from core import signing
from demo.seed_accounts import organisation
from passport import services
from passport.errors import DuplicateCode
from passport.models import AccessGrant, Battery, BatteryModel, CloneAlert, DeviceKey, ManufacturerCode
from passport.services import RegistrationRequest

HUANENG = "Huaneng Cells Co. (demo OEM)"
ZHONGYUAN = "Zhongyuan Auto Batteries (demo OEM)"
BUYER = "Rhein Storage GmbH"

CODES = {"HNC": HUANENG, "ZYA": ZHONGYUAN}

# oem -> (name, chemistry, product type, Ah, V, kWh, kg, cells, configuration, cycles, years)
MODELS = {
    HUANENG: [
        ("HN-LFP-280-PACK", "lfp", "P", "280", "307.2", "86.016", "540", 96, "96S1P", 6000, 12),
        ("HN-LFP-MOD-16", "lfp", "M", "280", "51.2", "14.336", "88", 16, "16S1P", 6000, 12),
        ("HN-LFP-CELL-280", "lfp", "C", "280", "3.2", "0.896", "5.4", 1, "1S1P", 6000, 12),
    ],
    ZHONGYUAN: [
        ("ZY-NMC-150-PACK", "nmc", "P", "150", "355.2", "53.28", "385", 96, "96S1P", 2500, 8),
        ("ZY-NMC-MOD-12", "nmc", "M", "150", "44.4", "6.66", "42", 12, "12S1P", 2500, 8),
    ],
}


def code(
    manufacturer: str, product: str, battery_type: str, date_letters: str, serial: int, trace: str
) -> str:
    spec = "A1" if product == "P" else "B2"
    return f"{manufacturer}{product}{battery_type}{spec}{trace}{date_letters}{serial:07d}"


def _huaneng_batteries() -> list[RegistrationRequest]:
    """Four LFP packs of four modules each, built in spring 2025 and January 2026."""
    requests = []
    for pack_number, date_letters in enumerate(("S4F", "S4F", "T1A", "T1A"), start=1):
        pack = code("HNC", "P", "B", date_letters, pack_number * 100, "GZ25L07")
        requests.append(RegistrationRequest(code=pack, model="HN-LFP-280-PACK"))
        for module_number in range(1, 5):
            module = code("HNC", "M", "B", date_letters, pack_number * 100 + module_number, "GZ25L07")
            requests.append(RegistrationRequest(code=module, model="HN-LFP-MOD-16", parent_code=pack))
    return requests


def seed(say: Callable[[str], None]) -> None:
    admin = User.objects.get(username="admin")
    for segment, name in CODES.items():
        if not ManufacturerCode.objects.filter(code=segment).exists():
            services.allocate_manufacturer_code(code=segment, oem=organisation(name), by=admin)
    for oem_name, rows in MODELS.items():
        oem = organisation(oem_name)
        for name, chemistry, product, ah, volts, kwh, kg, cells, configuration, cycles, years in rows:
            if not BatteryModel.objects.filter(oem=oem, name=name).exists():
                services.create_battery_model(
                    oem=oem, by=None, name=name, chemistry=chemistry, product_type=product,
                    rated_capacity_ah=ah, nominal_voltage_v=volts, rated_energy_kwh=kwh, mass_kg=kg,
                    cell_count=cells, configuration=configuration, expected_cycle_life=cycles,
                    expected_lifetime_years=years,
                )  # fmt: skip

    huaneng_admin = User.objects.get(username="oem-admin")
    requests = [r for r in _huaneng_batteries() if not Battery.objects.filter(code=r.code).exists()]
    if requests:
        services.register_batteries(requests=requests, by=huaneng_admin)
    gs1 = RegistrationRequest(
        code="(01)06970000000017(21)HN-ESS-0001", model="HN-LFP-280-PACK", production_date="2026-03-02"
    )
    if not Battery.objects.filter(code="010697000000001721HN-ESS-0001").exists():
        services.register_batteries(requests=[gs1], by=huaneng_admin)

    # Zhongyuan signs registration records; GreenCycle, holding the units, submits them.
    zhongyuan = organisation(ZHONGYUAN)
    signed_codes = [code("ZYA", "P", "E", "S9K", 1, "ZY9K001")] + [
        code("ZYA", "M", "E", "S9K", number, "ZY9K001") for number in range(2, 6)
    ]
    if not Battery.objects.filter(code__in=signed_codes).exists():
        private_key = signing.generate_private_key()
        services.register_device_key(
            organisation=zhongyuan,
            by=User.objects.get(username="oem2-admin"),
            public_key=signing.public_key_pem(private_key),
            purpose=DeviceKey.Purpose.REGISTRATION,
            label="Zhongyuan registration signer (demo)",
            valid_from=timezone.now() - timedelta(days=30),
        )
        signed_at = timezone.now().isoformat()
        records = [
            services.sign_registration_payload(
                {"code": signed_codes[0], "model": "ZY-NMC-150-PACK", "signed_at": signed_at}, private_key
            )
        ] + [
            services.sign_registration_payload(
                {
                    "code": child,
                    "model": "ZY-NMC-MOD-12",
                    "parent_code": signed_codes[0],
                    "signed_at": signed_at,
                },
                private_key,
            )
            for child in signed_codes[1:]
        ]
        services.register_signed_records(records=records, by=User.objects.get(username="recycler-operator"))
    plain = [code("ZYA", "P", "E", "T3H", number, "ZY6C002") for number in range(11, 22)]
    missing = [
        RegistrationRequest(code=c, model="ZY-NMC-150-PACK")
        for c in plain
        if not Battery.objects.filter(code=c).exists()
    ]
    if missing:
        services.register_batteries(requests=missing, by=User.objects.get(username="oem2-operator"))

    # GreenCycle found three loose Huaneng cells: their origin is only claimed.
    found = [code("HNC", "C", "B", "R8C", number, "GZ24H11") for number in (7001, 7002, 7003)]
    missing = [RegistrationRequest(code=c) for c in found if not Battery.objects.filter(code=c).exists()]
    if missing:
        services.register_batteries(requests=missing, by=User.objects.get(username="recycler-operator"))

    # Lingnan tries to register a code Huaneng already registered: a possible clone.
    cloned = code("HNC", "P", "B", "S4F", 100, "GZ25L07")
    if not CloneAlert.objects.filter(code=cloned).exists():
        # Refused as expected with DUPLICATE_CODE; the refusal leaves the alert behind.
        with contextlib.suppress(DuplicateCode):
            services.register_batteries(
                requests=[RegistrationRequest(code=cloned)], by=User.objects.get(username="recycler2-admin")
            )

    buyer = organisation(BUYER)
    for pack in (code("HNC", "P", "B", "S4F", 100, "GZ25L07"), code("HNC", "P", "B", "S4F", 200, "GZ25L07")):
        battery = Battery.objects.get(code=pack)
        if not AccessGrant.objects.filter(battery=battery, grantee=buyer, revoked_at__isnull=True).exists():
            services.grant_access(
                battery=battery,
                grantee=buyer,
                by=huaneng_admin,
                valid_until=timezone.now() + timedelta(days=90),
                purpose="Pre-purchase inspection",
            )
    verified = Battery.objects.filter(origin="verified").count()
    claimed = Battery.objects.filter(origin="claimed").count()
    say(
        f"Batteries: {Battery.objects.count()} ({verified} verified, {claimed} claimed), "
        f"clone alerts: {CloneAlert.objects.count()}, try /p/{code('HNC', 'P', 'B', 'S4F', 100, 'GZ25L07')}"
    )
