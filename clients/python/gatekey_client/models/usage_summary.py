from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="UsageSummary")


@_attrs_define
class UsageSummary:
    """A credential's calls, kept up to date as entries arrive.

    Attributes:
        calls (int): Every call counted, whatever its status.
        success (int):
        redirect (int):
        client_error (int):
        server_error (int):
        first_used_at (datetime.datetime | None | Unset):
        last_used_at (datetime.datetime | None | Unset):
    """

    calls: int
    success: int
    redirect: int
    client_error: int
    server_error: int
    first_used_at: datetime.datetime | None | Unset = UNSET
    last_used_at: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        calls = self.calls

        success = self.success

        redirect = self.redirect

        client_error = self.client_error

        server_error = self.server_error

        first_used_at: None | str | Unset
        if isinstance(self.first_used_at, Unset):
            first_used_at = UNSET
        elif isinstance(self.first_used_at, datetime.datetime):
            first_used_at = self.first_used_at.isoformat()
        else:
            first_used_at = self.first_used_at

        last_used_at: None | str | Unset
        if isinstance(self.last_used_at, Unset):
            last_used_at = UNSET
        elif isinstance(self.last_used_at, datetime.datetime):
            last_used_at = self.last_used_at.isoformat()
        else:
            last_used_at = self.last_used_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "calls": calls,
                "success": success,
                "redirect": redirect,
                "client_error": client_error,
                "server_error": server_error,
            }
        )
        if first_used_at is not UNSET:
            field_dict["first_used_at"] = first_used_at
        if last_used_at is not UNSET:
            field_dict["last_used_at"] = last_used_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        calls = d.pop("calls")

        success = d.pop("success")

        redirect = d.pop("redirect")

        client_error = d.pop("client_error")

        server_error = d.pop("server_error")

        def _parse_first_used_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                first_used_at_type_0 = datetime.datetime.fromisoformat(data)

                return first_used_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        first_used_at = _parse_first_used_at(d.pop("first_used_at", UNSET))

        def _parse_last_used_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_used_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_used_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_used_at = _parse_last_used_at(d.pop("last_used_at", UNSET))

        usage_summary = cls(
            calls=calls,
            success=success,
            redirect=redirect,
            client_error=client_error,
            server_error=server_error,
            first_used_at=first_used_at,
            last_used_at=last_used_at,
        )

        usage_summary.additional_properties = d
        return usage_summary

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
