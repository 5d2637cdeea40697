from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.credential import Credential


T = TypeVar("T", bound="BulkRevokePreview")


@_attrs_define
class BulkRevokePreview:
    """What a dry run found.

    Attributes:
        dry_run (bool): Always true: nothing was revoked.
        count (int): Matching `active` credentials.
        credentials (list[Credential]): The first of them (up to 50), oldest first.
    """

    dry_run: bool
    count: int
    credentials: list[Credential]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dry_run = self.dry_run

        count = self.count

        credentials = []
        for credentials_item_data in self.credentials:
            credentials_item = credentials_item_data.to_dict()
            credentials.append(credentials_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dry_run": dry_run,
                "count": count,
                "credentials": credentials,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.credential import Credential

        d = dict(src_dict)
        dry_run = d.pop("dry_run")

        count = d.pop("count")

        credentials = []
        _credentials = d.pop("credentials")
        for credentials_item_data in _credentials:
            credentials_item = Credential.from_dict(credentials_item_data)

            credentials.append(credentials_item)

        bulk_revoke_preview = cls(
            dry_run=dry_run,
            count=count,
            credentials=credentials,
        )

        bulk_revoke_preview.additional_properties = d
        return bulk_revoke_preview

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
