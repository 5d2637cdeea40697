from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.check_state import CheckState
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.catalog_details import CatalogDetails


T = TypeVar("T", bound="DependencyCheck")


@_attrs_define
class DependencyCheck:
    """One dependency's state.

    Attributes:
        name (str): `kong`, `mongodb`, `issuer:<name>`, `policy`, or `catalog`.
        state (CheckState): One dependency's state.
        ok (bool): `state` is `ok`.
        error (None | str | Unset):
        key_age_seconds (int | None | Unset): Seconds since the issuer's keys were fetched (the `issuer:` checks, once
            keys exist).
        details (CatalogDetails | None | Unset):
    """

    name: str
    state: CheckState
    ok: bool
    error: None | str | Unset = UNSET
    key_age_seconds: int | None | Unset = UNSET
    details: CatalogDetails | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.catalog_details import CatalogDetails

        name = self.name

        state = self.state.value

        ok = self.ok

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        key_age_seconds: int | None | Unset
        if isinstance(self.key_age_seconds, Unset):
            key_age_seconds = UNSET
        else:
            key_age_seconds = self.key_age_seconds

        details: dict[str, Any] | None | Unset
        if isinstance(self.details, Unset):
            details = UNSET
        elif isinstance(self.details, CatalogDetails):
            details = self.details.to_dict()
        else:
            details = self.details

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "state": state,
                "ok": ok,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if key_age_seconds is not UNSET:
            field_dict["key_age_seconds"] = key_age_seconds
        if details is not UNSET:
            field_dict["details"] = details

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.catalog_details import CatalogDetails

        d = dict(src_dict)
        name = d.pop("name")

        state = CheckState(d.pop("state"))

        ok = d.pop("ok")

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_key_age_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        key_age_seconds = _parse_key_age_seconds(d.pop("key_age_seconds", UNSET))

        def _parse_details(data: object) -> CatalogDetails | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                details_type_1 = CatalogDetails.from_dict(data)

                return details_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CatalogDetails | None | Unset, data)

        details = _parse_details(d.pop("details", UNSET))

        dependency_check = cls(
            name=name,
            state=state,
            ok=ok,
            error=error,
            key_age_seconds=key_age_seconds,
            details=details,
        )

        dependency_check.additional_properties = d
        return dependency_check

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
