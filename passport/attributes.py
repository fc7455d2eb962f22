"""Which passport attribute belongs to which access tier, and how each maps onto the public models.

`ACCESS_RIGHTS` is the Battery Pass data model v1.2 access-rights table (DIN DKE SPEC 99100, EU
2023/1542 Annex XIII) copied into code, one row per attribute, with the attribute's Battery Pass
property name (a dotted suffix tells apart rows that share one property). The running platform never
reads the reference files; `tests/passport/test_attributes.py` checks this table against them.

`SERVED` lists the attributes Voltrace serves today: their Battery Pass name, the path of the same
value in the Catena-X BatteryPass 6.1.0 model, and the tier taken from `ACCESS_RIGHTS` wherever the
table names the attribute (our own additions carry the tier we chose, marked as extensions).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

PUBLIC = "public"
LEGITIMATE_INTEREST = "legitimate_interest"
AUTHORITY = "authority"
TIER_ORDER = (PUBLIC, LEGITIMATE_INTEREST, AUTHORITY)
TIER_LABELS: dict[str, Promise] = {
    PUBLIC: _("public"),
    LEGITIMATE_INTEREST: _("legitimate interest"),
    AUTHORITY: _("authority"),
}


def tier_includes(granted: str, required: str) -> bool:
    """Whether a reader holding tier `granted` may see data of tier `required`."""
    return TIER_ORDER.index(granted) >= TIER_ORDER.index(required)


@dataclass(frozen=True)
class AccessRight:
    """One row of the Battery Pass access-rights table."""

    number: int
    chapter: str  # DIN DKE SPEC 99100 chapter
    name: str  # Battery Pass property name (a dotted suffix disambiguates shared properties)
    attribute: str  # the table's own wording
    access_group: str  # the table's own wording of who may see it
    tier: str


ACCESS_RIGHTS: tuple[AccessRight, ...] = (
    AccessRight(1, "6.1.2.1", "batteryPassportIdentifier", "Battery passport identifier", "Public", PUBLIC),
    AccessRight(2, "6.1.2.2", "productIdentifier", "Battery identifier", "Public", PUBLIC),
    AccessRight(3, "6.1.2.3", "operatorInformation", "Operator identifier and information", "Public", PUBLIC),
    AccessRight(
        4, "6.1.2.4", "manufacturerInformation", "Manufacturer identifier and information", "Public", PUBLIC
    ),
    AccessRight(5, "6.1.3.1", "manufacturingPlace", "Manufacturing place", "Public", PUBLIC),
    AccessRight(6, "6.1.3.2", "manufacturingDate", "Manufacturing date", "Public", PUBLIC),
    AccessRight(
        7,
        "6.1.3.3",
        "puttingIntoService",
        "Date of putting the battery into service",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(8, "6.1.3.4", "warrentyPeriod", "Warranty period of the battery", "Public", PUBLIC),
    AccessRight(9, "6.1.3.5", "batteryCategory", "Battery category", "Public", PUBLIC),
    AccessRight(10, "6.1.3.6", "batteryMass", "Battery mass", "Public", PUBLIC),
    AccessRight(
        11,
        "6.1.3.7",
        "batteryStatus",
        "Battery status",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(12, "6.2.2", "labels.separateCollection", "Separate collection symbol", "Public", PUBLIC),
    AccessRight(13, "6.2.3", "labels.cadmiumAndLead", "Symbols for cadmium and lead", "Public", PUBLIC),
    AccessRight(14, "6.2.4", "labels.carbonFootprint", "Carbon footprint label", "Public", PUBLIC),
    AccessRight(15, "6.2.5", "extinguishingAgent", "Extinguishing agent", "Public", PUBLIC),
    AccessRight(16, "6.2.6", "labelingMeaning", "Meaning of labels and symbols", "Public", PUBLIC),
    AccessRight(17, "6.2.7", "declarationOfConformity", "EU declaration of conformity", "Public", PUBLIC),
    AccessRight(
        18,
        "6.2.8",
        "resultOfTestReport",
        "Results of test reports proving compliance",
        "Notified bodies, market surveillance authorities and the Commission",
        AUTHORITY,
    ),
    AccessRight(
        19,
        "6.3.2",
        "batteryCarbonFootprint",
        "Battery carbon footprint per Functional Unit",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        20,
        "6.3.3",
        "carbonFootprintPerLifecycleStage.rawMaterialExtraction",
        "Contribution of raw material acquisition and pre-processing lifecycle stage",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        21,
        "6.3.4",
        "carbonFootprintPerLifecycleStage.mainProduction",
        "Contribution of main product production/manufacturing lifecycle stage",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        22,
        "6.3.5",
        "carbonFootprintPerLifecycleStage.distribution",
        "Contribution of distribution lifecycle stage",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        23,
        "6.3.6",
        "carbonFootprintPerLifecycleStage.recycling",
        "Contribution of end of life and recycling lifecycle stage",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        24, "6.3.7", "carbonFootprintPerformanceClass", "Carbon footprint performance class", "Public", PUBLIC
    ),
    AccessRight(
        25, "6.3.8", "carbonFootprintStudy", "Web link to public carbon footprint study", "Public", PUBLIC
    ),
    AccessRight(
        26, "6.3.9", "carbonFootprint", "General battery and manufacturer information", "Public", PUBLIC
    ),
    AccessRight(
        27, "6.3.10", "absoluteCarbonFootprint", "Absolute battery carbon footprint", "Public", PUBLIC
    ),
    AccessRight(
        28, "6.4.2", "supplyChainDueDiligenceReport", "Information of due diligence report", "Public", PUBLIC
    ),
    AccessRight(
        29, "6.4.3", "thirdPartyAussurances", "Third party assurances of recognised schemes", "Public", PUBLIC
    ),
    AccessRight(30, "6.4.4", "supplyChainIndicies", "Supply chain indices", "Public", PUBLIC),
    AccessRight(31, "6.5.2", "batteryChemistry", "Battery chemistry", "Public", PUBLIC),
    AccessRight(32, "6.5.3", "isCriticalRawMaterial", "Critical raw materials", "Public", PUBLIC),
    AccessRight(
        33,
        "6.5.4",
        "batteryMaterials",
        "Materials used in cathode, anode and electrolyte",
        "persons with a legitimate interest and the Commission",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(34, "6.5.5", "hazardousSubstances", "Hazardous substances", "Public", PUBLIC),
    AccessRight(
        35,
        "6.5.6",
        "hazardousSubstanceImpact",
        "Impact of substances on environment, human health, safety, persons",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        36,
        "6.6.1.2",
        "dismantlingAndRemovalInformation",
        "Dismantling information: Manuals for the removal and the disassembly of the battery pack",
        "persons with a legitimate interest and the Commission",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        37,
        "6.6.1.3",
        "partNumber",
        "Part numbers for components",
        "persons with a legitimate interest and the Commission",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        38,
        "6.6.1.4",
        "sparePartSources",
        "Information on sources of spare parts",
        "persons with a legitimate interest and the Commission",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        39,
        "6.6.1.5",
        "safetyMeasures",
        "Safety measures",
        "persons with a legitimate interest and the Commission",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        40,
        "6.6.2.3",
        "recycledContent.preConsumer.nickel",
        "Pre-consumer recycled nickel share",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        41,
        "6.6.2.4",
        "recycledContent.preConsumer.cobalt",
        "Pre-consumer recycled cobalt share",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        42,
        "6.6.2.5",
        "recycledContent.preConsumer.lithium",
        "Pre-consumer recycled lithium share",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        43,
        "6.6.2.6",
        "recycledContent.preConsumer.lead",
        "Pre-consumer recycled lead share",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        44,
        "6.6.2.7",
        "recycledContent.postConsumer.nickel",
        "Post-consumer recycled nickel share",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        45,
        "6.6.2.8",
        "recycledContent.postConsumer.cobalt",
        "Post-consumer recycled cobalt share",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        46,
        "6.6.2.9",
        "recycledContent.postConsumer.lithium",
        "Post-consumer recycled lithium share",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        47,
        "6.6.2.10",
        "recycledContent.postConsumer.lead",
        "Post-consumer recycled lead share",
        "Public",
        PUBLIC,
    ),
    AccessRight(48, "6.6.2.11", "renewableContent", "Renewable content share", "Public", PUBLIC),
    AccessRight(
        49,
        "6.6.3.2",
        "wastePrevention",
        "Information on the role of end-users in contributing to waste prevention",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        50,
        "6.6.3.3",
        "separateCollection",
        "Information on the role of end-users in contributing to the separate collection of waste batteries",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        51,
        "6.6.3.4",
        "informationOnCollection",
        "Information on battery collection, preparation for second life and on treatment at end of life",
        "Public",
        PUBLIC,
    ),
    AccessRight(52, "6.7.2.2", "ratedCapacity", "Rated capacity", "Public", PUBLIC),
    AccessRight(
        53,
        "6.7.2.3",
        "remainingCapacity",
        "Remaining capacity",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        54,
        "6.7.2.4",
        "capacityFade",
        "Capacity fade",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(55, "6.7.2.5", "ratedEnergy", "Certified usable battery energy", "Public", PUBLIC),
    AccessRight(
        56,
        "6.7.2.6",
        "remainingEnergy",
        "Remaining usable battery energy",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        57,
        "6.7.2.7",
        "stateOfCertifiedEnergy",
        "State of certified energy (SOCE)",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        58,
        "6.7.2.8",
        "stateOfCharge",
        "State of Charge (SoC)",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(59, "6.7.2.9", "minimumVoltage", "Minimum voltage", "Public", PUBLIC),
    AccessRight(60, "6.7.2.10", "maximumVoltage", "Maximum voltage", "Public", PUBLIC),
    AccessRight(61, "6.7.2.11", "nominalVoltage", "Nominal voltage", "Public", PUBLIC),
    AccessRight(62, "6.7.3.2", "originalPowerCapability", "Original power capability", "Public", PUBLIC),
    AccessRight(
        63,
        "6.7.3.3",
        "remainingPowerCapability",
        "Remaining power capability",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        64, "6.7.3.4", "powerFade", "Power fade", "persons with a legitimate interest", LEGITIMATE_INTEREST
    ),
    AccessRight(65, "6.7.3.5", "ratedMaximumPower", "Maximum permitted battery power", "Public", PUBLIC),
    AccessRight(
        66,
        "6.7.3.6",
        "powerCapabilityRatio",
        "Ratio between nominal battery power and battery energy",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        67, "6.7.4.2", "roundtripEfficiency", "Initial round trip energy efficiency", "Public", PUBLIC
    ),
    AccessRight(
        68,
        "6.7.4.3",
        "roundTripEfficiencyat50PerCentCycleLife",
        "Round trip energy efficiency at 50% of cycle life",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        69,
        "6.7.4.4",
        "remainingRoundTripEnergyEfficiency",
        "Remaining round trip energy efficiency",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        70,
        "6.7.4.5",
        "roundTripEfficiencyFade",
        "Energy round trip efficiency fade",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        71,
        "6.7.4.6",
        "initialSelfDischarge",
        "Initial self-discharge rate",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        72,
        "6.7.4.7",
        "currentSelfDischargingRate",
        "Current self-discharge rate",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        73,
        "6.7.4.8",
        "evolutionOfSelfDischarge",
        "Evolution of self-discharge rates",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        74,
        "6.7.5.2",
        "initialInternalResistance",
        "Initial internal resistance of battery cell and pack (module recommended)",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        75,
        "6.7.5.3",
        "internalResistanceIncrease",
        "Internal resistance increase of pack (cell and module recommended)",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        76,
        "6.7.6.2",
        "expectedLifetime",
        "Expected lifetime in calendar years",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        77,
        "6.7.6.3",
        "expectedNumberOfCycles",
        "Expected lifetime: Number of charge-discharge cycles",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        78,
        "6.7.6.4",
        "numberOfFullCycles",
        "Number of full charging and discharging cycles",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(79, "6.7.6.5", "lifetimeReferenceTest", "Cycle-life reference test", "Public", PUBLIC),
    AccessRight(80, "6.7.6.6", "cRateLifeCycleTest", "C-rate of relevant cycle-life test", "Public", PUBLIC),
    AccessRight(
        81,
        "6.7.6.7",
        "energyThroughput",
        "Energy throughput",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        82,
        "6.7.6.8",
        "capacityThroughput",
        "Capacity throughput",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        83, "6.7.6.9", "capacityThresholdForExhaustion", "Capacity threshold for exhaustion", "Public", PUBLIC
    ),
    AccessRight(
        84,
        "6.7.7.2",
        "temperatureInformation",
        "Temperature information",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        85,
        "6.7.7.3",
        "temperatureRangeIdleState.minimum",
        "Temperature range idle state, lower boundary",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        86,
        "6.7.7.4",
        "temperatureRangeIdleState.maximum",
        "Temperature range idle state, upper boundary",
        "Public",
        PUBLIC,
    ),
    AccessRight(
        87,
        "6.7.7.5",
        "timeExtremeHighTemp",
        "Time spent in extreme temperatures above boundary",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        88,
        "6.7.7.6",
        "timeExtremeLowTemp",
        "Time spent in extreme temperatures below boundary",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        89,
        "6.7.7.7",
        "timeExtremeHighTempCharging",
        "Time spent charging during extreme temperatures above boundary",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        90,
        "6.7.7.8",
        "timeExtremeLowTempCharging",
        "Time spent charging during extreme temperatures below boundary",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        91,
        "6.7.8.2",
        "negativeEvents.deepDischarge",
        "Number of deep discharge events",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        92,
        "6.7.8.3",
        "negativeEvents.overcharge",
        "Number of overcharge events",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
    AccessRight(
        93,
        "6.7.8.4",
        "negativeEvents.accidents",
        "Information on accidents",
        "persons with a legitimate interest",
        LEGITIMATE_INTEREST,
    ),
)

ACCESS_RIGHTS_BY_NAME: dict[str, AccessRight] = {row.name: row for row in ACCESS_RIGHTS}


@dataclass(frozen=True)
class PassportAttribute:
    """An attribute Voltrace serves in the passport."""

    name: str
    label: Promise
    catenax: str = ""  # path in io.catenax.battery.battery_pass 6.1.0, or "" where it has none
    unit: str = ""
    extension_tier: str = ""  # only for attributes the Battery Pass table does not name

    @property
    def tier(self) -> str:
        row = ACCESS_RIGHTS_BY_NAME.get(self.name)
        return row.tier if row else self.extension_tier

    @property
    def is_extension(self) -> bool:
        return self.name not in ACCESS_RIGHTS_BY_NAME


SERVED: tuple[PassportAttribute, ...] = (
    PassportAttribute("batteryPassportIdentifier", _("Passport identifier"), "metadata.passportIdentifier"),
    PassportAttribute(
        "productIdentifier", _("Battery identifier"), "identification.identification.serial[partInstanceId]"
    ),
    PassportAttribute("manufacturerInformation", _("Manufacturer"), "operation.manufacturer.manufacturer"),
    PassportAttribute(
        "manufacturingDate", _("Manufacturing date"), "operation.manufacturer.manufacturingDate"
    ),
    PassportAttribute("productType", _("Product type"), extension_tier=PUBLIC),
    PassportAttribute(
        "batteryModel",
        _("Battery model"),
        "identification.identification.type.nameAtManufacturer",
        extension_tier=PUBLIC,
    ),
    PassportAttribute("batteryChemistry", _("Chemistry"), "identification.chemistry"),
    PassportAttribute("ratedCapacity", _("Rated capacity"), "performance.rated.capacity.value", "Ah"),
    PassportAttribute("ratedEnergy", _("Rated energy"), "performance.rated.energy.value", "kWh"),
    PassportAttribute("nominalVoltage", _("Nominal voltage"), "performance.rated.voltage.nominal", "V"),
    PassportAttribute("minimumVoltage", _("Minimum voltage"), "performance.rated.voltage.min", "V"),
    PassportAttribute("maximumVoltage", _("Maximum voltage"), "performance.rated.voltage.max", "V"),
    PassportAttribute("cellVoltageWindow", _("Cell voltage window"), unit="V", extension_tier=PUBLIC),
    PassportAttribute("cellConfiguration", _("Cells and configuration"), extension_tier=PUBLIC),
    PassportAttribute("batteryMass", _("Mass"), "characteristics.physicalDimension.weight", "kg"),
    PassportAttribute(
        "expectedNumberOfCycles",
        _("Expected cycle life"),
        "performance.rated.lifetime.cycleLifeTesting.cycles",
    ),
    PassportAttribute(
        "expectedLifetime", _("Expected lifetime"), "performance.rated.lifetime.expectedYears", "a"
    ),
    PassportAttribute("origin", _("Origin"), extension_tier=PUBLIC),
    PassportAttribute("parentIdentifier", _("Part of"), extension_tier=PUBLIC),
    PassportAttribute(
        "originalIdentifier", _("Re-coded from"), "metadata.predecessor", extension_tier=PUBLIC
    ),
    PassportAttribute("currentCustodian", _("Current custodian"), extension_tier=PUBLIC),
    PassportAttribute("batteryStatus", _("Status"), "metadata.status"),
    PassportAttribute("registeredBy", _("Registered by"), extension_tier=LEGITIMATE_INTEREST),
    PassportAttribute(
        "registeredAt", _("Registered at"), "metadata.issueDate", extension_tier=LEGITIMATE_INTEREST
    ),
)

SERVED_BY_NAME: dict[str, PassportAttribute] = {attribute.name: attribute for attribute in SERVED}


def served_for(tier: str) -> list[PassportAttribute]:
    """The served attributes a reader with `tier` may see, in display order."""
    return [attribute for attribute in SERVED if tier_includes(tier, attribute.tier)]
