from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.catalog_details_skipped_by_reason import CatalogDetailsSkippedByReason
    from ..models.skipped_entity import SkippedEntity


T = TypeVar("T", bound="CatalogDetails")


@_attrs_define
class CatalogDetails:
    """How fresh the Backstage catalog Gatekey serves is.

    Attributes:
        loaded (bool): A catalog has been read since start.
        apis (int): API entries in the last good read.
        skipped_entities (int): Entities skipped in the last good read (the log says why in detail).
        skipped_by_reason (CatalogDetailsSkippedByReason): Those skips by reason (`unbound_service`,
            `acl_group_not_allowed`,
            `gateway_url_not_allowed`, `duplicate_api_id`, ...), as in
            `gatekey_catalog_entities_skipped_total`.
        skipped (list[SkippedEntity]): The skipped entities (the first 50 by entity ref) and the reason of each.
        age_seconds (int | None | Unset): Seconds since the last good read (`gatekey_catalog_age_seconds`).
        last_error (None | str | Unset): The latest refresh failed with this; the last good catalog is still served.
    """

    loaded: bool
    apis: int
    skipped_entities: int
    skipped_by_reason: CatalogDetailsSkippedByReason
    skipped: list[SkippedEntity]
    age_seconds: int | None | Unset = UNSET
    last_error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        loaded = self.loaded

        apis = self.apis

        skipped_entities = self.skipped_entities

        skipped_by_reason = self.skipped_by_reason.to_dict()

        skipped = []
        for skipped_item_data in self.skipped:
            skipped_item = skipped_item_data.to_dict()
            skipped.append(skipped_item)

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
                "skipped_by_reason": skipped_by_reason,
                "skipped": skipped,
            }
        )
        if age_seconds is not UNSET:
            field_dict["age_seconds"] = age_seconds
        if last_error is not UNSET:
            field_dict["last_error"] = last_error

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.catalog_details_skipped_by_reason import (
            CatalogDetailsSkippedByReason,
        )
        from ..models.skipped_entity import SkippedEntity

        d = dict(src_dict)
        loaded = d.pop("loaded")

        apis = d.pop("apis")

        skipped_entities = d.pop("skipped_entities")

        skipped_by_reason = CatalogDetailsSkippedByReason.from_dict(
            d.pop("skipped_by_reason")
        )

        skipped = []
        _skipped = d.pop("skipped")
        for skipped_item_data in _skipped:
            skipped_item = SkippedEntity.from_dict(skipped_item_data)

            skipped.append(skipped_item)

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
            skipped_by_reason=skipped_by_reason,
            skipped=skipped,
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
