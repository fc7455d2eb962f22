"""What the custody home page and dashboard panel show an organisation."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from accounts.models import Organisation
from custody.lots.models import MaterialLot
from custody.transfers.models import Transfer
from passport.models import Battery


def home_figures(organisation: Organisation) -> dict[str, Any]:
    """Open offers in and out, batteries and lots held (three queries)."""
    offers = Transfer.objects.pending().aggregate(
        incoming=Count("pk", filter=Q(to_organisation=organisation)),
        outgoing=Count("pk", filter=Q(from_organisation=organisation)),
    )
    held = Battery.objects.filter(current_custodian=organisation).aggregate(
        in_custody=Count("pk", filter=Q(status__in=[Battery.Status.IN_CUSTODY, Battery.Status.GRADED])),
        total=Count("pk"),
    )
    lots = MaterialLot.objects.filter(
        current_custodian=organisation, status=MaterialLot.Status.ACTIVE
    ).count()
    return {**offers, **held, "lots": lots}
