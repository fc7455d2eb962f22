"""Output serializers of the custody API (inputs are nested in their views)."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from custody.events.models import CustodyEvent
from custody.intake.models import IntakeImport
from custody.lots.models import MaterialLot
from custody.selectors.events import produced_list
from custody.transfers.models import Transfer


class NamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class EventOutputSerializer(serializers.ModelSerializer):
    """One custody event with its hashed body and its place in the transparency log."""

    subject = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()
    facility = serializers.SerializerMethodField()
    licence = serializers.SerializerMethodField()
    snapshots = serializers.SerializerMethodField()
    inputs = serializers.SerializerMethodField()
    data = serializers.SerializerMethodField()
    hash = serializers.CharField(source="hash_hex")
    prev_hash = serializers.CharField(source="prev_hash_hex", allow_null=True)
    body = serializers.SerializerMethodField()
    proof = serializers.SerializerMethodField()
    produced = serializers.SerializerMethodField()

    class Meta:
        model = CustodyEvent
        fields = [
            "id",
            "type",
            "subject",
            "seq",
            "occurred_at",
            "recorded_at",
            "actor",
            "facility",
            "activity",
            "licence",
            "transfer",
            "snapshots",
            "inputs",
            "data",
            "hash",
            "prev_hash",
            "body",
            "proof",
            "produced",
        ]

    def _body(self, event: CustodyEvent) -> dict[str, Any]:
        cached = event.__dict__.get("_parsed_body")
        if cached is None:
            cached = event.__dict__["_parsed_body"] = json.loads(event.body)
        return cached

    def get_subject(self, event: CustodyEvent) -> dict[str, str]:
        return self._body(event)["subject"]

    def get_actor(self, event: CustodyEvent) -> dict[str, Any]:
        return {"id": event.actor_id, "name": event.actor.name}

    def get_facility(self, event: CustodyEvent) -> dict[str, Any] | None:
        return {"id": event.facility_id, "name": event.facility.name} if event.facility_id else None

    def get_licence(self, event: CustodyEvent) -> dict[str, Any] | None:
        if not event.licence_id:
            return None
        return {"id": event.licence_id, "number": event.licence.number, "status_then": event.licence_status}

    def get_snapshots(self, event: CustodyEvent) -> list[str]:
        return self._body(event)["snapshots"]

    def get_inputs(self, event: CustodyEvent) -> list[dict[str, Any]]:
        return self._body(event)["inputs"]

    def get_data(self, event: CustodyEvent) -> dict[str, Any]:
        return self._body(event)["data"]

    def get_body(self, event: CustodyEvent) -> dict[str, Any]:
        return self._body(event)

    def get_proof(self, event: CustodyEvent) -> dict[str, Any]:
        leaf = getattr(event, "leaf_index", None)
        size = getattr(event, "checkpoint_size", 0) or 0
        return {
            "leaf_index": leaf,
            "in_checkpoint": leaf is not None and leaf < size,
            "checkpoint_size": size,
        }

    def get_produced(self, event: CustodyEvent) -> list[dict[str, str]]:
        return produced_list(event)


class TransferOutputSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()
    from_organisation = serializers.SerializerMethodField()
    to_organisation = serializers.SerializerMethodField()
    from_facility = serializers.SerializerMethodField()
    to_facility = serializers.SerializerMethodField()

    class Meta:
        model = Transfer
        fields = [
            "id",
            "subject",
            "status",
            "from_organisation",
            "from_facility",
            "to_organisation",
            "to_facility",
            "created_at",
            "expires_at",
            "decided_at",
            "note",
            "reason",
        ]

    def get_subject(self, transfer: Transfer) -> dict[str, str]:
        return {"kind": transfer.subject_kind, "code": transfer.subject_code}

    def get_from_organisation(self, transfer: Transfer) -> dict[str, Any]:
        return {"id": transfer.from_organisation_id, "name": transfer.from_organisation.name}

    def get_to_organisation(self, transfer: Transfer) -> dict[str, Any]:
        return {"id": transfer.to_organisation_id, "name": transfer.to_organisation.name}

    def get_from_facility(self, transfer: Transfer) -> dict[str, Any] | None:
        site = transfer.from_facility
        return {"id": site.pk, "name": site.name} if site else None

    def get_to_facility(self, transfer: Transfer) -> dict[str, Any]:
        return {"id": transfer.to_facility_id, "name": transfer.to_facility.name}


class LotOutputSerializer(serializers.ModelSerializer):
    mass_kg = serializers.DecimalField(max_digits=14, decimal_places=3, coerce_to_string=True)
    current_custodian = serializers.SerializerMethodField()
    facility = serializers.SerializerMethodField()
    produced_by = serializers.SerializerMethodField()
    page = serializers.SerializerMethodField()

    class Meta:
        model = MaterialLot
        fields = [
            "code",
            "material",
            "mass_kg",
            "status",
            "current_custodian",
            "facility",
            "produced_by",
            "produced_at",
            "page",
        ]

    def get_current_custodian(self, lot: MaterialLot) -> dict[str, Any]:
        return {"id": lot.current_custodian_id, "name": lot.current_custodian.name}

    def get_facility(self, lot: MaterialLot) -> dict[str, Any] | None:
        return {"id": lot.facility_id, "name": lot.facility.name} if lot.facility_id else None

    def get_produced_by(self, lot: MaterialLot) -> dict[str, Any]:
        return {"id": lot.produced_by_id, "name": lot.produced_by.name}

    def get_page(self, lot: MaterialLot) -> str:
        return f"/lots/{lot.code}"


class IntakeImportOutputSerializer(serializers.ModelSerializer):
    facility = serializers.IntegerField(source="facility_id")
    percent = serializers.SerializerMethodField()

    class Meta:
        model = IntakeImport
        fields = [
            "id",
            "status",
            "percent",
            "original_name",
            "facility",
            "row_count",
            "recorded_count",
            "error_count",
            "errors",
            "report",
            "created_at",
            "finished_at",
        ]

    def get_percent(self, job: IntakeImport) -> int:
        from custody.services.intake_import import progress_of

        return progress_of(job)
