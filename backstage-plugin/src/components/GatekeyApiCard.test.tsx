import { renderInTestApp, registerMswTestHooks } from '@backstage/test-utils';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { requestInterceptor } from '../requestInterceptor';
import {
  BACKSTAGE_TOKEN,
  PROXY,
  Providers,
  apiEntity,
  credential,
  minted,
  ordersApi,
  problem,
} from '../__testUtils__/fixtures';
import { GatekeyApiCard } from './GatekeyApiCard';

const server = setupServer();
registerMswTestHooks(server);

/** The user's keys for the API the card lists; none unless a test says otherwise. */
function listCredentials(items: ReturnType<typeof credential>[] = [], asked: string[] = []) {
  return http.get(`${PROXY}/v1/credentials`, ({ request }) => {
    asked.push(new URL(request.url).searchParams.get('api_id') ?? '');
    return HttpResponse.json({ items });
  });
}

/** One API's detail: not shown to the user (404) unless a test says otherwise. */
function getApi(answer?: object) {
  return http.get(`${PROXY}/v1/apis/:id`, () =>
    answer
      ? HttpResponse.json(answer)
      : HttpResponse.json(problem(404, 'not_found', 'no such API'), { status: 404 }),
  );
}

beforeEach(() => server.use(listCredentials(), getApi()));

function listApis(items = [ordersApi]) {
  return http.get(`${PROXY}/v1/apis`, ({ request }) => {
    expect(request.headers.get('authorization')).toBe(`Bearer ${BACKSTAGE_TOKEN}`);
    return HttpResponse.json({ items });
  });
}

async function renderCard(entity = apiEntity('orders')) {
  await renderInTestApp(
    <Providers entity={entity}>
      <GatekeyApiCard />
    </Providers>,
  );
}

describe('GatekeyApiCard', () => {
  it('shows the scopes and the longest lifetime, then mints and shows the key once', async () => {
    const requests: { body: unknown; idempotencyKey: string | null; auth: string | null }[] = [];
    server.use(
      listApis(),
      http.post(`${PROXY}/v1/apis/orders/credentials`, async ({ request }) => {
        requests.push({
          body: await request.json(),
          idempotencyKey: request.headers.get('idempotency-key'),
          auth: request.headers.get('authorization'),
        });
        return HttpResponse.json(minted(300), { status: 201 });
      }),
    );
    await renderCard();

    expect(await screen.findByText('You may try this API with a short-lived key.')).toBeInTheDocument();
    expect(screen.getByText('read')).toBeInTheDocument();
    expect(screen.getByText('write')).toBeInTheDocument();
    expect(screen.getByText(/Longest lifetime: 1h/)).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Try it' }));
    const getKey = screen.getByRole('button', { name: 'Get a key' });
    expect(getKey).toBeDisabled(); // two scopes: none is preselected
    await userEvent.click(screen.getByRole('checkbox', { name: /read/ }));
    await userEvent.type(screen.getByLabelText('Purpose'), 'contract test');
    await userEvent.click(getKey);

    expect(await screen.findByTestId('gatekey-key')).toHaveTextContent('gk_test_key_0123456789');
    expect(screen.getByTestId('gatekey-header')).toHaveTextContent('apikey');
    expect(screen.getByTestId('gatekey-gateway')).toHaveTextContent('http://gateway.test/orders');
    expect(screen.getByTestId('gatekey-countdown')).toHaveTextContent(/Expires in 0[45]:\d\d/);
    // The snippet's highlighter loads lazily.
    await waitFor(() =>
      expect(screen.getByTestId('gatekey-curl')).toHaveTextContent(
        "curl -H 'apikey: gk_test_key_0123456789' 'http://gateway.test/orders'",
      ),
    );
    expect(requests).toEqual([
      {
        body: { scopes: ['read'], ttl_seconds: 900, purpose: 'contract test' },
        idempotencyKey: expect.stringMatching(/^[0-9a-f-]{36}$/),
        auth: `Bearer ${BACKSTAGE_TOKEN}`,
      },
    ]);

    // Swagger UI requests for this API now carry the key; others do not.
    expect(requestInterceptor({ url: 'http://gateway.test/orders/1', headers: {} }).headers).toEqual({
      apikey: 'gk_test_key_0123456789',
    });
    expect(requestInterceptor({ url: 'http://elsewhere.test/', headers: {} }).headers).toEqual({});
  });

  it('lists the latest keys with their calls, errors and last use, or never used', async () => {
    const asked: string[] = [];
    server.use(
      listApis(),
      listCredentials(
        [
        credential({
          id: 'used',
          usage: { calls: 3, errors: 1, last_used_at: '2026-11-25T10:07:00Z' },
        }),
          credential({ id: 'unused', state: 'expired' }),
        ],
        asked,
      ),
    );
    await renderCard();
    const keys = await screen.findByRole('list', { name: 'Your keys for this API' });
    expect(keys).toHaveTextContent(/3 calls \(1 error\), last /);
    expect(keys).toHaveTextContent('never used');
    expect(keys).toHaveTextContent('expired');
    expect(asked).toEqual(['orders']);
  });

  it('counts down to expiry', async () => {
    server.use(
      listApis([{ ...ordersApi, scopes: [ordersApi.scopes[0]!] }]),
      http.post(`${PROXY}/v1/apis/orders/credentials`, () =>
        HttpResponse.json(minted(2), { status: 201 }),
      ),
    );
    await renderCard();
    await userEvent.click(await screen.findByRole('button', { name: 'Try it' }));
    await userEvent.click(screen.getByRole('button', { name: 'Get a key' })); // the only scope is preselected
    expect(await screen.findByTestId('gatekey-countdown')).toHaveTextContent(/Expires in 00:0[12]/);
    await waitFor(
      () => expect(screen.getByTestId('gatekey-countdown')).toHaveTextContent('Expired'),
      { timeout: 4000 },
    );
  });

  it.each([
    [403, problem(403, 'scope_not_allowed', 'Scope write is not open to your groups.'), {}, 'Not allowed', 'Scope write is not open to your groups.'],
    [429, problem(429, 'rate_limited', 'Slow down.'), { 'Retry-After': '7' }, 'Too many requests', 'Try again in 7 seconds.'],
    [502, problem(502, 'kong_unavailable', 'Kong did not answer.'), {}, 'Gatekey is unavailable', 'Gatekey answered 502: Kong did not answer.'],
  ])('explains a %s on mint and keeps the form', async (status, body, headers, title, message) => {
    server.use(
      listApis(),
      http.post(`${PROXY}/v1/apis/orders/credentials`, () =>
        HttpResponse.json(body, { status, headers: { 'content-type': 'application/problem+json', ...headers } }),
      ),
    );
    await renderCard();
    await userEvent.click(await screen.findByRole('button', { name: 'Try it' }));
    await userEvent.click(screen.getByRole('checkbox', { name: /read/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Get a key' }));
    expect(await screen.findByText(`Error: ${title}`)).toBeInTheDocument();
    expect(screen.getByText(new RegExp(message.replace(/[.]/g, '\\.')))).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Get a key' })).toBeEnabled();
    expect(screen.queryByTestId('gatekey-key')).not.toBeInTheDocument();
  });

  it('explains a 401 when listing APIs, with a retry', async () => {
    let calls = 0;
    server.use(
      http.get(`${PROXY}/v1/apis`, () => {
        calls += 1;
        return calls === 1
          ? HttpResponse.json(problem(401, 'invalid_token', 'The token has expired.'), { status: 401 })
          : HttpResponse.json({ items: [ordersApi] });
      }),
    );
    await renderCard(apiEntity('orders', { 'gatekey.dev/api-id': 'orders' }));
    expect(await screen.findByText('Error: Gatekey did not accept your sign-in')).toBeInTheDocument();
    expect(screen.getByText(/The token has expired\. Sign in to Backstage again/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByRole('button', { name: 'Try it' })).toBeInTheDocument();
  });

  it('explains a 503 without a problem body', async () => {
    server.use(http.get(`${PROXY}/v1/apis`, () => new HttpResponse('upstream down', { status: 503 })));
    await renderCard(apiEntity('orders', { 'gatekey.dev/api-id': 'orders' }));
    expect(await screen.findByText('Error: Gatekey is unavailable')).toBeInTheDocument();
    expect(screen.getByText(/Gatekey answered 503\. Try again in a moment\./)).toBeInTheDocument();
  });

  it('explains an unreachable proxy', async () => {
    server.use(http.get(`${PROXY}/v1/apis`, () => HttpResponse.error()));
    await renderCard(apiEntity('orders', { 'gatekey.dev/api-id': 'orders' }));
    expect(await screen.findByText('Error: Cannot reach Gatekey')).toBeInTheDocument();
  });

  it('matches by the gatekey.dev/api-id annotation, then by name', async () => {
    server.use(listApis([{ ...ordersApi, id: 'orders-v2', entity_ref: null }]));
    await renderCard(apiEntity('orders-api', { 'gatekey.dev/api-id': 'orders-v2' }));
    expect(await screen.findByRole('button', { name: 'Try it' })).toBeInTheDocument();
  });

  it('says when the user may not use a Gatekey API', async () => {
    server.use(listApis([]));
    await renderCard(apiEntity('billing', { 'gatekey.dev/kong-service': 'billing' }));
    expect(await screen.findByText(/Your groups may not request credentials for this API/)).toBeInTheDocument();
  });

  it('names the groups that grant the scopes the user lacks on a discoverable API', async () => {
    const readOnly = { ...ordersApi, scopes: [ordersApi.scopes[0]] };
    server.use(
      listApis([readOnly]),
      getApi({
        ...readOnly,
        unavailable_scopes: [
          {
            name: 'write',
            description: 'POST /orders',
            granted_by: ['group:default/payments-team', 'group:default/orders-team'],
          },
        ],
      }),
    );
    await renderCard();
    expect(
      await screen.findByText('Ask to join payments-team or orders-team to request write'),
    ).toBeInTheDocument();
  });

  it('explains an API the user may not request at all when it is discoverable', async () => {
    server.use(
      listApis([]),
      getApi({
        ...ordersApi,
        id: 'billing',
        scopes: [],
        unavailable_scopes: [
          { name: 'read', description: 'GET /invoices', granted_by: ['group:default/finance'] },
        ],
      }),
    );
    await renderCard(apiEntity('billing', { 'gatekey.dev/kong-service': 'billing' }));
    expect(await screen.findByText(/Your groups may not request credentials/)).toBeInTheDocument();
    expect(await screen.findByText('Ask to join finance to request read')).toBeInTheDocument();
  });

  it('reveals no group when the API is not discoverable', async () => {
    let asked = false;
    server.use(
      listApis([{ ...ordersApi, scopes: [ordersApi.scopes[0]] }]),
      http.get(`${PROXY}/v1/apis/:id`, () => {
        asked = true;
        return HttpResponse.json({ ...ordersApi, scopes: [ordersApi.scopes[0]] });
      }),
    );
    await renderCard();
    expect(await screen.findByText('You may try this API with a short-lived key.')).toBeInTheDocument();
    await waitFor(() => expect(asked).toBe(true));
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(screen.queryByText(/Ask to join/)).not.toBeInTheDocument();
  });

  it('is absent from an API that Gatekey does not serve', async () => {
    let listed = false;
    server.use(
      http.get(`${PROXY}/v1/apis`, () => {
        listed = true;
        return HttpResponse.json({ items: [ordersApi] });
      }),
    );
    await renderCard(apiEntity('petstore'));
    await waitFor(() => expect(listed).toBe(true));
    // Let the answer render before asserting that nothing did.
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(screen.queryByText('Try this API')).not.toBeInTheDocument();
    expect(screen.queryByRole('progressbar')).not.toBeInTheDocument();
  });

  it('is absent from an unannotated API while Gatekey cannot be reached', async () => {
    let listed = false;
    server.use(
      http.get(`${PROXY}/v1/apis`, () => {
        listed = true;
        return HttpResponse.error();
      }),
    );
    await renderCard(apiEntity('petstore'));
    await waitFor(() => expect(listed).toBe(true));
    await new Promise(resolve => setTimeout(resolve, 50));
    expect(screen.queryByText('Try this API')).not.toBeInTheDocument();
    expect(screen.queryByText(/Cannot reach Gatekey/)).not.toBeInTheDocument();
  });
});
