from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="Latencies")


@_attrs_define
class Latencies:
    """Latencies of one call in whole milliseconds, as the gateway measured them.

    Attributes:
        request_ms (int): From the first byte received from the client to the last byte sent to it.
        gateway_ms (int): Spent in the gateway's own plugins.
        upstream_ms (int | None | Unset): Waiting for the upstream; absent when the gateway answered itself (a refusal).
    """

    request_ms: int
    gateway_ms: int
    upstream_ms: int | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        request_ms = self.request_ms

        gateway_ms = self.gateway_ms

        upstream_ms: int | None | Unset
        if isinstance(self.upstream_ms, Unset):
            upstream_ms = UNSET
        else:
            upstream_ms = self.upstream_ms

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "request_ms": request_ms,
                "gateway_ms": gateway_ms,
            }
        )
        if upstream_ms is not UNSET:
            field_dict["upstream_ms"] = upstream_ms

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        request_ms = d.pop("request_ms")

        gateway_ms = d.pop("gateway_ms")

        def _parse_upstream_ms(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        upstream_ms = _parse_upstream_ms(d.pop("upstream_ms", UNSET))

        latencies = cls(
            request_ms=request_ms,
            gateway_ms=gateway_ms,
            upstream_ms=upstream_ms,
        )

        latencies.additional_properties = d
        return latencies

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
