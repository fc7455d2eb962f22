"""A buyer's request for a battery's documented BMS history, decided by the battery's custodian.

The buyer asks (battery code and purpose); the current custodian's administrator approves or rejects
with a reason; the buyer then downloads the certified history as of the approval, signed by the
platform's log key, with vehicle and owner data removed and, when the buyer is outside the data's
jurisdiction, only through the cross-border gate. Requests change status; every step is also an
append-only event, and every delivery an append-only record.
"""
