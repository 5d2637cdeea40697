import { renderInTestApp, registerMswTestHooks } from '@backstage/test-utils';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import type { Credential } from '@gatekey/client';
import { BACKSTAGE_TOKEN, PROXY, Providers, credential, problem } from '../__testUtils__/fixtures';
import { GatekeyCredentialsPage } from './CredentialsPage';

const server = setupServer();
registerMswTestHooks(server);

async function renderPage() {
  await renderInTestApp(
    <Providers>
      <GatekeyCredentialsPage />
    </Providers>,
  );
}

describe('GatekeyCredentialsPage', () => {
  it('lists active, expired and revoked credentials and revokes after confirmation', async () => {
    let items: Credential[] = [
      credential({
        id: 'c-active',
        purpose: 'load test',
        scopes: ['read', 'write'],
        usage: { calls: 12, errors: 2, last_used_at: '2026-11-25T10:07:00Z' },
      }),
      credential({ id: 'c-expired', state: 'expired', purpose: null }),
      credential({ id: 'c-revoked', state: 'revoked', revoked_at: '2026-11-25T10:05:00Z' }),
    ];
    const revoked: string[] = [];
    server.use(
      http.get(`${PROXY}/v1/credentials`, ({ request }) => {
        expect(request.headers.get('authorization')).toBe(`Bearer ${BACKSTAGE_TOKEN}`);
        return HttpResponse.json({ items });
      }),
      http.delete(`${PROXY}/v1/credentials/:id`, ({ params }) => {
        revoked.push(String(params.id));
        items = items.map(c => (c.id === params.id ? { ...c, state: 'revoked' as const } : c));
        return HttpResponse.json(items.find(c => c.id === params.id));
      }),
    );
    await renderPage();

    expect(await screen.findByText('My API credentials')).toBeInTheDocument();
    const active = await screen.findByTestId('credential-c-active');
    expect(within(active).getByText('active')).toBeInTheDocument();
    expect(within(active).getByText('read, write')).toBeInTheDocument();
    expect(within(active).getByText('load test')).toBeInTheDocument();
    expect(within(active).getByText(/^12 calls \(2 errors\), last /)).toBeInTheDocument();
    const expired = screen.getByTestId('credential-c-expired');
    expect(within(expired).getByText('expired')).toBeInTheDocument();
    expect(within(expired).getByText('never used')).toBeInTheDocument();
    const revokedRow = screen.getByTestId('credential-c-revoked');
    expect(within(revokedRow).getByText(/^revoked /)).toBeInTheDocument();
    // Only the active credential can be revoked.
    expect(screen.getAllByRole('button', { name: 'Revoke' })).toHaveLength(1);

    await userEvent.click(within(active).getByRole('button', { name: 'Revoke' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText('Revoke this credential?')).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());
    expect(revoked).toEqual([]);

    await userEvent.click(within(active).getByRole('button', { name: 'Revoke' }));
    await userEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Revoke' }));
    await waitFor(() =>
      expect(within(screen.getByTestId('credential-c-active')).getByText('revoked')).toBeInTheDocument(),
    );
    expect(revoked).toEqual(['c-active']);
    expect(screen.queryAllByRole('button', { name: 'Revoke' })).toHaveLength(0);
  });

  it('pages with the cursor Gatekey returns', async () => {
    const cursors: (string | null)[] = [];
    server.use(
      http.get(`${PROXY}/v1/credentials`, ({ request }) => {
        const cursor = new URL(request.url).searchParams.get('cursor');
        cursors.push(cursor);
        return cursor === 'page-2'
          ? HttpResponse.json({ items: [credential({ id: 'older' })] })
          : HttpResponse.json({ items: [credential({ id: 'newer' })], next_cursor: 'page-2' });
      }),
    );
    await renderPage();
    expect(await screen.findByTestId('credential-newer')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Previous page' })).toBeDisabled();

    await userEvent.click(screen.getByRole('button', { name: 'Next page' }));
    expect(await screen.findByTestId('credential-older')).toBeInTheDocument();
    expect(screen.getByText('Page 2')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Next page' })).toBeDisabled();

    await userEvent.click(screen.getByRole('button', { name: 'Previous page' }));
    expect(await screen.findByTestId('credential-newer')).toBeInTheDocument();
    expect(cursors).toEqual([null, 'page-2', null]);
  });

  it('shows a failed revoke in the dialog', async () => {
    server.use(
      http.get(`${PROXY}/v1/credentials`, () => HttpResponse.json({ items: [credential()] })),
      http.delete(`${PROXY}/v1/credentials/:id`, () =>
        HttpResponse.json(problem(502, 'kong_unavailable', 'Kong did not answer.'), { status: 502 }),
      ),
    );
    await renderPage();
    await userEvent.click(await screen.findByRole('button', { name: 'Revoke' }));
    await userEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Revoke' }));
    expect(await screen.findByText('Error: Gatekey is unavailable')).toBeInTheDocument();
    expect(screen.getByRole('dialog')).toBeInTheDocument();
  });

  it('explains a 403 listing credentials, and an empty list', async () => {
    server.use(
      http.get(`${PROXY}/v1/credentials`, () =>
        HttpResponse.json(problem(403, 'forbidden', 'Listing is not allowed.'), { status: 403 }),
      ),
    );
    await renderPage();
    expect(await screen.findByText('Error: Not allowed')).toBeInTheDocument();

    server.use(http.get(`${PROXY}/v1/credentials`, () => HttpResponse.json({ items: [] })));
    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByText(/You have no API credentials yet/)).toBeInTheDocument();
  });
});
