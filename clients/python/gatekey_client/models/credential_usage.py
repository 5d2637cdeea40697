from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.usage_call import UsageCall
    from ..models.usage_summary import UsageSummary


T = TypeVar("T", bound="CredentialUsage")


@_attrs_define
class CredentialUsage:
    """What a credential's key was used for, as the gateway logged it.

    Attributes:
        credential_id (str):
        summary (UsageSummary): A credential's calls, kept up to date as entries arrive.
        recent (list[UsageCall]): The latest calls, newest first (kept for `mongodb.usage_retention_days`).
    """

    credential_id: str
    summary: UsageSummary
    recent: list[UsageCall]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        credential_id = self.credential_id

        summary = self.summary.to_dict()

        recent = []
        for recent_item_data in self.recent:
            recent_item = recent_item_data.to_dict()
            recent.append(recent_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "credential_id": credential_id,
                "summary": summary,
                "recent": recent,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.usage_call import UsageCall
        from ..models.usage_summary import UsageSummary

        d = dict(src_dict)
        credential_id = d.pop("credential_id")

        summary = UsageSummary.from_dict(d.pop("summary"))

        recent = []
        _recent = d.pop("recent")
        for recent_item_data in _recent:
            recent_item = UsageCall.from_dict(recent_item_data)

            recent.append(recent_item)

        credential_usage = cls(
            credential_id=credential_id,
            summary=summary,
            recent=recent,
        )

        credential_usage.additional_properties = d
        return credential_usage

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
