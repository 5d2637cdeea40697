from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.revocation_filter import RevocationFilter


T = TypeVar("T", bound="BulkRevokeRequest")


@_attrs_define
class BulkRevokeRequest:
    """What to revoke, and why.

    Example:
        {'filter': {'issuer': 'https://idp.example.com', 'subject': 'user:default/jane'}, 'reason': 'laptop stolen,
            INC-4711'}

    Attributes:
        reason (str): Why, for the audit trail. Example: laptop stolen, INC-4711.
        filter_ (RevocationFilter | Unset): Which credentials a job revokes: the `active` records matching every field
            that is set. A
            caller is (issuer, subject): a subject alone matches that string at every issuer.
        all_ (bool | Unset): Confirms that an empty filter means every live credential (422 `all_with_filter` with a
            non-empty filter).
        dry_run (bool | Unset): Only count and list what would be revoked.
    """

    reason: str
    filter_: RevocationFilter | Unset = UNSET
    all_: bool | Unset = UNSET
    dry_run: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        reason = self.reason

        filter_: dict[str, Any] | Unset = UNSET
        if not isinstance(self.filter_, Unset):
            filter_ = self.filter_.to_dict()

        all_ = self.all_

        dry_run = self.dry_run

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "reason": reason,
            }
        )
        if filter_ is not UNSET:
            field_dict["filter"] = filter_
        if all_ is not UNSET:
            field_dict["all"] = all_
        if dry_run is not UNSET:
            field_dict["dry_run"] = dry_run

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.revocation_filter import RevocationFilter

        d = dict(src_dict)
        reason = d.pop("reason")

        _filter_ = d.pop("filter", UNSET)
        filter_: RevocationFilter | Unset
        if isinstance(_filter_, Unset):
            filter_ = UNSET
        else:
            filter_ = RevocationFilter.from_dict(_filter_)

        all_ = d.pop("all", UNSET)

        dry_run = d.pop("dry_run", UNSET)

        bulk_revoke_request = cls(
            reason=reason,
            filter_=filter_,
            all_=all_,
            dry_run=dry_run,
        )

        return bulk_revoke_request
