from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.credential_timeline import CredentialTimeline
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    calls: int | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["calls"] = calls

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/credentials/{id}/timeline".format(
            id=quote(str(id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> CredentialTimeline | Problem | None:
    if response.status_code == 200:
        response_200 = CredentialTimeline.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[CredentialTimeline | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    calls: int | Unset = UNSET,
) -> Response[CredentialTimeline | Problem]:
    """A credential's story in one ordered answer (owner or admin).

    Args:
        id (str):
        calls (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CredentialTimeline | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        calls=calls,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    calls: int | Unset = UNSET,
) -> CredentialTimeline | Problem | None:
    """A credential's story in one ordered answer (owner or admin).

    Args:
        id (str):
        calls (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CredentialTimeline | Problem
    """

    return sync_detailed(
        id=id,
        client=client,
        calls=calls,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    calls: int | Unset = UNSET,
) -> Response[CredentialTimeline | Problem]:
    """A credential's story in one ordered answer (owner or admin).

    Args:
        id (str):
        calls (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CredentialTimeline | Problem]
    """

    kwargs = _get_kwargs(
        id=id,
        calls=calls,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    calls: int | Unset = UNSET,
) -> CredentialTimeline | Problem | None:
    """A credential's story in one ordered answer (owner or admin).

    Args:
        id (str):
        calls (int | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CredentialTimeline | Problem
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            calls=calls,
        )
    ).parsed
