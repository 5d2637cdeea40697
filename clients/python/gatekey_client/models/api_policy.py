from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.rate_limit import RateLimit
    from ..models.scope_policy import ScopePolicy


T = TypeVar("T", bound="ApiPolicy")


@_attrs_define
class ApiPolicy:
    """One API behind Kong and who may get a key for it.

    Attributes:
        id (str): Stable identifier used in URLs and Kong tags (`[a-z0-9][a-z0-9._-]*`).
        title (str):
        kong_service (str): Name of the Kong service that fronts this API.
        gateway_url (str): Base URL of the API on the gateway, returned to callers with the key.
        default_ttl_seconds (int): Lifetime used when the caller does not ask for one.
        max_ttl_seconds (int): Longest lifetime a caller may ask for.
        scopes (list[ScopePolicy]):
        description (str | Unset):
        owner (None | str | Unset): Owning team, e.g. `group:default/payments-team`.
        entity_ref (None | str | Unset): Backstage entity ref of the API (`api:default/orders`), when the API is in the
            catalog.
        key_header (str | Unset): Header the key goes in (Kong key-auth `key_names`).
        min_ttl_seconds (int | Unset): Shortest lifetime a caller may ask for.
        rate_limit (None | RateLimit | Unset):
        discoverable (bool | Unset): Whether callers who cannot request a scope may learn which groups could (`gatekey
            policy
            explain`, `GET /v1/apis/{id}`). Off by default: group names can say more than an
            organisation wants every employee to read.
    """

    id: str
    title: str
    kong_service: str
    gateway_url: str
    default_ttl_seconds: int
    max_ttl_seconds: int
    scopes: list[ScopePolicy]
    description: str | Unset = UNSET
    owner: None | str | Unset = UNSET
    entity_ref: None | str | Unset = UNSET
    key_header: str | Unset = UNSET
    min_ttl_seconds: int | Unset = UNSET
    rate_limit: None | RateLimit | Unset = UNSET
    discoverable: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.rate_limit import RateLimit

        id = self.id

        title = self.title

        kong_service = self.kong_service

        gateway_url = self.gateway_url

        default_ttl_seconds = self.default_ttl_seconds

        max_ttl_seconds = self.max_ttl_seconds

        scopes = []
        for scopes_item_data in self.scopes:
            scopes_item = scopes_item_data.to_dict()
            scopes.append(scopes_item)

        description = self.description

        owner: None | str | Unset
        if isinstance(self.owner, Unset):
            owner = UNSET
        else:
            owner = self.owner

        entity_ref: None | str | Unset
        if isinstance(self.entity_ref, Unset):
            entity_ref = UNSET
        else:
            entity_ref = self.entity_ref

        key_header = self.key_header

        min_ttl_seconds = self.min_ttl_seconds

        rate_limit: dict[str, Any] | None | Unset
        if isinstance(self.rate_limit, Unset):
            rate_limit = UNSET
        elif isinstance(self.rate_limit, RateLimit):
            rate_limit = self.rate_limit.to_dict()
        else:
            rate_limit = self.rate_limit

        discoverable = self.discoverable

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "title": title,
                "kong_service": kong_service,
                "gateway_url": gateway_url,
                "default_ttl_seconds": default_ttl_seconds,
                "max_ttl_seconds": max_ttl_seconds,
                "scopes": scopes,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if owner is not UNSET:
            field_dict["owner"] = owner
        if entity_ref is not UNSET:
            field_dict["entity_ref"] = entity_ref
        if key_header is not UNSET:
            field_dict["key_header"] = key_header
        if min_ttl_seconds is not UNSET:
            field_dict["min_ttl_seconds"] = min_ttl_seconds
        if rate_limit is not UNSET:
            field_dict["rate_limit"] = rate_limit
        if discoverable is not UNSET:
            field_dict["discoverable"] = discoverable

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.rate_limit import RateLimit
        from ..models.scope_policy import ScopePolicy

        d = dict(src_dict)
        id = d.pop("id")

        title = d.pop("title")

        kong_service = d.pop("kong_service")

        gateway_url = d.pop("gateway_url")

        default_ttl_seconds = d.pop("default_ttl_seconds")

        max_ttl_seconds = d.pop("max_ttl_seconds")

        scopes = []
        _scopes = d.pop("scopes")
        for scopes_item_data in _scopes:
            scopes_item = ScopePolicy.from_dict(scopes_item_data)

            scopes.append(scopes_item)

        description = d.pop("description", UNSET)

        def _parse_owner(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        owner = _parse_owner(d.pop("owner", UNSET))

        def _parse_entity_ref(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        entity_ref = _parse_entity_ref(d.pop("entity_ref", UNSET))

        key_header = d.pop("key_header", UNSET)

        min_ttl_seconds = d.pop("min_ttl_seconds", UNSET)

        def _parse_rate_limit(data: object) -> None | RateLimit | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                rate_limit_type_1 = RateLimit.from_dict(data)

                return rate_limit_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RateLimit | Unset, data)

        rate_limit = _parse_rate_limit(d.pop("rate_limit", UNSET))

        discoverable = d.pop("discoverable", UNSET)

        api_policy = cls(
            id=id,
            title=title,
            kong_service=kong_service,
            gateway_url=gateway_url,
            default_ttl_seconds=default_ttl_seconds,
            max_ttl_seconds=max_ttl_seconds,
            scopes=scopes,
            description=description,
            owner=owner,
            entity_ref=entity_ref,
            key_header=key_header,
            min_ttl_seconds=min_ttl_seconds,
            rate_limit=rate_limit,
            discoverable=discoverable,
        )

        return api_policy
