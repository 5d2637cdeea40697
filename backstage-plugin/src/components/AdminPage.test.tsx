import { renderInTestApp, registerMswTestHooks } from '@backstage/test-utils';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import type { RevocationJobStatus } from '@gatekey/client';
import { BACKSTAGE_TOKEN, PROXY, Providers, credential, problem } from '../__testUtils__/fixtures';
import { GatekeyAdminPage } from './AdminPage';

const server = setupServer();
registerMswTestHooks(server);

async function renderPage(query = '') {
  await renderInTestApp(
    <Providers>
      <GatekeyAdminPage pollIntervalMs={5} />
    </Providers>,
    { routeEntries: [`/gatekey/admin${query}`] },
  );
}

function job(overrides: Partial<RevocationJobStatus>): RevocationJobStatus {
  return {
    id: '01JDQ3V7Z8K4M2N6P0R5S9T1W3',
    state: 'running',
    filter: { subject: 'user:default/jane' },
    reason: 'laptop stolen, INC-4711',
    operator: { issuer: 'http://backstage.test/api/auth', subject: 'user:default/admin' },
    created_at: '2026-11-25T10:00:00Z',
    ended_at: null,
    revoked: 0,
    failed: 0,
    remaining: 3,
    failures: [],
    ...overrides,
  };
}

async function fill(label: RegExp, text: string) {
  const field = screen.getByRole('textbox', { name: label });
  await userEvent.clear(field);
  await userEvent.type(field, text);
}

describe('GatekeyAdminPage', () => {
  it('shows the count, confirms it, revokes as one job and follows it to its end', async () => {
    const posted: unknown[] = [];
    const polls: RevocationJobStatus[] = [
      job({ revoked: 1, remaining: 2 }),
      job({
        state: 'done',
        revoked: 2,
        failed: 1,
        remaining: 0,
        ended_at: '2026-11-25T10:00:09Z',
        failures: [
          {
            credential_id: 'cred-3',
            reason: 'the Kong Admin API failed: 500 Internal Server Error',
            at: '2026-11-25T10:00:08Z',
          },
        ],
      }),
    ];
    server.use(
      http.post(`${PROXY}/v1/credentials/revocations`, async ({ request }) => {
        expect(request.headers.get('authorization')).toBe(`Bearer ${BACKSTAGE_TOKEN}`);
        const body = (await request.json()) as { dry_run?: boolean };
        posted.push(body);
        if (body.dry_run) {
          return HttpResponse.json({
            dry_run: true,
            count: 3,
            credentials: [
              credential({ id: 'cred-1', subject: 'user:default/jane', purpose: 'laptop script' }),
              credential({ id: 'cred-2', subject: 'user:default/jane', api_id: 'payments' }),
            ],
          });
        }
        return HttpResponse.json(job({}), {
          status: 202,
          headers: { Location: '/v1/credentials/revocations/01JDQ3V7Z8K4M2N6P0R5S9T1W3' },
        });
      }),
      http.get(`${PROXY}/v1/credentials/revocations/:id`, ({ params }) => {
        expect(params.id).toBe('01JDQ3V7Z8K4M2N6P0R5S9T1W3');
        return HttpResponse.json(polls.length > 1 ? polls.shift() : polls[0]);
      }),
    );
    await renderPage('?subject=user%3Adefault%2Fjane');

    // The query string fills the subject; the reason is required before anything is asked.
    expect(screen.getByRole('textbox', { name: /^Subject/ })).toHaveValue('user:default/jane');
    const find = screen.getByRole('button', { name: 'Find live credentials' });
    expect(find).toBeDisabled();
    await fill(/^Reason/, 'laptop stolen, INC-4711');
    await userEvent.click(find);

    expect(await screen.findByTestId('gatekey-admin-count')).toHaveTextContent(
      '3 live credentials',
    );
    expect(screen.getByText('The oldest 2 are listed.')).toBeInTheDocument();
    expect(screen.getByText('laptop script')).toBeInTheDocument();
    expect(screen.getByText('payments')).toBeInTheDocument();
    expect(posted).toEqual([
      {
        filter: { subject: 'user:default/jane', issuer: null, api_id: null },
        reason: 'laptop stolen, INC-4711',
        dry_run: true,
      },
    ]);

    // Cancelling the confirmation revokes nothing.
    await userEvent.click(screen.getByRole('button', { name: 'Revoke all 3' }));
    let dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText('Revoke 3 credentials?')).toBeInTheDocument();
    expect(
      within(dialog).getByText(/of user:default\/jane at every issuer, and of any credential/),
    ).toBeInTheDocument();
    expect(
      within(dialog).getByText('Reason, recorded with your name: laptop stolen, INC-4711'),
    ).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(posted).toHaveLength(1);

    await userEvent.click(screen.getByRole('button', { name: 'Revoke all 3' }));
    dialog = await screen.findByRole('dialog');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Revoke 3 credentials' }));

    const progress = await screen.findByTestId('gatekey-admin-job');
    expect(
      await within(progress).findByText('Done: 2 revoked, 1 failed', {}, { timeout: 3000 }),
    ).toBeInTheDocument();
    expect(
      within(progress).getByText('the Kong Admin API failed: 500 Internal Server Error'),
    ).toBeInTheDocument();
    expect(within(progress).getByText('cred-3')).toBeInTheDocument();
    expect(posted[1]).toEqual({
      filter: { subject: 'user:default/jane', issuer: null, api_id: null },
      reason: 'laptop stolen, INC-4711',
    });
    // The preview and its button are gone: the job is what is shown now.
    expect(screen.queryByRole('button', { name: /^Revoke all/ })).not.toBeInTheDocument();
  });

  it('tells a non-admin that Gatekey refused, and offers no revocation', async () => {
    server.use(
      http.post(`${PROXY}/v1/credentials/revocations`, () =>
        HttpResponse.json(problem(403, 'not_admin', 'Only Gatekey admins may do this.'), {
          status: 403,
        }),
      ),
    );
    await renderPage();
    await fill(/^Subject/, 'user:default/jane');
    await fill(/^Reason/, 'curious');
    await userEvent.click(screen.getByRole('button', { name: 'Find live credentials' }));
    expect(await screen.findByText('Error: Not allowed')).toBeInTheDocument();
    expect(screen.getByText('Only Gatekey admins may do this.')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^Revoke all/ })).not.toBeInTheDocument();
  });

  it('withdraws the count when the filter is edited, and sends the issuer and API given', async () => {
    const filters: unknown[] = [];
    server.use(
      http.post(`${PROXY}/v1/credentials/revocations`, async ({ request }) => {
        const body = (await request.json()) as { filter: unknown };
        filters.push(body.filter);
        return HttpResponse.json({ dry_run: true, count: 0, credentials: [] });
      }),
    );
    await renderPage('?subject=repo%3Aacme%2Fshop&issuer=https%3A%2F%2Fci.example.com&api=orders');
    await fill(/^Reason/, 'leaked CI token');
    await userEvent.click(screen.getByRole('button', { name: 'Find live credentials' }));
    expect(await screen.findByTestId('gatekey-admin-count')).toHaveTextContent(
      '0 live credentials',
    );
    // Nothing to revoke: the button is there but cannot start a job.
    expect(screen.getByRole('button', { name: 'Revoke all 0' })).toBeDisabled();
    expect(filters).toEqual([
      { subject: 'repo:acme/shop', issuer: 'https://ci.example.com', api_id: 'orders' },
    ]);

    await userEvent.type(screen.getByRole('textbox', { name: /^API/ }), 's');
    expect(screen.queryByTestId('gatekey-admin-count')).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^Revoke all/ })).not.toBeInTheDocument();
  });
});
