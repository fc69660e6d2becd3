"""Ready-made contract terms for the five source contracts (``gdpr_vault/presets/*.json``).

Why presets: most clients sign one of a few vendor contracts. Starting a client from a preset
gives it clocks and limits that cite the clause they come from; amendments are then applied with
:func:`gdpr_vault.contracts.terms.apply_overrides`, so the preset itself never changes.

The JSON files ship inside the package and are read with :mod:`importlib.resources`, so this
works from a wheel or a zip as well as from a source checkout. Each preset is validated with
:func:`~gdpr_vault.contracts.terms.load_terms` when first loaded and then cached: presets are
read-only data, and a bad file should fail loudly rather than produce wrong clocks.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import msgspec

from gdpr_vault.contracts.terms import ContractTerms, TermsError, iter_sources, load_terms

__all__ = [
    "Preset",
    "PresetError",
    "PresetInfo",
    "UnknownPresetError",
    "list_presets",
    "load_preset",
]

_PACKAGE = "gdpr_vault.presets"


class UnknownPresetError(ValueError):
    """No preset has that key; ``known`` lists the keys that exist."""

    def __init__(self, key: str, known: tuple[str, ...]) -> None:
        self.key = key
        self.known = known
        super().__init__(f"unknown preset {key!r}; known presets: {', '.join(known)}")


class PresetError(ValueError):
    """A preset file is malformed (a packaging or editing mistake, not a user error)."""


class PresetInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a picker needs to show a preset: key, name, seed contract and a summary."""

    key: str
    name: str
    seed: str
    summary: str


class Preset(msgspec.Struct, frozen=True, kw_only=True):
    """A preset with its validated :class:`ContractTerms`."""

    key: str
    name: str
    seed: str
    summary: str
    terms: ContractTerms

    @property
    def info(self) -> PresetInfo:
        """The preset without its terms."""
        return PresetInfo(key=self.key, name=self.name, seed=self.seed, summary=self.summary)


class _PresetFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: str
    name: str
    seed: str
    summary: str
    terms: dict[str, Any]


@cache
def _keys() -> tuple[str, ...]:
    """Preset keys, from the JSON file names in the package (sorted)."""
    folder = resources.files(_PACKAGE)
    return tuple(
        sorted(
            entry.name.removesuffix(".json")
            for entry in folder.iterdir()
            if entry.name.endswith(".json") and entry.is_file()
        )
    )


@cache
def load_preset(key: str) -> Preset:
    """The preset named ``key`` (e.g. ``"opensafe"``), validated; cached after the first call.

    Raises :class:`UnknownPresetError` for an unknown key and :class:`PresetError` when the
    file is malformed (bad JSON, terms that fail validation, a citation of another seed).
    """
    known = _keys()
    if key not in known:  # also keeps arbitrary text away from the resource path
        raise UnknownPresetError(key, known)
    raw = resources.files(_PACKAGE).joinpath(f"{key}.json").read_bytes()
    try:
        file = msgspec.json.decode(raw, type=_PresetFile)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise PresetError(f"preset {key!r}: {exc}") from exc
    if file.key != key:
        raise PresetError(f"preset file {key}.json declares key {file.key!r}")
    try:
        terms = load_terms(file.terms)
    except TermsError as exc:
        raise PresetError(f"preset {key!r}: {exc}") from exc
    for path, source in iter_sources(terms):
        if source.seed != file.seed:
            raise PresetError(
                f"preset {key!r}: {path} cites {source.seed!r}, not its seed {file.seed!r}"
            )
    return Preset(key=key, name=file.name, seed=file.seed, summary=file.summary, terms=terms)


def list_presets() -> list[PresetInfo]:
    """Every shipped preset (key order), each validated on first use."""
    return [load_preset(key).info for key in _keys()]
