from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.credential_page import CredentialPage
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    issuer: str | Unset = UNSET,
    subject: str | Unset = UNSET,
    api_id: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["issuer"] = issuer

    params["subject"] = subject

    params["api_id"] = api_id

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/credentials",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CredentialPage | Problem | None:
    if response.status_code == 200:
        response_200 = CredentialPage.from_dict(response.json())

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
) -> Response[CredentialPage | Problem]:
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
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[CredentialPage | Problem]:
    """The caller's credentials (admins: anyone's, filtered), newest first.

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CredentialPage | Problem]
    """

    kwargs = _get_kwargs(
        issuer=issuer,
        subject=subject,
        api_id=api_id,
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
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> CredentialPage | Problem | None:
    """The caller's credentials (admins: anyone's, filtered), newest first.

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CredentialPage | Problem
    """

    return sync_detailed(
        client=client,
        issuer=issuer,
        subject=subject,
        api_id=api_id,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    issuer: str | Unset = UNSET,
    subject: str | Unset = UNSET,
    api_id: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[CredentialPage | Problem]:
    """The caller's credentials (admins: anyone's, filtered), newest first.

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CredentialPage | Problem]
    """

    kwargs = _get_kwargs(
        issuer=issuer,
        subject=subject,
        api_id=api_id,
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
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> CredentialPage | Problem | None:
    """The caller's credentials (admins: anyone's, filtered), newest first.

    Args:
        issuer (str | Unset):
        subject (str | Unset):
        api_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CredentialPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            issuer=issuer,
            subject=subject,
            api_id=api_id,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
