"""Clients, contacts, contracts, amendments and presets under /api/v1."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from gdpr_vault.auth.guards import client_scope, dpo_only, read_only_for_auditors
from gdpr_vault.contracts import service
from gdpr_vault.contracts.schemas import AmendmentIn, ClientIn, ClientPatch, ContactIn, ContractIn
from gdpr_vault.pagination import PageRequest
from gdpr_vault.web import caller, now_of


class PresetController(Controller):
    path = "/api/v1/presets"
    tags = ["contracts"]

    @get("/", summary="Contract presets built from the five source contracts")
    async def list_presets(self) -> list[dict[str, Any]]:
        return service.presets_out()

    @get("/{key:str}", summary="One preset with every term and its citation")
    async def get_preset(self, key: FromPath[str]) -> dict[str, Any]:
        return service.preset_out(key)


class ClientController(Controller):
    path = "/api/v1/clients"
    tags = ["clients"]
    guards = [read_only_for_auditors, client_scope]

    @get("/", summary="Clients visible to this token (a client or auditor token sees its own)")
    async def list_clients(
        self,
        request: Request,
        limit: Annotated[int | None, QueryParameter(ge=1, le=500)] = None,
        cursor: FromQuery[str | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=100)] = None,
        country: Annotated[str | None, QueryParameter(max_length=2)] = None,
    ) -> dict[str, Any]:
        return await service.list_clients(
            caller(request), PageRequest.parse(limit, cursor), q, country
        )

    @post("/", guards=[dpo_only], summary="Create a client, its contacts and its contract")
    async def create_client(self, request: Request, data: JSONBody[ClientIn]) -> dict[str, Any]:
        return await service.create_client(data, caller(request).actor, now_of(request))

    @get("/{client_id:str}")
    async def get_client(self, client_id: FromPath[str]) -> dict[str, Any]:
        return await service.get_client(client_id)

    @patch("/{client_id:str}", guards=[dpo_only])
    async def update_client(
        self, request: Request, client_id: FromPath[str], data: JSONBody[ClientPatch]
    ) -> dict[str, Any]:
        return await service.update_client(client_id, data, caller(request).actor, now_of(request))

    @get("/{client_id:str}/contacts")
    async def list_contacts(self, client_id: FromPath[str]) -> list[dict[str, Any]]:
        await service.get_client(client_id)
        return await service.list_contacts(client_id)

    @post("/{client_id:str}/contacts", guards=[dpo_only])
    async def add_contact(
        self, request: Request, client_id: FromPath[str], data: JSONBody[ContactIn]
    ) -> dict[str, Any]:
        return await service.add_contact(client_id, data, caller(request).actor, now_of(request))

    @delete("/{client_id:str}/contacts/{contact_id:str}", guards=[dpo_only])
    async def remove_contact(
        self, request: Request, client_id: FromPath[str], contact_id: FromPath[str]
    ) -> None:
        await service.remove_contact(client_id, contact_id, caller(request).actor, now_of(request))

    @get("/{client_id:str}/contracts")
    async def list_contracts(self, client_id: FromPath[str]) -> list[dict[str, Any]]:
        await service.get_client(client_id)
        return await service.list_contracts(client_id)

    @post("/{client_id:str}/contracts", guards=[dpo_only])
    async def add_contract(
        self, request: Request, client_id: FromPath[str], data: JSONBody[ContractIn]
    ) -> dict[str, Any]:
        return await service.add_contract(client_id, data, caller(request).actor, now_of(request))

    @get("/{client_id:str}/contracts/{contract_id:str}")
    async def get_contract(
        self, client_id: FromPath[str], contract_id: FromPath[str]
    ) -> dict[str, Any]:
        return await service.get_contract(client_id, contract_id)

    @get(
        "/{client_id:str}/contracts/{contract_id:str}/deadlines/{clock:str}",
        summary="Compute one of the contract's clocks for an event, with its explanation",
    )
    async def contract_clock(
        self,
        client_id: FromPath[str],
        contract_id: FromPath[str],
        clock: FromPath[str],
        start: Annotated[str, QueryParameter(max_length=64)],
    ) -> dict[str, Any]:
        return await service.contract_clock(client_id, contract_id, clock, start)

    @get("/{client_id:str}/contracts/{contract_id:str}/terms")
    async def list_terms(
        self, client_id: FromPath[str], contract_id: FromPath[str]
    ) -> list[dict[str, Any]]:
        return await service.list_terms_versions(client_id, contract_id)

    @post(
        "/{client_id:str}/contracts/{contract_id:str}/amendments",
        guards=[dpo_only],
        summary="Amend clause terms: a new version; old deadlines keep theirs",
    )
    async def amend_contract(
        self,
        request: Request,
        client_id: FromPath[str],
        contract_id: FromPath[str],
        data: JSONBody[AmendmentIn],
    ) -> dict[str, Any]:
        return await service.amend_contract(
            client_id, contract_id, data, caller(request).actor, now_of(request)
        )
