"""Registering batteries: one validation path for API calls, CSV imports and OEM-signed records.

Origin is `verified` when the organisation holding the code's manufacturer segment registers the
battery itself, or when the record is signed with that organisation's registration key; a recycler
or second-life integrator registering a battery it found makes the origin `claimed`. A batch is
all or nothing. A code that is already registered is refused with DUPLICATE_CODE and leaves a
clone alert behind for both organisations: that is why `register_batteries` is not one
transaction itself: the alert must outlive the refused registration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Organisation, User
from accounts.notifications import notify_organisation
from core.errors import DomainError, InvalidInput, NotPermitted
from passport import codes, hooks
from passport.errors import CodeError, DuplicateCode, RegistrationError
from passport.models import Battery, BatteryModel, CloneAlert, DeviceKey
from passport.selectors import manufacturer_owners

CHANNEL_API = "api"
CHANNEL_CSV = "csv"
CHANNEL_SIGNED = "signed"
CHANNEL_WEB = "web"

MAX_BATCH = 1000

# GB/T 34014 battery type letter -> the chemistries it may describe
# (A nickel-metal hydride and F supercapacitors match none of ours).
CHEMISTRIES_BY_BATTERY_TYPE: dict[str, set[str]] = {
    "A": set(),
    "B": {"lfp"},
    "C": {"lmo"},
    "D": {"lco"},
    "E": {"nmc", "nca"},
    "F": set(),
    "G": {"lto"},
    "Z": {"sodium_ion"},
}
# Which product types may contain which: packs hold modules or cells, modules hold cells.
PARENT_TYPES: dict[str, set[str]] = {"P": set(), "M": {"P"}, "C": {"M", "P"}}
PRODUCT_ORDER = ("P", "M", "C")


@dataclass
class RegistrationRequest:
    """One battery to register, as received: an API item, a CSV row or a signed payload."""

    code: str
    model: str = ""
    production_date: date | str | None = None
    parent_code: str = ""
    original_code: str = ""
    registration_key: DeviceKey | None = None
    record: dict[str, Any] | None = None
    field_prefix: str = ""


@dataclass(frozen=True)
class Problem:
    """One refused item: its index in the batch, the field at fault and the error."""

    index: int
    field: str
    error: DomainError


@dataclass
class Plan:
    """A validated registration, ready to insert."""

    index: int
    parsed: codes.ParsedCode
    product_type: str
    oem: Organisation
    model: BatteryModel | None
    production_date: date
    origin: str
    parent_code: str = ""
    original_code: str = ""
    registration_key: DeviceKey | None = None
    record: dict[str, Any] | None = None


@dataclass
class Outcome:
    plans: list[Plan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    existing: list[Battery] = field(default_factory=list)


def item_label(index: int) -> str:
    return _("item %(number)d") % {"number": index}


# ---------------------------------------------------------------------------------------------------
# Who registers
# ---------------------------------------------------------------------------------------------------
def registrant_of(user: User) -> Organisation:
    """The organisation `user` registers for; refuses users who may not register batteries."""
    organisation = user.organisation
    if organisation is None or not user.has_perm("passport.register_battery"):
        raise NotPermitted(
            _(
                "Batteries are registered by the operators and administrators of OEMs, recyclers and "
                "second-life integrators."
            )
        )
    return organisation


# ---------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------
def _as_date(value: date | str | None) -> date | None:
    if value is None or value == "" or isinstance(value, date):
        return value or None
    return date.fromisoformat(value.strip())


def plan_registrations(
    *,
    requests: Sequence[RegistrationRequest],
    organisation: Organisation,
    today: date | None = None,
    label: Callable[[int], str] = item_label,
) -> Outcome:
    """Validate a batch against the registry in a fixed number of queries; nothing is written."""
    outcome = Outcome()
    today = today or codes.default_today()
    normalised = [codes.normalise(request.code) for request in requests]
    owners = manufacturer_owners({code[:3] for code in normalised if len(code) >= 3})

    def lookup(segment: str) -> str | None:
        owner = owners.get(segment)
        return owner.name if owner else None

    def refuse(index: int, request: RegistrationRequest, name: str, error: DomainError) -> None:
        outcome.problems.append(Problem(index=index, field=request.field_prefix + name, error=error))

    parsed_items: list[tuple[int, RegistrationRequest, codes.ParsedCode, Organisation]] = []
    for index, request in enumerate(requests):
        try:
            parsed = codes.parse_code(request.code, today=today, manufacturer_lookup=lookup)
        except CodeError as error:
            refuse(index, request, "code", error)
            continue
        owner = _owner_of(parsed, request, organisation, owners)
        if isinstance(owner, DomainError):
            refuse(index, request, "code", owner)
            continue
        parsed_items.append((index, request, parsed, owner))

    models = {
        (model.oem_id, model.name): model
        for model in BatteryModel.objects.filter(
            oem__in={owner.pk for _i, _r, _p, owner in parsed_items},
            name__in={request.model.strip() for _i, request, _p, _o in parsed_items if request.model},
        )
    }
    batch_codes = [parsed.code for _i, _r, parsed, _o in parsed_items]
    existing = {
        battery.code: battery
        for battery in Battery.objects.filter(code__in=batch_codes).select_related("oem", "registered_by")
    }
    linked_codes = {
        codes.normalise(code)
        for _i, request, _p, _o in parsed_items
        for code in (request.parent_code, request.original_code)
        if code
    }
    linked = {
        row["code"]: row
        for row in Battery.objects.filter(code__in=linked_codes).values(
            "id", "code", "product_type", "oem_id"
        )
    }
    batch_types: dict[str, tuple[str | None, int | None]] = {}
    for _index, request, parsed, owner in parsed_items:
        model = models.get((owner.pk, request.model.strip())) if request.model else None
        batch_types.setdefault(
            parsed.code, (parsed.product_type or (model.product_type if model else None), owner.pk)
        )
    seen: dict[str, int] = {}
    planned: dict[str, Plan] = {}

    for index, request, parsed, owner in parsed_items:
        failed = False

        def fail(
            name: str, error: DomainError, *, index: int = index, request: RegistrationRequest = request
        ) -> None:
            nonlocal failed
            failed = True
            refuse(index, request, name, error)

        if parsed.code in seen:
            fail(
                "code",
                InvalidInput(
                    _("The code %(code)s appears twice in this upload (%(first)s and %(again)s).")
                    % {"code": parsed.code, "first": label(seen[parsed.code]), "again": label(index)},
                    code="DUPLICATE_IN_REQUEST",
                ),
            )
            continue
        seen[parsed.code] = index
        if parsed.code in existing:
            outcome.existing.append(existing[parsed.code])
            fail(
                "code",
                DuplicateCode(
                    _(
                        "The code %(code)s is already registered. If this label is on another unit, "
                        "it may be a "
                        "clone; both organisations have been alerted."
                    )
                    % {"code": parsed.code}
                ),
            )
            continue

        model = None
        if request.model:
            model = models.get((owner.pk, request.model.strip()))
            if model is None:
                fail(
                    "model",
                    RegistrationError(
                        _("%(oem)s has no battery model named %(model)r.")
                        % {"oem": owner.name, "model": request.model},
                        code="MODEL_UNKNOWN",
                    ),
                )
        elif parsed.is_gs1 or (owner.pk == organisation.pk and parsed.scheme == codes.SCHEME_GBT):
            fail(
                "model",
                RegistrationError(_("Name the battery model this unit is built to."), code="MODEL_REQUIRED"),
            )

        product_type = parsed.product_type or (model.product_type if model else "")
        if model is not None and model.product_type != product_type:
            fail(
                "model",
                RegistrationError(
                    _("The model %(model)s describes a %(model_type)s, but the code is for a %(code_type)s.")
                    % {
                        "model": model.name,
                        "model_type": model.get_product_type_display(),
                        "code_type": codes.PRODUCT_TYPES[product_type],
                    },
                    code="MODEL_PRODUCT_TYPE",
                ),
            )
        if (
            model is not None
            and parsed.battery_type
            and model.chemistry not in CHEMISTRIES_BY_BATTERY_TYPE[parsed.battery_type]
        ):
            fail(
                "model",
                RegistrationError(
                    _(
                        "The code says battery type %(letter)s (%(meaning)s), "
                        "but the model %(model)s is %(chemistry)s."
                    )
                    % {
                        "letter": parsed.battery_type,
                        "meaning": codes.BATTERY_TYPES[parsed.battery_type],
                        "model": model.name,
                        "chemistry": model.get_chemistry_display(),
                    },
                    code="CHEMISTRY_MISMATCH",
                ),
            )

        production_date = parsed.production_date
        try:
            given_date = _as_date(request.production_date)
        except ValueError:
            fail(
                "production_date",
                InvalidInput(_("The production date must be written YYYY-MM-DD."), code="DATE_FORMAT"),
            )
            given_date = None
        if parsed.is_gs1:
            production_date = given_date
            if production_date is None and not failed:
                fail(
                    "production_date",
                    InvalidInput(
                        _("GS1 identifiers carry no date: give the production date."), code="DATE_REQUIRED"
                    ),
                )
            elif production_date is not None and production_date > today:
                fail(
                    "production_date",
                    InvalidInput(_("The production date is in the future."), code="DATE_IN_FUTURE"),
                )
        elif given_date is not None and given_date != production_date:
            fail(
                "production_date",
                RegistrationError(
                    _("The production date %(given)s differs from the date in the code, %(coded)s.")
                    % {
                        "given": given_date.isoformat(),
                        "coded": production_date.isoformat() if production_date else "",
                    },
                    code="PRODUCTION_DATE_MISMATCH",
                ),
            )

        parent_code = codes.normalise(request.parent_code) if request.parent_code else ""
        if parent_code and product_type:
            parent = linked.get(parent_code)
            parent_type, parent_oem = (
                (parent["product_type"], parent["oem_id"])
                if parent
                else batch_types.get(parent_code, (None, None))
            )
            if parent_type is None:
                fail(
                    "parent_code",
                    RegistrationError(
                        _("The parent %(code)s is not registered (nor in this upload).")
                        % {"code": parent_code},
                        code="PARENT_UNKNOWN",
                    ),
                )
            elif parent_type not in PARENT_TYPES[product_type]:
                fail(
                    "parent_code",
                    RegistrationError(
                        _("A %(child)s cannot be part of a %(parent)s.")
                        % {
                            "child": codes.PRODUCT_TYPES[product_type],
                            "parent": codes.PRODUCT_TYPES[parent_type],
                        },
                        code="PARENT_TYPE",
                    ),
                )
            elif parent_oem != owner.pk:
                fail(
                    "parent_code",
                    RegistrationError(
                        _("The parent %(code)s was made by another manufacturer.") % {"code": parent_code},
                        code="PARENT_OEM",
                    ),
                )

        original_code = codes.normalise(request.original_code) if request.original_code else ""
        if parsed.scheme == codes.SCHEME_GBT_RECODED and not original_code:
            fail(
                "original_code",
                RegistrationError(
                    _("A re-coded unit must name its original code."), code="ORIGINAL_REQUIRED"
                ),
            )
        elif original_code and (original_code == parsed.code or original_code not in linked):
            fail(
                "original_code",
                RegistrationError(
                    _("The original code %(code)s is not registered.") % {"code": original_code},
                    code="ORIGINAL_UNKNOWN",
                ),
            )

        if failed or production_date is None:
            continue
        origin = (
            Battery.Origin.VERIFIED
            if request.registration_key is not None or owner.pk == organisation.pk
            else Battery.Origin.CLAIMED
        )
        plan = Plan(
            index=index,
            parsed=parsed,
            product_type=product_type,
            oem=owner,
            model=model,
            production_date=production_date,
            origin=origin,
            parent_code=parent_code,
            original_code=original_code,
            registration_key=request.registration_key,
            record=request.record,
        )
        planned[parsed.code] = plan
        outcome.plans.append(plan)

    # A child whose parent is in this upload but was refused would dangle: refuse it too (and its own
    # children, hence the loop).
    pruned = True
    while pruned:
        pruned = False
        for plan in list(outcome.plans):
            if plan.parent_code and plan.parent_code not in linked and plan.parent_code not in planned:
                pruned = True
                outcome.plans.remove(plan)
                planned.pop(plan.parsed.code, None)
                outcome.problems.append(
                    Problem(
                        index=plan.index,
                        field=requests[plan.index].field_prefix + "parent_code",
                        error=RegistrationError(
                            _(
                                "The parent %(code)s in this upload was refused, "
                                "so this unit cannot be linked to it."
                            )
                            % {"code": plan.parent_code},
                            code="PARENT_REFUSED",
                        ),
                    )
                )
    outcome.problems.sort(key=lambda problem: problem.index)
    return outcome


def _owner_of(
    parsed: codes.ParsedCode,
    request: RegistrationRequest,
    organisation: Organisation,
    owners: dict[str, Organisation],
) -> Organisation | DomainError:
    """Which organisation made the unit, or the error that refuses the registration."""
    signer = request.registration_key.organisation if request.registration_key is not None else None
    if parsed.is_gs1:
        if signer is not None:
            return signer
        if organisation.kind == Organisation.Kind.OEM:
            return organisation
        return RegistrationError(
            _("A GS1 identifier can be registered only by its manufacturer or with its signed record."),
            code="GS1_CLAIM_UNSUPPORTED",
        )
    owner = owners[parsed.manufacturer]  # parse_code has checked that the segment is allocated
    mismatch = RegistrationError(
        _("The manufacturer code %(segment)s belongs to %(owner)s, not to %(registrant)s.")
        % {"segment": parsed.manufacturer, "owner": owner.name, "registrant": (signer or organisation).name},
        code="MANUFACTURER_MISMATCH",
    )
    if signer is not None:
        return owner if signer.pk == owner.pk else mismatch
    if owner.pk == organisation.pk:
        return owner
    if organisation.kind == Organisation.Kind.OEM or parsed.scheme == codes.SCHEME_GBT_RECODED:
        return mismatch
    return owner  # a recycler or integrator registering what it found: origin claimed


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------
def _insert(
    plans: list[Plan], *, organisation: Organisation, user: User | None, channel: str
) -> list[Battery]:
    links = {
        row["code"]: row["id"]
        for row in Battery.objects.filter(
            code__in={code for plan in plans for code in (plan.parent_code, plan.original_code) if code}
        ).values("id", "code")
    }
    now = timezone.now()
    created: list[Battery] = []
    with transaction.atomic():
        # Parents are inserted before their children: packs, then modules, then cells.
        for product_type in PRODUCT_ORDER:
            wave = [
                Battery(
                    code=plan.parsed.code,
                    scheme=plan.parsed.scheme,
                    gs1_gtin=plan.parsed.gtin or None,
                    gs1_serial=plan.parsed.gs1_serial or None,
                    manufacturer_code=plan.parsed.manufacturer,
                    product_type=plan.product_type,
                    battery_type=plan.parsed.battery_type,
                    spec_code=plan.parsed.spec,
                    traceability_code=plan.parsed.traceability,
                    serial=plan.parsed.serial,
                    production_date=plan.production_date,
                    oem=plan.oem,
                    battery_model=plan.model,
                    parent_id=links.get(plan.parent_code) if plan.parent_code else None,
                    original_id=links.get(plan.original_code) if plan.original_code else None,
                    status=Battery.Status.REGISTERED
                    if plan.origin == Battery.Origin.VERIFIED
                    else Battery.Status.IN_CUSTODY,
                    current_custodian=organisation,
                    origin=plan.origin,
                    registered_by=organisation,
                    registered_by_user=user,
                    registered_at=now,
                    registration_key=plan.registration_key,
                    registration_record=plan.record,
                )
                for plan in plans
                if plan.product_type == product_type
            ]
            inserted = Battery.objects.bulk_create(wave, batch_size=1000)
            links.update({battery.code: battery.pk for battery in inserted})
            created.extend(inserted)
        hooks.announce_registered(created, organisation=organisation, user=user, channel=channel)
    order = {plan.parsed.code: plan.index for plan in plans}
    created.sort(key=lambda battery: order[battery.code])
    return created


def commit_plans(
    *, plans: list[Plan], organisation: Organisation, user: User | None, channel: str
) -> list[Battery]:
    """Insert validated plans in one transaction; a code registered meanwhile is refused as a clone."""
    try:
        return _insert(plans, organisation=organisation, user=user, channel=channel)
    except IntegrityError:
        existing = list(
            Battery.objects.filter(code__in=[plan.parsed.code for plan in plans]).select_related(
                "oem", "registered_by"
            )
        )
        if not existing:
            raise
        record_clone_attempts(batteries=existing, organisation=organisation, user=user, channel=channel)
        raise DuplicateCode(
            _("The code %(code)s was registered by someone else a moment ago; it may be a clone.")
            % {"code": existing[0].code},
            field="code",
        ) from None


@transaction.atomic
def record_clone_attempts(
    *, batteries: Sequence[Battery], organisation: Organisation, user: User | None, channel: str
) -> list[CloneAlert]:
    """Store a clone alert per already-registered code and alert both organisations."""
    alerts = []
    for battery in batteries:
        alert = CloneAlert.objects.create(
            code=battery.code,
            battery=battery,
            attempted_by=organisation,
            attempted_by_user=user,
            channel=channel,
        )
        alerts.append(alert)
        subject = _("Possible cloned battery label: %(code)s") % {"code": battery.code}
        body = _(
            "%(attempter)s tried to register the code %(code)s, which %(holder)s registered on %(date)s. "
            "Two units under one code means one label may be a copy: check the unit in front of you."
        ) % {
            "attempter": organisation.name,
            "code": battery.code,
            "holder": battery.registered_by.name,
            "date": battery.registered_at.date().isoformat(),
        }
        recipients = {battery.oem_id: battery.oem, battery.registered_by_id: battery.registered_by}
        recipients[organisation.pk] = organisation
        for recipient in recipients.values():
            notify_organisation(
                organisation=recipient,
                roles=("admin", "operator"),
                subject=subject,
                body=body,
                link=f"/p/{battery.code}",
                dedup_key=f"passport-clone-{alert.pk}",
                level=Notification.Level.ALERT,
            )
    return alerts


def raise_first(problems: list[Problem], *, as_list: bool) -> None:
    problem = problems[0]
    error = problem.error
    error.field = f"[{problem.index}].{problem.field}" if as_list else problem.field
    raise error


def register_batteries(
    *, requests: Sequence[RegistrationRequest], by: User, channel: str = CHANNEL_API, as_list: bool = False
) -> list[Battery]:
    """Register one or many batteries for the user's organisation: all of them, or none."""
    organisation = registrant_of(by)
    if not requests:
        raise InvalidInput(_("Send at least one battery."), code="EMPTY_REQUEST")
    if len(requests) > MAX_BATCH:
        raise InvalidInput(
            _("Send at most %(limit)d batteries per request; use the CSV upload for more.")
            % {"limit": MAX_BATCH},
            code="TOO_MANY_ITEMS",
        )
    outcome = plan_registrations(requests=requests, organisation=organisation)
    if outcome.existing:
        record_clone_attempts(batteries=outcome.existing, organisation=organisation, user=by, channel=channel)
    if outcome.problems:
        raise_first(outcome.problems, as_list=as_list)
    return commit_plans(plans=outcome.plans, organisation=organisation, user=by, channel=channel)
