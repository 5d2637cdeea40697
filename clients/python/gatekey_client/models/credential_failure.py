from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.failure_code import FailureCode

T = TypeVar("T", bound="CredentialFailure")


@_attrs_define
class CredentialFailure:
    """Why a credential's mint failed: a stable code to act on and a sentence to show. Never the
    underlying error, which stays in Gatekey's log under the mint's request id.

        Attributes:
            code (FailureCode): Why a mint failed, as recorded and shown to callers: a stable code with a fixed sentence.

                The underlying error is never stored or shown: Kong's and MongoDB's errors name internal hosts,
                ports and URLs, and a Rust error chain tells an attacker which component broke and how. The raw
                error goes to the log, with the request id, only.
            message (str): What happened, for people. Example: The gateway could not be reached; nothing was issued..
    """

    code: FailureCode
    message: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        code = self.code.value

        message = self.message

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "code": code,
                "message": message,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        code = FailureCode(d.pop("code"))

        message = d.pop("message")

        credential_failure = cls(
            code=code,
            message=message,
        )

        credential_failure.additional_properties = d
        return credential_failure

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
