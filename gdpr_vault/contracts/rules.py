"""Pure checks on client identity data: what a French registry number or a country code must be."""

from __future__ import annotations

import re

import pycountry

from gdpr_vault.clocks import UnknownTimeZoneError
from gdpr_vault.clocks.zones import get_zone

_EMAIL_RE = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def registration_error(scheme: str, value: str) -> str | None:
    """Why a registration id is invalid for its scheme, or None.

    SIREN (9 digits) and SIRET (14 digits) carry a Luhn check digit, which catches most typos
    before a contract is filed against the wrong company. La Poste's SIRETs are the documented
    exception to the Luhn rule (digit sum divisible by 5).
    """
    if scheme == "SIREN":
        if not re.fullmatch(r"\d{9}", value):
            return "a SIREN is 9 digits"
        return None if luhn_ok(value) else "SIREN check digit (Luhn) is wrong"
    if scheme == "SIRET":
        if not re.fullmatch(r"\d{14}", value):
            return "a SIRET is 14 digits"
        if value.startswith("356000000"):
            return None if sum(map(int, value)) % 5 == 0 else "SIRET check digit is wrong"
        return None if luhn_ok(value) else "SIRET check digit (Luhn) is wrong"
    if not value.strip() or len(value) > 40:
        return "an identifier of 1 to 40 characters is required"
    return None


def country_error(code: str) -> str | None:
    if len(code) != 2 or not code.isupper() or pycountry.countries.get(alpha_2=code) is None:
        return "an ISO 3166-1 alpha-2 country code is required (e.g. FR, DE, US)"
    return None


def email_error(address: str) -> str | None:
    if len(address) > 320 or not _EMAIL_RE.match(address):
        return "a valid e-mail address is required"
    return None


def time_zone_error(name: str) -> str | None:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return "an IANA time zone name is required (e.g. Europe/Paris)"
    try:
        get_zone(name)  # the clocks' own rule: the same names are accepted everywhere
    except UnknownTimeZoneError:
        return f"unknown IANA time zone {name!r}"
    return None
