from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.rate_limit import RateLimit
    from ..models.scope_summary import ScopeSummary
    from ..models.unavailable_scope import UnavailableScope


T = TypeVar("T", bound="ApiSummary")


@_attrs_define
class ApiSummary:
    """An API the caller may request a credential for.

    Attributes:
        id (str): Identifier used in `/v1/apis/{id}/credentials`.
        title (str):
        description (str):
        gateway_url (str): Base URL of the API on the gateway.
        key_header (str): Header the key must be sent in.
        scopes (list[ScopeSummary]): Scopes this caller may request.
        default_ttl_seconds (int):
        min_ttl_seconds (int):
        max_ttl_seconds (int): Longest TTL this caller may ask for.
        owner (None | str | Unset): Owning team, e.g. `group:default/payments-team`.
        entity_ref (None | str | Unset): Backstage entity ref (`api:default/orders`) when the API is in the catalog.
        rate_limit (None | RateLimit | Unset):
        unavailable_scopes (list[UnavailableScope] | Unset): The scopes this caller may not request and the groups any
            of which would grant each:
            only in `GET /v1/apis/{id}`, and only on an API the policy marks discoverable (absent
            otherwise: nothing about other groups is revealed).
    """

    id: str
    title: str
    description: str
    gateway_url: str
    key_header: str
    scopes: list[ScopeSummary]
    default_ttl_seconds: int
    min_ttl_seconds: int
    max_ttl_seconds: int
    owner: None | str | Unset = UNSET
    entity_ref: None | str | Unset = UNSET
    rate_limit: None | RateLimit | Unset = UNSET
    unavailable_scopes: list[UnavailableScope] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.rate_limit import RateLimit

        id = self.id

        title = self.title

        description = self.description

        gateway_url = self.gateway_url

        key_header = self.key_header

        scopes = []
        for scopes_item_data in self.scopes:
            scopes_item = scopes_item_data.to_dict()
            scopes.append(scopes_item)

        default_ttl_seconds = self.default_ttl_seconds

        min_ttl_seconds = self.min_ttl_seconds

        max_ttl_seconds = self.max_ttl_seconds

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

        rate_limit: dict[str, Any] | None | Unset
        if isinstance(self.rate_limit, Unset):
            rate_limit = UNSET
        elif isinstance(self.rate_limit, RateLimit):
            rate_limit = self.rate_limit.to_dict()
        else:
            rate_limit = self.rate_limit

        unavailable_scopes: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.unavailable_scopes, Unset):
            unavailable_scopes = []
            for unavailable_scopes_item_data in self.unavailable_scopes:
                unavailable_scopes_item = unavailable_scopes_item_data.to_dict()
                unavailable_scopes.append(unavailable_scopes_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "title": title,
                "description": description,
                "gateway_url": gateway_url,
                "key_header": key_header,
                "scopes": scopes,
                "default_ttl_seconds": default_ttl_seconds,
                "min_ttl_seconds": min_ttl_seconds,
                "max_ttl_seconds": max_ttl_seconds,
            }
        )
        if owner is not UNSET:
            field_dict["owner"] = owner
        if entity_ref is not UNSET:
            field_dict["entity_ref"] = entity_ref
        if rate_limit is not UNSET:
            field_dict["rate_limit"] = rate_limit
        if unavailable_scopes is not UNSET:
            field_dict["unavailable_scopes"] = unavailable_scopes

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.rate_limit import RateLimit
        from ..models.scope_summary import ScopeSummary
        from ..models.unavailable_scope import UnavailableScope

        d = dict(src_dict)
        id = d.pop("id")

        title = d.pop("title")

        description = d.pop("description")

        gateway_url = d.pop("gateway_url")

        key_header = d.pop("key_header")

        scopes = []
        _scopes = d.pop("scopes")
        for scopes_item_data in _scopes:
            scopes_item = ScopeSummary.from_dict(scopes_item_data)

            scopes.append(scopes_item)

        default_ttl_seconds = d.pop("default_ttl_seconds")

        min_ttl_seconds = d.pop("min_ttl_seconds")

        max_ttl_seconds = d.pop("max_ttl_seconds")

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

        _unavailable_scopes = d.pop("unavailable_scopes", UNSET)
        unavailable_scopes: list[UnavailableScope] | Unset = UNSET
        if _unavailable_scopes is not UNSET:
            unavailable_scopes = []
            for unavailable_scopes_item_data in _unavailable_scopes:
                unavailable_scopes_item = UnavailableScope.from_dict(
                    unavailable_scopes_item_data
                )

                unavailable_scopes.append(unavailable_scopes_item)

        api_summary = cls(
            id=id,
            title=title,
            description=description,
            gateway_url=gateway_url,
            key_header=key_header,
            scopes=scopes,
            default_ttl_seconds=default_ttl_seconds,
            min_ttl_seconds=min_ttl_seconds,
            max_ttl_seconds=max_ttl_seconds,
            owner=owner,
            entity_ref=entity_ref,
            rate_limit=rate_limit,
            unavailable_scopes=unavailable_scopes,
        )

        api_summary.additional_properties = d
        return api_summary

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
