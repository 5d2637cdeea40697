from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.credential import Credential


T = TypeVar("T", bound="MintedCredential")


@_attrs_define
class MintedCredential:
    """A new credential, with its key. This is the only time the key is shown.

    Attributes:
        credential (Credential): A credential's record. The key itself is never stored and never shown again.
        key (str): The API key. Store it now: Gatekey keeps only its fingerprint.
        header_name (str): Header to send the key in.
        gateway_url (str): Base URL of the API on the gateway.
        expires_at (datetime.datetime):
    """

    credential: Credential
    key: str
    header_name: str
    gateway_url: str
    expires_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        credential = self.credential.to_dict()

        key = self.key

        header_name = self.header_name

        gateway_url = self.gateway_url

        expires_at = self.expires_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "credential": credential,
                "key": key,
                "header_name": header_name,
                "gateway_url": gateway_url,
                "expires_at": expires_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.credential import Credential

        d = dict(src_dict)
        credential = Credential.from_dict(d.pop("credential"))

        key = d.pop("key")

        header_name = d.pop("header_name")

        gateway_url = d.pop("gateway_url")

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        minted_credential = cls(
            credential=credential,
            key=key,
            header_name=header_name,
            gateway_url=gateway_url,
            expires_at=expires_at,
        )

        minted_credential.additional_properties = d
        return minted_credential

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
