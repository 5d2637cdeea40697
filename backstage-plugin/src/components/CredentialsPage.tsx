import { useState } from 'react';
import { Content, Header, Page, Progress } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';
import Paper from '@material-ui/core/Paper';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import type { Credential, EffectiveState } from '@gatekey/client';
import { gatekeyApiRef } from '../api/GatekeyApi';
import { forgetKey } from '../lib/keyStore';
import { formatTimestamp } from '../lib/time';
import { GatekeyErrorPanel } from './ErrorPanel';

const STATE_COLORS: Record<EffectiveState, 'primary' | 'default' | 'secondary'> = {
  active: 'primary',
  pending: 'default',
  expired: 'default',
  revoked: 'secondary',
  failed: 'secondary',
};

function RevokeDialog(props: {
  credential: Credential;
  onClose: () => void;
  onRevoked: () => void;
}) {
  const { credential } = props;
  const gatekey = useApi(gatekeyApiRef);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const revoke = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await gatekey.revokeCredential(credential.id);
      forgetKey(credential.api_id);
      props.onRevoked();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog open onClose={busy ? undefined : props.onClose} aria-labelledby="gatekey-revoke-title">
      <DialogTitle id="gatekey-revoke-title">Revoke this credential?</DialogTitle>
      <DialogContent>
        <DialogContentText>
          The gateway will refuse the key of credential {credential.id} for {credential.api_id} (
          {credential.scopes.join(', ')}) at once. This cannot be undone.
        </DialogContentText>
        {error !== undefined && <GatekeyErrorPanel error={error} />}
      </DialogContent>
      <DialogActions>
        <Button onClick={props.onClose} disabled={busy}>
          Cancel
        </Button>
        <Button onClick={revoke} color="secondary" variant="contained" disabled={busy}>
          {busy ? 'Revoking…' : 'Revoke'}
        </Button>
      </DialogActions>
    </Dialog>
  );
}

/** The signed-in user's credentials, a page at a time, with revoke. */
export function CredentialsContent(props: { pageSize?: number }) {
  const pageSize = props.pageSize ?? 20;
  const gatekey = useApi(gatekeyApiRef);
  // Cursors of the pages before the current one; the current page's cursor is the last one.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const page = useAsyncRetry(
    () => gatekey.listCredentials({ cursor, limit: pageSize }),
    [gatekey, cursor, pageSize],
  );
  const [revoking, setRevoking] = useState<Credential>();

  if (page.loading && !page.value) return <Progress />;
  if (page.error) return <GatekeyErrorPanel error={page.error} onRetry={page.retry} />;
  const items = page.value?.items ?? [];
  const next = page.value?.next_cursor ?? undefined;

  return (
    <>
      {items.length === 0 ? (
        <Typography variant="body1">
          You have no API credentials yet. Use “Try it” on an API’s page to get one.
        </Typography>
      ) : (
        <Paper>
          <Table size="small" aria-label="My API credentials">
            <TableHead>
              <TableRow>
                <TableCell>API</TableCell>
                <TableCell>State</TableCell>
                <TableCell>Scopes</TableCell>
                <TableCell>Created</TableCell>
                <TableCell>Expires</TableCell>
                <TableCell>Purpose</TableCell>
                <TableCell />
              </TableRow>
            </TableHead>
            <TableBody>
              {items.map(credential => (
                <TableRow key={credential.id} data-testid={`credential-${credential.id}`}>
                  <TableCell>{credential.api_id}</TableCell>
                  <TableCell>
                    <Chip
                      size="small"
                      label={credential.state}
                      color={STATE_COLORS[credential.state]}
                    />
                  </TableCell>
                  <TableCell>{credential.scopes.join(', ')}</TableCell>
                  <TableCell>{formatTimestamp(credential.issued_at)}</TableCell>
                  <TableCell>
                    {credential.revoked_at
                      ? `revoked ${formatTimestamp(credential.revoked_at)}`
                      : formatTimestamp(credential.expires_at)}
                  </TableCell>
                  <TableCell>{credential.purpose ?? ''}</TableCell>
                  <TableCell align="right">
                    {credential.state === 'active' && (
                      <Button size="small" color="secondary" onClick={() => setRevoking(credential)}>
                        Revoke
                      </Button>
                    )}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Paper>
      )}
      <Box mt={2} display="flex" alignItems="center" style={{ gap: 8 }}>
        <Button
          disabled={cursors.length <= 1 || page.loading}
          onClick={() => setCursors(current => current.slice(0, -1))}
        >
          Previous page
        </Button>
        <Typography variant="body2">Page {cursors.length}</Typography>
        <Button
          disabled={!next || page.loading}
          onClick={() => setCursors(current => [...current, next])}
        >
          Next page
        </Button>
      </Box>
      {revoking && (
        <RevokeDialog
          credential={revoking}
          onClose={() => setRevoking(undefined)}
          onRevoked={() => {
            setRevoking(undefined);
            page.retry();
          }}
        />
      )}
    </>
  );
}

/** The "My API credentials" page with its own header (legacy app routes). */
export function GatekeyCredentialsPage() {
  return (
    <Page themeId="tool">
      <Header title="My API credentials" subtitle="Short-lived keys issued to you by Gatekey" />
      <Content>
        <CredentialsContent />
      </Content>
    </Page>
  );
}
