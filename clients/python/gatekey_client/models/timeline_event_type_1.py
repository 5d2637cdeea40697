from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.timeline_event_type_1_kind import TimelineEventType1Kind

if TYPE_CHECKING:
    from ..models.usage_call import UsageCall


T = TypeVar("T", bound="TimelineEventType1")


@_attrs_define
class TimelineEventType1:
    """
    Attributes:
        call (UsageCall): One call made with the key. No header, no query string: the gateway's log carries the key
            there, and Gatekey keeps neither.
        kind (TimelineEventType1Kind):
    """

    call: UsageCall
    kind: TimelineEventType1Kind
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        call = self.call.to_dict()

        kind = self.kind.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "call": call,
                "kind": kind,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.usage_call import UsageCall

        d = dict(src_dict)
        call = UsageCall.from_dict(d.pop("call"))

        kind = TimelineEventType1Kind(d.pop("kind"))

        timeline_event_type_1 = cls(
            call=call,
            kind=kind,
        )

        timeline_event_type_1.additional_properties = d
        return timeline_event_type_1

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
