from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.timeline_event_type_0 import TimelineEventType0
    from ..models.timeline_event_type_1 import TimelineEventType1
    from ..models.usage_summary import UsageSummary


T = TypeVar("T", bound="CredentialTimeline")


@_attrs_define
class CredentialTimeline:
    """A credential's story, oldest first.

    Attributes:
        credential_id (str):
        events (list[TimelineEventType0 | TimelineEventType1]): The decisions and lifecycle steps of the audit trail and
            the calls made with the key,
            in the order they happened.
        usage (UsageSummary): A credential's calls, kept up to date as entries arrive.
    """

    credential_id: str
    events: list[TimelineEventType0 | TimelineEventType1]
    usage: UsageSummary
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.timeline_event_type_0 import TimelineEventType0

        credential_id = self.credential_id

        events = []
        for events_item_data in self.events:
            events_item: dict[str, Any]
            if isinstance(events_item_data, TimelineEventType0):
                events_item = events_item_data.to_dict()
            else:
                events_item = events_item_data.to_dict()

            events.append(events_item)

        usage = self.usage.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "credential_id": credential_id,
                "events": events,
                "usage": usage,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.timeline_event_type_0 import TimelineEventType0
        from ..models.timeline_event_type_1 import TimelineEventType1
        from ..models.usage_summary import UsageSummary

        d = dict(src_dict)
        credential_id = d.pop("credential_id")

        events = []
        _events = d.pop("events")
        for events_item_data in _events:

            def _parse_events_item(
                data: object,
            ) -> TimelineEventType0 | TimelineEventType1:
                try:
                    if not isinstance(data, dict):
                        raise TypeError()
                    componentsschemas_timeline_event_type_0 = (
                        TimelineEventType0.from_dict(data)
                    )

                    return componentsschemas_timeline_event_type_0
                except (TypeError, ValueError, AttributeError, KeyError):
                    pass
                if not isinstance(data, dict):
                    raise TypeError()
                componentsschemas_timeline_event_type_1 = TimelineEventType1.from_dict(
                    data
                )

                return componentsschemas_timeline_event_type_1

            events_item = _parse_events_item(events_item_data)

            events.append(events_item)

        usage = UsageSummary.from_dict(d.pop("usage"))

        credential_timeline = cls(
            credential_id=credential_id,
            events=events,
            usage=usage,
        )

        credential_timeline.additional_properties = d
        return credential_timeline

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
