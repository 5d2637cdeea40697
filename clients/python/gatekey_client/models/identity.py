from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Identity")


@_attrs_define
class Identity:
    """The caller's resolved identity.

    Attributes:
        subject (str): Subject, as mapped from the token (e.g. `user:default/jane`).
        issuer (str): Token issuer URL.
        issuer_name (str): Name of the configured issuer that vouched for the token.
        groups (list[str]): Groups after claim mapping, sorted.
        admin (bool): Whether the caller is in an admin group.
    """

    subject: str
    issuer: str
    issuer_name: str
    groups: list[str]
    admin: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        subject = self.subject

        issuer = self.issuer

        issuer_name = self.issuer_name

        groups = self.groups

        admin = self.admin

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "subject": subject,
                "issuer": issuer,
                "issuer_name": issuer_name,
                "groups": groups,
                "admin": admin,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        subject = d.pop("subject")

        issuer = d.pop("issuer")

        issuer_name = d.pop("issuer_name")

        groups = cast(list[str], d.pop("groups"))

        admin = d.pop("admin")

        identity = cls(
            subject=subject,
            issuer=issuer,
            issuer_name=issuer_name,
            groups=groups,
            admin=admin,
        )

        identity.additional_properties = d
        return identity

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
