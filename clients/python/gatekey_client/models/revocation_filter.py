from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="RevocationFilter")


@_attrs_define
class RevocationFilter:
    """Which credentials a job revokes: the `active` records matching every field that is set. A
    caller is (issuer, subject): a subject alone matches that string at every issuer.

        Attributes:
            issuer (None | str | Unset): The credentials' issuer URL (a credential's `issuer`). Example:
                https://idp.example.com.
            subject (None | str | Unset): The credentials' subject (a credential's `subject`). Example: user:default/jane.
            api_id (None | str | Unset): Credentials for this API. Example: orders.
            scope (None | str | Unset): Credentials granting this scope. Example: write.
            issued_before (datetime.datetime | None | Unset): Credentials issued strictly before this instant (RFC 3339).
            issued_after (datetime.datetime | None | Unset): Credentials issued at or after this instant (RFC 3339).
            granting_group (None | str | Unset): Credentials one of whose granting groups (the caller's groups that granted
                the scopes)
                is this group. Example: payments-team.
            policy_revision (None | str | Unset): Credentials minted under this policy revision.
    """

    issuer: None | str | Unset = UNSET
    subject: None | str | Unset = UNSET
    api_id: None | str | Unset = UNSET
    scope: None | str | Unset = UNSET
    issued_before: datetime.datetime | None | Unset = UNSET
    issued_after: datetime.datetime | None | Unset = UNSET
    granting_group: None | str | Unset = UNSET
    policy_revision: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        issuer: None | str | Unset
        if isinstance(self.issuer, Unset):
            issuer = UNSET
        else:
            issuer = self.issuer

        subject: None | str | Unset
        if isinstance(self.subject, Unset):
            subject = UNSET
        else:
            subject = self.subject

        api_id: None | str | Unset
        if isinstance(self.api_id, Unset):
            api_id = UNSET
        else:
            api_id = self.api_id

        scope: None | str | Unset
        if isinstance(self.scope, Unset):
            scope = UNSET
        else:
            scope = self.scope

        issued_before: None | str | Unset
        if isinstance(self.issued_before, Unset):
            issued_before = UNSET
        elif isinstance(self.issued_before, datetime.datetime):
            issued_before = self.issued_before.isoformat()
        else:
            issued_before = self.issued_before

        issued_after: None | str | Unset
        if isinstance(self.issued_after, Unset):
            issued_after = UNSET
        elif isinstance(self.issued_after, datetime.datetime):
            issued_after = self.issued_after.isoformat()
        else:
            issued_after = self.issued_after

        granting_group: None | str | Unset
        if isinstance(self.granting_group, Unset):
            granting_group = UNSET
        else:
            granting_group = self.granting_group

        policy_revision: None | str | Unset
        if isinstance(self.policy_revision, Unset):
            policy_revision = UNSET
        else:
            policy_revision = self.policy_revision

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if issuer is not UNSET:
            field_dict["issuer"] = issuer
        if subject is not UNSET:
            field_dict["subject"] = subject
        if api_id is not UNSET:
            field_dict["api_id"] = api_id
        if scope is not UNSET:
            field_dict["scope"] = scope
        if issued_before is not UNSET:
            field_dict["issued_before"] = issued_before
        if issued_after is not UNSET:
            field_dict["issued_after"] = issued_after
        if granting_group is not UNSET:
            field_dict["granting_group"] = granting_group
        if policy_revision is not UNSET:
            field_dict["policy_revision"] = policy_revision

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)

        def _parse_issuer(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        issuer = _parse_issuer(d.pop("issuer", UNSET))

        def _parse_subject(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        subject = _parse_subject(d.pop("subject", UNSET))

        def _parse_api_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        api_id = _parse_api_id(d.pop("api_id", UNSET))

        def _parse_scope(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        scope = _parse_scope(d.pop("scope", UNSET))

        def _parse_issued_before(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                issued_before_type_0 = datetime.datetime.fromisoformat(data)

                return issued_before_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        issued_before = _parse_issued_before(d.pop("issued_before", UNSET))

        def _parse_issued_after(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                issued_after_type_0 = datetime.datetime.fromisoformat(data)

                return issued_after_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        issued_after = _parse_issued_after(d.pop("issued_after", UNSET))

        def _parse_granting_group(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        granting_group = _parse_granting_group(d.pop("granting_group", UNSET))

        def _parse_policy_revision(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        policy_revision = _parse_policy_revision(d.pop("policy_revision", UNSET))

        revocation_filter = cls(
            issuer=issuer,
            subject=subject,
            api_id=api_id,
            scope=scope,
            issued_before=issued_before,
            issued_after=issued_after,
            granting_group=granting_group,
            policy_revision=policy_revision,
        )

        return revocation_filter
