from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RevocationFailure")


@_attrs_define
class RevocationFailure:
    """A credential a job could not revoke, and why (after its retries).

    Attributes:
        credential_id (str): The id of an issuance: a ULID, so ids sort by creation time and carry 80 random bits (not
            guessable). Shown and stored as its 26-character text. Example: 01JC2M4ZK7Q6V4D8W3X5Y9T0AB.
        reason (str): What failed, safe to show (no internal host names). Example: the Kong Admin API failed: 500
            Internal Server Error.
        at (datetime.datetime):
    """

    credential_id: str
    reason: str
    at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        credential_id = self.credential_id

        reason = self.reason

        at = self.at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "credential_id": credential_id,
                "reason": reason,
                "at": at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        credential_id = d.pop("credential_id")

        reason = d.pop("reason")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        revocation_failure = cls(
            credential_id=credential_id,
            reason=reason,
            at=at,
        )

        revocation_failure.additional_properties = d
        return revocation_failure

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
