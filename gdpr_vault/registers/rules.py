"""Pure rules of the processing register: what an Art. 30 entry must say, and how two states differ.

Nothing here touches the database or the clock: the service passes the entry (the canonical dict
stored in a version), the facts it knows about the sub-processors involved and the controller
identity blocks, and gets back findings that name the field, the article and the rule.

Articles cited are those of Regulation (EU) 2016/679 (GDPR). The processor's record is Art. 30(2);
seed contract ``000`` Art. 41 also requires the controller-style fields of Art. 30(1), which are
checked for every entry and cited as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pycountry

SCHEMA_VERSION = "1"

# EEA = the 27 EU member states + Iceland, Liechtenstein, Norway (EEA Agreement, OJ L 1,
# 3.1.1994, p. 3; EU membership per Art. 52 TEU as of 2025). ISO 3166-1 alpha-2 codes; note
# that Greece is "GR" in ISO 3166 (the EU's own "EL" is not an ISO code).
EU_MEMBER_STATES = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    }
)  # fmt: skip
EEA_COUNTRIES = EU_MEMBER_STATES | {"IS", "LI", "NO"}

# Countries covered by a European Commission adequacy decision under Art. 45 (source: European
# Commission, "Adequacy decisions", commission.europa.eu, list as of 2025): Andorra, Argentina,
# Canada (commercial organisations), Faroe Islands, Guernsey, Israel, Isle of Man, Japan, Jersey,
# New Zealand, Republic of Korea, Switzerland, United Kingdom, Uruguay, and the United States
# (organisations certified under the EU-US Data Privacy Framework only).
ADEQUACY_COUNTRIES = frozenset(
    {"AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "UY", "US"}
)

# The safeguard a transfer outside the EEA relies on (Chapter V GDPR).
SAFEGUARDS: dict[str, str] = {
    "adequacy": "adequacy decision (Art. 45)",
    "scc-2021-module-1": "SCC 2021/914 module 1, controller to controller (Art. 46(2)(c))",
    "scc-2021-module-2": "SCC 2021/914 module 2, controller to processor (Art. 46(2)(c))",
    "scc-2021-module-3": "SCC 2021/914 module 3, processor to processor (Art. 46(2)(c))",
    "scc-2021-module-4": "SCC 2021/914 module 4, processor to controller (Art. 46(2)(c))",
    "bcr": "binding corporate rules (Art. 47)",
    "code-of-conduct": "approved code of conduct (Art. 46(2)(e))",
    "certification": "approved certification mechanism (Art. 46(2)(f))",
    "ad-hoc-clauses": "contractual clauses authorised by the supervisory authority (Art. 46(3)(a))",
    "derogation-art-49": "derogation for a specific situation (Art. 49)",
}

LIST_FIELDS = (
    "processing_operations",
    "purposes",
    "data_subject_categories",
    "data_categories",
    "special_categories",
    "recipients_internal",
    "recipients_external",
    "hosting_countries",
    "security_measures",
)
TEXT_FIELDS = ("name", "description", "retention", "availability_restoration", "security_testing")
STATUSES = ("active", "retired")


@dataclass(frozen=True)
class Finding:
    """One gap in the register: which field, which article requires it, how serious."""

    field: str
    article: str
    rule: str
    severity: str  # "error" | "warning"
    detail: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SubprocessorFacts:
    """What the completeness rules need to know about a sub-processor (from its list entry)."""

    id: str
    legal_name: str
    country: str
    hosting_locations: tuple[str, ...] = ()
    transfer_mechanism: str | None = None
    contact: str = ""


# -- countries -------------------------------------------------------------------------------


def country_error(code: str) -> str | None:
    if len(code) != 2 or not code.isupper() or pycountry.countries.get(alpha_2=code) is None:
        return f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. FR, DE, US)"
    return None


def is_eea(code: str) -> bool:
    return code.upper() in EEA_COUNTRIES


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return country.name if country is not None else code


# -- the canonical entry ----------------------------------------------------------------------


def canonical_entry(data: Mapping[str, Any]) -> dict[str, Any]:
    """The stored shape of an entry: stripped strings, de-duplicated lists, sorted links.

    Two entries that say the same thing get the same canonical dict, so a version is only
    written when something really changed and diffs show only real changes.
    """

    def clean_list(values: Iterable[str]) -> list[str]:
        seen: list[str] = []
        for value in values:
            text = " ".join(str(value).split())
            if text and text not in seen:
                seen.append(text)
        return seen

    entry: dict[str, Any] = {
        "reference": str(data["reference"]).strip(),
        "status": data.get("status") or "active",
    }
    for name in TEXT_FIELDS:
        entry[name] = str(data.get(name) or "").strip()
    for name in LIST_FIELDS:
        entry[name] = clean_list(data.get(name) or [])
    entry["hosting_countries"] = sorted({c.upper() for c in entry["hosting_countries"]})
    transfers = []
    for transfer in data.get("transfers") or []:
        item = {
            "country": str(transfer.get("country") or "").upper(),
            "recipient": " ".join(str(transfer.get("recipient") or "").split()),
            "subprocessor_id": transfer.get("subprocessor_id") or None,
            "safeguard": transfer.get("safeguard") or None,
            "safeguard_reference": str(transfer.get("safeguard_reference") or "").strip(),
        }
        if item not in transfers:
            transfers.append(item)
    entry["transfers"] = sorted(transfers, key=lambda t: (t["country"], t["recipient"]))
    links = {}
    for link in data.get("subprocessors") or []:
        links[link["subprocessor_id"]] = {
            "subprocessor_id": link["subprocessor_id"],
            "activities": " ".join(str(link.get("activities") or "").split()),
        }
    entry["subprocessors"] = [links[key] for key in sorted(links)]
    return entry


def with_scoped(entry: Mapping[str, Any], scoped: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The entry as it applies to one client: its activity-wide sub-processors plus those
    activated for that client only (each link then says which client it is scoped to)."""
    out = dict(entry)
    out["subprocessors"] = [{**s, "client_id": None} for s in entry.get("subprocessors", [])] + [
        {
            "subprocessor_id": s["subprocessor_id"],
            "activities": s.get("activities", ""),
            "client_id": s["client_id"],
        }
        for s in scoped
    ]
    return out


# -- input checks (refuse before writing) -----------------------------------------------------


def input_errors(entry: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Shape errors that make an entry unrecordable: (field, rule, detail).

    Gaps in content are not input errors (a DPO records what is known, completeness shows the
    rest); wrong codes, unknown safeguards and multi-line list items are.
    """
    errors: list[tuple[str, str, str]] = []
    if not entry.get("reference") or len(entry["reference"]) > 60:
        errors.append(("reference", "length", "reference must be 1 to 60 characters"))
    if not entry.get("name"):
        errors.append(("name", "required", "the processing activity needs a name"))
    if entry.get("status") not in STATUSES:
        errors.append(("status", "enum", f"status must be one of {', '.join(STATUSES)}"))
    for name in LIST_FIELDS:
        for index, value in enumerate(entry.get(name) or []):
            if len(value) > 500:
                errors.append((f"{name}[{index}]", "length", "at most 500 characters"))
    for index, code in enumerate(entry.get("hosting_countries") or []):
        error = country_error(code)
        if error:
            errors.append((f"hosting_countries[{index}]", "iso-3166-1-alpha-2", error))
    for index, transfer in enumerate(entry.get("transfers") or []):
        error = country_error(transfer["country"])
        if error:
            errors.append((f"transfers[{index}].country", "iso-3166-1-alpha-2", error))
        safeguard = transfer.get("safeguard")
        if safeguard is not None and safeguard not in SAFEGUARDS:
            errors.append(
                (
                    f"transfers[{index}].safeguard",
                    "known-safeguard",
                    f"safeguard must be one of {', '.join(SAFEGUARDS)}",
                )
            )
    return errors


# -- completeness -----------------------------------------------------------------------------


def _missing(field: str, article: str, detail: str, severity: str = "error") -> Finding:
    return Finding(field, article, "required", severity, detail)


def _transfer_findings(
    entry: Mapping[str, Any], subprocessors: Mapping[str, SubprocessorFacts]
) -> list[Finding]:
    findings: list[Finding] = []
    documented: dict[str, list[Mapping[str, Any]]] = {}
    for index, transfer in enumerate(entry.get("transfers", [])):
        country = transfer["country"]
        documented.setdefault(country, []).append(transfer)
        if is_eea(country):
            continue
        safeguard = transfer.get("safeguard")
        if not safeguard:
            findings.append(
                Finding(
                    f"transfers[{index}].safeguard",
                    "Art. 30(2)(c) / Art. 44",
                    "transfer-safeguard-required",
                    "error",
                    f"transfer to {country_name(country)} ({country}), outside the EEA, "
                    "documents no safeguard (adequacy decision, SCC, BCR…)",
                )
            )
        elif safeguard == "adequacy" and country not in ADEQUACY_COUNTRIES:
            findings.append(
                Finding(
                    f"transfers[{index}].safeguard",
                    "Art. 45(1)",
                    "adequacy-decision-exists",
                    "error",
                    f"no Commission adequacy decision covers {country_name(country)} ({country})",
                )
            )
        if not transfer.get("recipient") and not transfer.get("subprocessor_id"):
            findings.append(
                _missing(
                    f"transfers[{index}].recipient",
                    "Art. 30(1)(e)",
                    "name the recipient in the third country",
                    "warning",
                )
            )
    for country in entry.get("hosting_countries", []):
        if not is_eea(country) and not any(t.get("safeguard") for t in documented.get(country, [])):
            findings.append(
                Finding(
                    "hosting_countries",
                    "Art. 30(2)(c) / Art. 44",
                    "transfer-safeguard-required",
                    "error",
                    f"data hosted in {country_name(country)} ({country}), outside the EEA, "
                    "without a documented transfer and safeguard",
                )
            )
    seen: set[str] = set()
    for link in entry.get("subprocessors", []):
        facts = subprocessors.get(link["subprocessor_id"])
        if facts is None or facts.id in seen:
            continue
        seen.add(facts.id)
        locations = {facts.country, *facts.hosting_locations}
        for country in sorted(c for c in locations if c and not is_eea(c)):
            covered = any(
                t.get("safeguard") and t.get("subprocessor_id") in (None, facts.id)
                for t in documented.get(country, [])
            )
            if not covered and not facts.transfer_mechanism:
                findings.append(
                    Finding(
                        "transfers",
                        "Art. 30(2)(c) / Art. 44",
                        "transfer-safeguard-required",
                        "error",
                        f"sub-processor {facts.legal_name} ({facts.id}) is in "
                        f"{country_name(country)} ({country}), outside the EEA, and no "
                        "safeguard is documented for that transfer",
                    )
                )
    return findings


def entry_findings(
    entry: Mapping[str, Any],
    subprocessors: Mapping[str, SubprocessorFacts] | None = None,
    *,
    client_ids: Iterable[str] | None = None,
) -> list[Finding]:
    """Everything an Art. 30 entry lacks, each with the article that requires it.

    ``client_ids`` (when known) are the controllers the entry is carried out for; an active
    entry serving nobody is flagged.
    """
    client_ids = list(client_ids) if client_ids is not None else None
    subprocessors = subprocessors or {}
    findings: list[Finding] = []
    if not entry.get("processing_operations"):
        findings.append(
            _missing(
                "processing_operations",
                "Art. 30(2)(b)",
                "the categories of processing carried out for the controller "
                "(collection, recording, consultation, erasure…)",
            )
        )
    if not entry.get("purposes"):
        findings.append(_missing("purposes", "Art. 30(1)(b)", "the purposes of the processing"))
    if not entry.get("data_subject_categories"):
        findings.append(
            _missing("data_subject_categories", "Art. 30(1)(c)", "the categories of data subjects")
        )
    if not entry.get("data_categories"):
        findings.append(
            _missing("data_categories", "Art. 30(1)(c)", "the categories of personal data")
        )
    if not (
        entry.get("recipients_internal")
        or entry.get("recipients_external")
        or entry.get("subprocessors")
    ):
        findings.append(
            _missing(
                "recipients_internal",
                "Art. 30(1)(d)",
                "the recipients to whom the data are disclosed, internal or external",
            )
        )
    if not entry.get("retention"):
        findings.append(
            _missing("retention", "Art. 30(1)(f)", "the time limits for erasure of the data")
        )
    if not entry.get("security_measures"):
        findings.append(
            _missing(
                "security_measures",
                "Art. 30(2)(d) / Art. 32(1)",
                "a general description of the technical and organisational security measures",
            )
        )
    if not entry.get("availability_restoration"):
        findings.append(
            _missing(
                "availability_restoration",
                "Art. 30(2)(d) / Art. 32(1)(c)",
                "how availability and access to the data are restored after an incident",
            )
        )
    if not entry.get("security_testing"):
        findings.append(
            _missing(
                "security_testing",
                "Art. 30(2)(d) / Art. 32(1)(d)",
                "how the effectiveness of the measures is regularly tested and evaluated",
            )
        )
    if client_ids is not None and entry.get("status", "active") == "active" and not client_ids:
        findings.append(
            _missing(
                "client_ids",
                "Art. 30(2)(a)",
                "an active processing entry names the controller(s) it is carried out for",
                "warning",
            )
        )
    findings.extend(_transfer_findings(entry, subprocessors))
    return findings


def controller_findings(controller: Mapping[str, Any]) -> list[Finding]:
    """The controller's identity block of Art. 30(2)(a)."""
    findings: list[Finding] = []
    if not controller.get("legal_name"):
        findings.append(_missing("controller.legal_name", "Art. 30(2)(a)", "controller's name"))
    if not controller.get("contact"):
        findings.append(
            _missing(
                "controller.contact",
                "Art. 30(2)(a)",
                "the controller's contact details (a contact or its DPO)",
            )
        )
    if not controller.get("dpo"):
        findings.append(
            _missing(
                "controller.dpo",
                "Art. 30(2)(a)",
                "the controller's data protection officer, where one is designated",
                "warning",
            )
        )
    return findings


def processor_findings(processor: Mapping[str, Any]) -> list[Finding]:
    """The processor's own identity block of Art. 30(2)(a) (settings PROCESSOR_*)."""
    findings: list[Finding] = []
    if not processor.get("name"):
        findings.append(_missing("processor.name", "Art. 30(2)(a)", "PROCESSOR_NAME is empty"))
    if not processor.get("contact"):
        findings.append(
            _missing(
                "processor.contact",
                "Art. 30(2)(a)",
                "the processor's contact details (set PROCESSOR_CONTACT)",
            )
        )
    if not processor.get("dpo"):
        findings.append(
            _missing(
                "processor.dpo",
                "Art. 30(2)(a)",
                "the processor's data protection officer, where one is designated "
                "(set PROCESSOR_DPO)",
                "warning",
            )
        )
    return findings


def summary(findings: Iterable[Finding | Mapping[str, Any]]) -> dict[str, Any]:
    errors = warnings = 0
    for finding in findings:
        severity = finding.severity if isinstance(finding, Finding) else finding["severity"]
        if severity == "error":
            errors += 1
        else:
            warnings += 1
    return {"complete": errors == 0, "errors": errors, "warnings": warnings}


# -- history ----------------------------------------------------------------------------------


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Field-level differences; lists also say which items were added and removed."""
    changes: list[dict[str, Any]] = []
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        change: dict[str, Any] = {"field": field, "before": old, "after": new}
        if isinstance(old, list) and isinstance(new, list):
            change["added"] = [item for item in new if item not in old]
            change["removed"] = [item for item in old if item not in new]
        changes.append(change)
    return changes
