"""Legitimate-interest access granted by a battery's custodian to another organisation."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organisation, User
from core.errors import Conflict, InvalidInput, NotPermitted
from passport.errors import GrantError
from passport.models import AccessGrant, Battery


@transaction.atomic
def grant_access(
    *, battery: Battery, grantee: Organisation, by: User, valid_until: datetime, purpose: str = ""
) -> AccessGrant:
    """Let `grantee` read the legitimate-interest tier of `battery` until `valid_until`."""
    if not by.has_perm("passport.grant_access", battery):
        raise NotPermitted(_("Only the battery's current custodian grants access to it."))
    if grantee.pk == battery.current_custodian_id:
        raise GrantError(_("The custodian already has access."), code="GRANT_TO_SELF", field="grantee")
    now = timezone.now()
    if valid_until <= now:
        raise InvalidInput(_("The access must end in the future."), code="GRANT_WINDOW", field="valid_until")
    return AccessGrant.objects.create(
        battery=battery,
        grantee=grantee,
        granted_by=battery.current_custodian,
        granted_by_user=by,
        purpose=purpose.strip()[:200],
        valid_from=now,
        valid_until=valid_until,
    )


@transaction.atomic
def revoke_access_grant(*, grant: AccessGrant, by: User, reason: str = "") -> AccessGrant:
    """End a grant now; the grant row stays as the record of who could read what, and when."""
    grant = AccessGrant.objects.select_for_update().select_related("battery").get(pk=grant.pk)
    organisation = by.organisation
    allowed = by.is_superuser or (
        organisation is not None
        and organisation.pk in (grant.granted_by_id, grant.battery.current_custodian_id)
        and by.role in ("admin", "operator")
    )
    if not allowed:
        raise NotPermitted(_("Only the granting custodian revokes this access."))
    if grant.revoked_at is not None:
        raise Conflict(_("This access was already revoked."), code="GRANT_ALREADY_REVOKED")
    grant.revoked_at = timezone.now()
    grant.revoked_by_user = by
    grant.revocation_reason = reason.strip()[:300]
    grant.save(update_fields=["revoked_at", "revoked_by_user", "revocation_reason"])
    return grant
