from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="CatalogDetails")


@_attrs_define
class CatalogDetails:
    """How fresh the Backstage catalog Gatekey serves is.

    Attributes:
        loaded (bool): A catalog has been read since start.
        apis (int): API entries in the last good read.
        skipped_entities (int): Entities skipped in the last good read (see the log for why).
        age_seconds (int | None | Unset): Seconds since the last good read (`gatekey_catalog_age_seconds`).
        last_error (None | str | Unset): The latest refresh failed with this; the last good catalog is still served.
    """

    loaded: bool
    apis: int
    skipped_entities: int
    age_seconds: int | None | Unset = UNSET
    last_error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        loaded = self.loaded

        apis = self.apis

        skipped_entities = self.skipped_entities

        age_seconds: int | None | Unset
        if isinstance(self.age_seconds, Unset):
            age_seconds = UNSET
        else:
            age_seconds = self.age_seconds

        last_error: None | str | Unset
        if isinstance(self.last_error, Unset):
            last_error = UNSET
        else:
            last_error = self.last_error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "loaded": loaded,
                "apis": apis,
                "skipped_entities": skipped_entities,
            }
        )
        if age_seconds is not UNSET:
            field_dict["age_seconds"] = age_seconds
        if last_error is not UNSET:
            field_dict["last_error"] = last_error

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        loaded = d.pop("loaded")

        apis = d.pop("apis")

        skipped_entities = d.pop("skipped_entities")

        def _parse_age_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        age_seconds = _parse_age_seconds(d.pop("age_seconds", UNSET))

        def _parse_last_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        last_error = _parse_last_error(d.pop("last_error", UNSET))

        catalog_details = cls(
            loaded=loaded,
            apis=apis,
            skipped_entities=skipped_entities,
            age_seconds=age_seconds,
            last_error=last_error,
        )

        catalog_details.additional_properties = d
        return catalog_details

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
