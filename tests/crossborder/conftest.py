"""Cross-border fixtures: a data holder in China, a buyer in Germany, and approvals between them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Organisation
from crossborder.models import ApprovalRevocation, TransferApproval
from tests.factories import OrganisationFactory

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def french_org(db: None) -> Organisation:
    return OrganisationFactory(name="Batterie France SAS", kind=Organisation.Kind.BUYER, country="FR")


@pytest.fixture
def make_approval(recycler_org: Organisation, buyer_org: Organisation) -> Any:
    """`make_approval(**fields)`: an approval written directly (the gate's tests do not test the service).

    Defaults: the recycler (CN) may send telemetry and personal data to Buyer GmbH in DE, valid from a
    year before NOW to a year after. `revoked_at` adds a revocation at that instant.
    """

    def make(*, revoked_at: datetime | None = None, **fields: Any) -> TransferApproval:
        values: dict[str, Any] = {
            "holder": recycler_org,
            "recipient": buyer_org,
            "destination_country": "DE",
            "data_classes": ["personal", "telemetry"],
            "basis": TransferApproval.Basis.REGULATOR_APPROVAL,
            "reference": f"CAC-2026-{TransferApproval.objects.count() + 1:04d}",
            "valid_from": NOW - timedelta(days=365),
            "valid_until": NOW + timedelta(days=365),
        }
        values.update(fields)
        approval = TransferApproval.objects.create(**values)
        if revoked_at is not None:
            ApprovalRevocation.objects.create(approval=approval, reason="Contract ended", at=revoked_at)
        return approval

    return make


@pytest.fixture
def live_approval(make_approval: Any) -> TransferApproval:
    """In force now (not only at NOW)."""
    now = timezone.now()
    return make_approval(valid_from=now - timedelta(days=30), valid_until=now + timedelta(days=300))
