"""Units derived from a registered one: the second-life re-code of a battery, linked to its original.

A second-life integrator re-codes the unit it repurposes. The new unit keeps its original's maker and
origin (its lineage is the original's) and is held by the integrator; the registration hooks are told
under `channel`, so the app recording custody steps can write its own first event for it.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, User
from passport import codes, hooks
from passport.errors import DuplicateCode, RegistrationError
from passport.models import Battery
from passport.selectors import manufacturer_lookup

CHANNEL_REPURPOSING = "repurposing"


@transaction.atomic
def register_recoded(
    *,
    original: Battery,
    code: str,
    organisation: Organisation,
    user: User | None,
    channel: str = CHANNEL_REPURPOSING,
    field: str = "new_code",
) -> Battery:
    """Register the re-coded second-life unit of `original`: same OEM and origin, held by `organisation`."""
    try:
        parsed = codes.parse_code(code, manufacturer_lookup=manufacturer_lookup)
    except codes.CodeError as error:
        error.field = field
        raise
    if parsed.scheme != codes.SCHEME_GBT_RECODED:
        raise RegistrationError(
            _(
                "A repurposed unit gets a re-coded GB/T 34014 identifier (19 characters ending in R and its "
                "product type), not %(code)s."
            )
            % {"code": parsed.code},
            code="RECODE_SCHEME",
            field=field,
        )
    if parsed.code == original.code or Battery.objects.filter(code=parsed.code).exists():
        raise DuplicateCode(
            _("The code %(code)s is already registered.") % {"code": parsed.code}, field=field
        )
    try:
        with transaction.atomic():
            battery = Battery.objects.create(
                code=parsed.code,
                scheme=parsed.scheme,
                manufacturer_code=parsed.manufacturer,
                product_type=parsed.product_type,
                battery_type=parsed.battery_type,
                spec_code=parsed.spec,
                traceability_code=parsed.traceability,
                serial=parsed.serial,
                production_date=parsed.production_date or timezone.now().date(),
                oem=original.oem,
                battery_model=original.battery_model,
                original=original,
                status=Battery.Status.IN_CUSTODY,
                current_custodian=organisation,
                origin=original.origin,
                registered_by=organisation,
                registered_by_user=user,
                registered_at=timezone.now(),
            )
    except IntegrityError:
        raise DuplicateCode(
            _("The code %(code)s was registered a moment ago by someone else.") % {"code": parsed.code},
            field=field,
        ) from None
    hooks.announce_registered([battery], organisation=organisation, user=user, channel=channel)
    return battery
