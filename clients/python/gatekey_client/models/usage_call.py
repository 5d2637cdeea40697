from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.latencies import Latencies


T = TypeVar("T", bound="UsageCall")


@_attrs_define
class UsageCall:
    """One call made with the key. No header, no query string: the gateway's log carries the key
    there, and Gatekey keeps neither.

        Attributes:
            at (datetime.datetime):
            method (str):
            path (str): The request path, without its query string.
            status (int):
            latencies (Latencies): Latencies of one call in whole milliseconds, as the gateway measured them.
            route (None | str | Unset): The Kong route's name (or id).
            service (None | str | Unset): The Kong service's name (or id).
            client_ip (None | str | Unset):
    """

    at: datetime.datetime
    method: str
    path: str
    status: int
    latencies: Latencies
    route: None | str | Unset = UNSET
    service: None | str | Unset = UNSET
    client_ip: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        at = self.at.isoformat()

        method = self.method

        path = self.path

        status = self.status

        latencies = self.latencies.to_dict()

        route: None | str | Unset
        if isinstance(self.route, Unset):
            route = UNSET
        else:
            route = self.route

        service: None | str | Unset
        if isinstance(self.service, Unset):
            service = UNSET
        else:
            service = self.service

        client_ip: None | str | Unset
        if isinstance(self.client_ip, Unset):
            client_ip = UNSET
        else:
            client_ip = self.client_ip

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "at": at,
                "method": method,
                "path": path,
                "status": status,
                "latencies": latencies,
            }
        )
        if route is not UNSET:
            field_dict["route"] = route
        if service is not UNSET:
            field_dict["service"] = service
        if client_ip is not UNSET:
            field_dict["client_ip"] = client_ip

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.latencies import Latencies

        d = dict(src_dict)
        at = datetime.datetime.fromisoformat(d.pop("at"))

        method = d.pop("method")

        path = d.pop("path")

        status = d.pop("status")

        latencies = Latencies.from_dict(d.pop("latencies"))

        def _parse_route(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        route = _parse_route(d.pop("route", UNSET))

        def _parse_service(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        service = _parse_service(d.pop("service", UNSET))

        def _parse_client_ip(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        client_ip = _parse_client_ip(d.pop("client_ip", UNSET))

        usage_call = cls(
            at=at,
            method=method,
            path=path,
            status=status,
            latencies=latencies,
            route=route,
            service=service,
            client_ip=client_ip,
        )

        usage_call.additional_properties = d
        return usage_call

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
