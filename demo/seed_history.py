"""Demo BMS history request: Rhein Storage GmbH (Germany) asks GreenCycle (China) for the documented
history of pack 100, which GreenCycle holds. The request waits for GreenCycle's administrator; once
approved, the download is refused until a cross-border approval for Rhein Storage is recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from accounts.models import User
from custody.history import services
from custody.history.models import HistoryRequest
from demo.seed_accounts import organisation
from demo.seed_custody import PACK_1

BUYER = "Rhein Storage GmbH"
PURPOSE = "Pre-purchase due diligence for a second-life storage project in Duisburg"


def seed(say: Callable[[str], None]) -> None:
    buyer = User.objects.get(username="buyer-admin")
    request = HistoryRequest.objects.filter(battery__code=PACK_1, requester=organisation(BUYER)).first()
    if request is None:
        request = services.request_history(by=buyer, battery_code=PACK_1, purpose=PURPOSE)
    say(
        f"History requests: {BUYER} asked {request.custodian.name} for the BMS history of {PACK_1} "
        f"({request.get_status_display()}); decide at /custody/history-requests/ as recycler-admin"
    )
