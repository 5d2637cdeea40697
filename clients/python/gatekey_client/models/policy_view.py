from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.policy_document import PolicyDocument
    from ..models.refused_file import RefusedFile


T = TypeVar("T", bound="PolicyView")


@_attrs_define
class PolicyView:
    """The policy in force.

    Attributes:
        revision (str): `sha256:` and the hex digest of the policy's canonical form (the file and the catalog's
            APIs, merged): the `policy_revision` of records and audit events. Example:
            sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.
        file (str): The policy file this replica reads.
        loaded_at (datetime.datetime): When this revision took effect in this replica.
        catalog_api_ids (list[str]): The APIs that come from the Backstage catalog; the others are the file's.
        policy (PolicyDocument): A policy file as written by people: YAML or TOML.
        source_revision (None | str | Unset): Where the rules come from (a git commit):
            `GATEKEY_POLICY_SOURCE_REVISION`, or the file's
            `source_revision`.
        refused_file (None | RefusedFile | Unset):
    """

    revision: str
    file: str
    loaded_at: datetime.datetime
    catalog_api_ids: list[str]
    policy: PolicyDocument
    source_revision: None | str | Unset = UNSET
    refused_file: None | RefusedFile | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.refused_file import RefusedFile

        revision = self.revision

        file = self.file

        loaded_at = self.loaded_at.isoformat()

        catalog_api_ids = self.catalog_api_ids

        policy = self.policy.to_dict()

        source_revision: None | str | Unset
        if isinstance(self.source_revision, Unset):
            source_revision = UNSET
        else:
            source_revision = self.source_revision

        refused_file: dict[str, Any] | None | Unset
        if isinstance(self.refused_file, Unset):
            refused_file = UNSET
        elif isinstance(self.refused_file, RefusedFile):
            refused_file = self.refused_file.to_dict()
        else:
            refused_file = self.refused_file

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "revision": revision,
                "file": file,
                "loaded_at": loaded_at,
                "catalog_api_ids": catalog_api_ids,
                "policy": policy,
            }
        )
        if source_revision is not UNSET:
            field_dict["source_revision"] = source_revision
        if refused_file is not UNSET:
            field_dict["refused_file"] = refused_file

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.policy_document import PolicyDocument
        from ..models.refused_file import RefusedFile

        d = dict(src_dict)
        revision = d.pop("revision")

        file = d.pop("file")

        loaded_at = datetime.datetime.fromisoformat(d.pop("loaded_at"))

        catalog_api_ids = cast(list[str], d.pop("catalog_api_ids"))

        policy = PolicyDocument.from_dict(d.pop("policy"))

        def _parse_source_revision(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        source_revision = _parse_source_revision(d.pop("source_revision", UNSET))

        def _parse_refused_file(data: object) -> None | RefusedFile | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                refused_file_type_1 = RefusedFile.from_dict(data)

                return refused_file_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RefusedFile | Unset, data)

        refused_file = _parse_refused_file(d.pop("refused_file", UNSET))

        policy_view = cls(
            revision=revision,
            file=file,
            loaded_at=loaded_at,
            catalog_api_ids=catalog_api_ids,
            policy=policy,
            source_revision=source_revision,
            refused_file=refused_file,
        )

        policy_view.additional_properties = d
        return policy_view

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
