"""Demo facilities and licences in every state, written through the licensing services (idempotent)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from django.utils import timezone

from accounts.models import User
from demo.seed_accounts import organisation
from licensing import services
from licensing.models import Facility, Licence

ALL_ACTIVITIES = ["intake", "storage", "dismantling", "second_life", "material_recovery"]
GREENCYCLE = "GreenCycle Recycling Jiangxi"
LINGNAN = "Lingnan Renew Materials Guangdong"
SECONDVOLT = "SecondVolt Energy Storage Shenzhen"

# Each row: organisation, facility, province, address and the state its licence is left in.
FACILITIES = [
    (
        GREENCYCLE,
        "GreenCycle Ganzhou Dismantling Works",
        "CN-JX",
        "8 Jinling Road, Ganzhou, Jiangxi",
        "active",
    ),
    (
        GREENCYCLE,
        "GreenCycle Nanchang Storage Depot",
        "CN-JX",
        "21 Xiangtang Avenue, Nanchang, Jiangxi",
        "expiring",
    ),
    (
        LINGNAN,
        "Lingnan Foshan Recovery Plant",
        "CN-GD",
        "3 Danzao Industrial Park, Foshan, Guangdong",
        "expired",
    ),
    (LINGNAN, "Lingnan Qingyuan Yard", "CN-GD", "16 Longtang Road, Qingyuan, Guangdong", "suspended"),
    (SECONDVOLT, "SecondVolt Suzhou Workshop", "CN-JS", "55 Xinghu Street, Suzhou, Jiangsu", "revoked"),
    (
        SECONDVOLT,
        "SecondVolt Ningbo Repurposing Centre",
        "CN-ZJ",
        "9 Beilun Port Road, Ningbo, Zhejiang",
        "no_dismantling",
    ),
]

AUTHORITIES = {
    "CN-JX": "Jiangxi Provincial Department of Ecology and Environment",
    "CN-GD": "Guangdong Provincial Department of Ecology and Environment",
    "CN-JS": "Jiangsu Provincial Department of Ecology and Environment",
    "CN-ZJ": "Zhejiang Provincial Department of Ecology and Environment",
}


def _issue(
    regulator: User,
    facility: Facility,
    *,
    number: str,
    kind: str,
    activities: list[str],
    valid_from: date,
    valid_until: date | None,
) -> Licence:
    authority = AUTHORITIES[facility.province]
    existing = Licence.objects.filter(issuing_authority=authority, number=number).first()
    if existing:
        return existing
    return services.issue_licence(
        by=regulator,
        facility=facility,
        kind=kind,
        issuing_authority=authority,
        number=number,
        activities=activities,
        valid_from=valid_from,
        valid_until=valid_until,
        reason="Demo licence",
    )


def seed(say: Callable[[str], None]) -> None:
    """Six facilities: active, expiring in 10 days, expired, suspended, revoked, not licensed to dismantle."""
    regulator = User.objects.get(username="regulator-admin")
    today = timezone.localdate()
    now = timezone.now()
    for index, (owner, name, province, address, story) in enumerate(FACILITIES, start=1):
        org = organisation(owner)
        facility = Facility.objects.filter(organisation=org, name=name).first() or services.register_facility(
            by=regulator, organisation=org, name=name, address=address, province=province
        )
        number = f"{province[3:]}-HW-DEMO-{index:03d}"
        start = today - timedelta(days=2 * 365)
        until = {
            "expiring": today + timedelta(days=10),
            "expired": today - timedelta(days=20),
        }.get(story, today + timedelta(days=3 * 365))
        activities = ["intake", "storage", "second_life"] if story == "no_dismantling" else ALL_ACTIVITIES
        licence = _issue(
            regulator,
            facility,
            number=number,
            kind="hazardous_waste",
            activities=activities,
            valid_from=start,
            valid_until=until,
        )
        if story == "active":
            _issue(
                regulator,
                facility,
                number=f"MIIT-WL-DEMO-{index:03d}",
                kind="miit_recycling",
                activities=ALL_ACTIVITIES,
                valid_from=start,
                valid_until=None,
            )
        if licence.events.count() > 1:
            continue  # its story was already told on an earlier run
        if story == "suspended":
            services.suspend_licence(
                by=regulator,
                licence=licence,
                effective_at=now - timedelta(days=3),
                reason="Inspection found damaged packs stored outside the fire-separated area.",
            )
        if story == "revoked":
            services.revoke_licence(
                by=regulator,
                licence=licence,
                effective_at=now - timedelta(days=30),
                reason="Permit obtained with falsified capacity records (decision recorded retroactively).",
            )
    run = services.run_expiry_job(now=now)
    totals = f"Facilities: {Facility.objects.count()}, licences: {Licence.objects.count()}"
    say(f"{totals}; expiry job: {run.counts}")
