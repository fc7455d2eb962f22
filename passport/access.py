"""Who reads a passport at which tier: public, legitimate interest or authority.

Other apps widen legitimate interest without passport importing them: custody registers a provider
that answers "is this organisation a party to a pending transfer of this battery?".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from passport.attributes import AUTHORITY, LEGITIMATE_INTEREST, PUBLIC
from passport.models import AccessGrant

if TYPE_CHECKING:
    from accounts.models import Organisation
    from passport.models import Battery

InterestProvider = Callable[["Battery", "Organisation", datetime], bool]

_interest_providers: list[InterestProvider] = []


def register_interest_provider(provider: InterestProvider) -> None:
    """Add a rule granting legitimate interest (called from another app's `AppConfig.ready`)."""
    if provider not in _interest_providers:
        _interest_providers.append(provider)


def unregister_interest_provider(provider: InterestProvider) -> None:
    if provider in _interest_providers:
        _interest_providers.remove(provider)


def jurisdictions_of(battery: Battery) -> set[str]:
    """Countries whose authorities may read everything: where it was made and where it is held."""
    return {battery.oem.country, battery.current_custodian.country}


def data_jurisdiction_of(battery: Battery) -> str:
    """The country whose rules govern the battery's telemetry and personal data: that of its current
    custodian, the organisation holding the data. Sending it to anyone outside that country goes through
    crossborder.gate (DESIGN.md, "Data leaving the jurisdiction")."""
    return battery.current_custodian.country


def has_legitimate_interest(
    battery: Battery, organisation: Organisation, *, at: datetime | None = None
) -> bool:
    """The OEM, the current custodian, a live grantee, or anyone a registered provider vouches for."""
    moment = at or timezone.now()
    if organisation.pk in (battery.oem_id, battery.current_custodian_id):
        return True
    if AccessGrant.objects.live(moment).filter(battery=battery, grantee=organisation).exists():
        return True
    return any(provider(battery, organisation, moment) for provider in _interest_providers)


def tier_for(battery: Battery, user: Any, *, at: datetime | None = None) -> str:
    """The highest tier `user` holds for `battery`; anonymous readers get the public tier."""
    if user is None or not user.is_authenticated or not user.is_active:
        return PUBLIC
    if user.is_superuser:
        return AUTHORITY
    organisation = getattr(user, "organisation", None)
    if organisation is None:
        return PUBLIC
    if organisation.is_authority and organisation.country in jurisdictions_of(battery):
        return AUTHORITY
    if has_legitimate_interest(battery, organisation, at=at):
        return LEGITIMATE_INTEREST
    return PUBLIC
