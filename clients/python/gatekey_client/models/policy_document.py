from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.api_policy import ApiPolicy


T = TypeVar("T", bound="PolicyDocument")


@_attrs_define
class PolicyDocument:
    """A policy file as written by people: YAML or TOML.

    Attributes:
        version (int): Format version; must equal [`POLICY_VERSION`].
        source_revision (None | str | Unset): Where these rules come from (a git commit), written by the pipeline that
            ships the file;
            the server's `GATEKEY_POLICY_SOURCE_REVISION` overrides it. Not part of the digest.
        admin_groups (list[str] | Unset): Caller groups whose members may read everyone's credentials and the audit
            trail.
        apis (list[ApiPolicy] | Unset): The APIs callers may try.
    """

    version: int
    source_revision: None | str | Unset = UNSET
    admin_groups: list[str] | Unset = UNSET
    apis: list[ApiPolicy] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        version = self.version

        source_revision: None | str | Unset
        if isinstance(self.source_revision, Unset):
            source_revision = UNSET
        else:
            source_revision = self.source_revision

        admin_groups: list[str] | Unset = UNSET
        if not isinstance(self.admin_groups, Unset):
            admin_groups = self.admin_groups

        apis: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.apis, Unset):
            apis = []
            for apis_item_data in self.apis:
                apis_item = apis_item_data.to_dict()
                apis.append(apis_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "version": version,
            }
        )
        if source_revision is not UNSET:
            field_dict["source_revision"] = source_revision
        if admin_groups is not UNSET:
            field_dict["admin_groups"] = admin_groups
        if apis is not UNSET:
            field_dict["apis"] = apis

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.api_policy import ApiPolicy

        d = dict(src_dict)
        version = d.pop("version")

        def _parse_source_revision(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        source_revision = _parse_source_revision(d.pop("source_revision", UNSET))

        admin_groups = cast(list[str], d.pop("admin_groups", UNSET))

        _apis = d.pop("apis", UNSET)
        apis: list[ApiPolicy] | Unset = UNSET
        if _apis is not UNSET:
            apis = []
            for apis_item_data in _apis:
                apis_item = ApiPolicy.from_dict(apis_item_data)

                apis.append(apis_item)

        policy_document = cls(
            version=version,
            source_revision=source_revision,
            admin_groups=admin_groups,
            apis=apis,
        )

        return policy_document
