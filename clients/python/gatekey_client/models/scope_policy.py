from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ScopePolicy")


@_attrs_define
class ScopePolicy:
    """A scope of an API: one Kong ACL group, requestable by some caller groups.

    Attributes:
        name (str):
        acl_group (str): Kong ACL group granted to the credential's consumer for this scope.
        allowed_groups (list[str]): Caller groups allowed to request this scope.
        description (str | Unset):
    """

    name: str
    acl_group: str
    allowed_groups: list[str]
    description: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        acl_group = self.acl_group

        allowed_groups = self.allowed_groups

        description = self.description

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "acl_group": acl_group,
                "allowed_groups": allowed_groups,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        name = d.pop("name")

        acl_group = d.pop("acl_group")

        allowed_groups = cast(list[str], d.pop("allowed_groups"))

        description = d.pop("description", UNSET)

        scope_policy = cls(
            name=name,
            acl_group=acl_group,
            allowed_groups=allowed_groups,
            description=description,
        )

        return scope_policy
