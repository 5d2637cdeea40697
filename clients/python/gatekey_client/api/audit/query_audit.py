import datetime
from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.audit_action import AuditAction
from ...models.audit_page import AuditPage
from ...models.decision import Decision
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    issuer: str | Unset = UNSET,
    subject: str | Unset = UNSET,
    api_id: str | Unset = UNSET,
    issuance_id: str | Unset = UNSET,
    decision: Decision | Unset = UNSET,
    action: AuditAction | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    job_id: str | Unset = UNSET,
    owner_issuer: str | Unset = UNSET,
    owner_subject: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["issuer"] = issuer

    params["subject"] = subject

    params["api_id"] = api_id

    params["issuance_id"] = issuance_id

    json_decision: str | Unset = UNSET
    if not isinstance(decision, Unset):
        json_decision = decision.value

    params["decision"] = json_decision

    json_action: str | Unset = UNSET
    if not isinstance(action, Unset):
        json_action = action.value

    params["action"] = json_action

    json_from_: str | Unset = UNSET
    if not isinstance(from_, Unset):
        json_from_ = from_.isoformat()
    params["from"] = json_from_

    json_to: str | Unset = UNSET
    if not isinstance(to, Unset):
        json_to = to.isoformat()
    params["to"] = json_to

    params["job_id"] = job_id

    params["owner_issuer"] = owner_issuer

    params["owner_subject"] = owner_subject

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/audit",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AuditPage | Problem | None:
    if response.status_code == 200:
        response_200 = AuditPage.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[AuditPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    issuer: str | Unset = UNSET,
    subject: str | Unset = UNSET,
    api_id: str | Unset = UNSET,
    issuance_id: str | Unset = UNSET,
    decision: Decision | Unset = UNSET,
    action: AuditAction | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    job_id: str | Unset = UNSET,
    owner_issuer: str | Unset = UNSET,
    owner_subject: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[AuditPage | Problem]:
    """Query the audit trail (admins only).

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        issuance_id (str | Unset):
        decision (Decision | Unset): What Gatekey decided.
        action (AuditAction | Unset): What was attempted or what happened.
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        job_id (str | Unset):
        owner_issuer (str | Unset):
        owner_subject (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | Problem]
    """

    kwargs = _get_kwargs(
        issuer=issuer,
        subject=subject,
        api_id=api_id,
        issuance_id=issuance_id,
        decision=decision,
        action=action,
        from_=from_,
        to=to,
        job_id=job_id,
        owner_issuer=owner_issuer,
        owner_subject=owner_subject,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    issuer: str | Unset = UNSET,
    subject: str | Unset = UNSET,
    api_id: str | Unset = UNSET,
    issuance_id: str | Unset = UNSET,
    decision: Decision | Unset = UNSET,
    action: AuditAction | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    job_id: str | Unset = UNSET,
    owner_issuer: str | Unset = UNSET,
    owner_subject: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> AuditPage | Problem | None:
    """Query the audit trail (admins only).

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        issuance_id (str | Unset):
        decision (Decision | Unset): What Gatekey decided.
        action (AuditAction | Unset): What was attempted or what happened.
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        job_id (str | Unset):
        owner_issuer (str | Unset):
        owner_subject (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | Problem
    """

    return sync_detailed(
        client=client,
        issuer=issuer,
        subject=subject,
        api_id=api_id,
        issuance_id=issuance_id,
        decision=decision,
        action=action,
        from_=from_,
        to=to,
        job_id=job_id,
        owner_issuer=owner_issuer,
        owner_subject=owner_subject,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    issuer: str | Unset = UNSET,
    subject: str | Unset = UNSET,
    api_id: str | Unset = UNSET,
    issuance_id: str | Unset = UNSET,
    decision: Decision | Unset = UNSET,
    action: AuditAction | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    job_id: str | Unset = UNSET,
    owner_issuer: str | Unset = UNSET,
    owner_subject: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[AuditPage | Problem]:
    """Query the audit trail (admins only).

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        issuance_id (str | Unset):
        decision (Decision | Unset): What Gatekey decided.
        action (AuditAction | Unset): What was attempted or what happened.
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        job_id (str | Unset):
        owner_issuer (str | Unset):
        owner_subject (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | Problem]
    """

    kwargs = _get_kwargs(
        issuer=issuer,
        subject=subject,
        api_id=api_id,
        issuance_id=issuance_id,
        decision=decision,
        action=action,
        from_=from_,
        to=to,
        job_id=job_id,
        owner_issuer=owner_issuer,
        owner_subject=owner_subject,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    issuer: str | Unset = UNSET,
    subject: str | Unset = UNSET,
    api_id: str | Unset = UNSET,
    issuance_id: str | Unset = UNSET,
    decision: Decision | Unset = UNSET,
    action: AuditAction | Unset = UNSET,
    from_: datetime.datetime | Unset = UNSET,
    to: datetime.datetime | Unset = UNSET,
    job_id: str | Unset = UNSET,
    owner_issuer: str | Unset = UNSET,
    owner_subject: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> AuditPage | Problem | None:
    """Query the audit trail (admins only).

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        issuance_id (str | Unset):
        decision (Decision | Unset): What Gatekey decided.
        action (AuditAction | Unset): What was attempted or what happened.
        from_ (datetime.datetime | Unset):
        to (datetime.datetime | Unset):
        job_id (str | Unset):
        owner_issuer (str | Unset):
        owner_subject (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            issuer=issuer,
            subject=subject,
            api_id=api_id,
            issuance_id=issuance_id,
            decision=decision,
            action=action,
            from_=from_,
            to=to,
            job_id=job_id,
            owner_issuer=owner_issuer,
            owner_subject=owner_subject,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
