"""Demo organisations and one user per role, created through the accounts services."""

from __future__ import annotations

from collections.abc import Callable

from accounts import services
from accounts.models import Membership, Organisation, User

DEMO_PASSWORD = "voltrace-demo"  # noqa: S105 - public demo logins, refused when DEBUG is off

# name -> (kind, country, login prefix)
ORGANISATIONS: dict[str, tuple[str, str, str]] = {
    "Huaneng Cells Co. (demo OEM)": (Organisation.Kind.OEM, "CN", "oem"),
    "Zhongyuan Auto Batteries (demo OEM)": (Organisation.Kind.OEM, "CN", "oem2"),
    "GreenCycle Recycling Jiangxi": (Organisation.Kind.RECYCLER, "CN", "recycler"),
    "Lingnan Renew Materials Guangdong": (Organisation.Kind.RECYCLER, "CN", "recycler2"),
    "SecondVolt Energy Storage Shenzhen": (Organisation.Kind.SECOND_LIFE, "CN", "secondlife"),
    "Rhein Storage GmbH": (Organisation.Kind.BUYER, "DE", "buyer"),
    "Seconde Vie Énergie SAS": (Organisation.Kind.SECOND_LIFE, "FR", "secondlife-fr"),
    "National Battery Evaluation Institute (demo)": (Organisation.Kind.TEST_LAB, "CN", "lab"),
    "Ledger Audit Partners": (Organisation.Kind.AUDITOR, "CN", "auditor"),
    "Provincial MIIT Office (demo)": (Organisation.Kind.REGULATOR, "CN", "regulator"),
    "Changjiang Hazmat Logistics": (Organisation.Kind.LOGISTICS, "CN", "logistics"),
}

# Which roles get a demo login in each organisation (every role in the first recycler).
ROLES_BY_PREFIX = {"recycler": [Membership.Role.ADMIN, Membership.Role.OPERATOR, Membership.Role.VIEWER]}


def organisation(name: str) -> Organisation:
    return Organisation.objects.get(name=name)


def seed(say: Callable[[str], None]) -> list[tuple[str, str, str]]:
    """Create the demo organisations and users; returns (login, organisation, role) rows."""
    logins: list[tuple[str, str, str]] = []
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@voltrace.invalid", DEMO_PASSWORD)
    logins.append(("admin", "Voltrace platform", "superuser"))
    for name, (kind, country, prefix) in ORGANISATIONS.items():
        org = Organisation.objects.filter(name=name).first() or services.create_organisation(
            name=name, kind=kind, country=country
        )
        for role in ROLES_BY_PREFIX.get(prefix, [Membership.Role.ADMIN, Membership.Role.OPERATOR]):
            username = f"{prefix}-{role}"
            if not User.objects.filter(username=username).exists():
                services.add_member(
                    organisation=org,
                    username=username,
                    password=DEMO_PASSWORD,
                    role=role,
                    email=f"{username}@demo.voltrace.invalid",
                )
            logins.append((username, name, role))
    say(f"Organisations: {Organisation.objects.count()}, users: {User.objects.count()}")
    return logins
