import { useState } from 'react';
import { Content, Header, Page, Progress } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import {
  Button,
  Cell,
  Column,
  Dialog,
  DialogBody,
  DialogFooter,
  DialogHeader,
  Flex,
  Row,
  TableBody,
  TableHeader,
  TableRoot,
  Text,
} from '@backstage/ui';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import type { Credential, EffectiveState } from '@gatekey/client';
import { gatekeyApiRef } from '../api/GatekeyApi';
import { forgetKey } from '../lib/keyStore';
import { formatTimestamp } from '../lib/time';
import { describeUsage } from '../lib/usage';
import { GatekeyErrorPanel } from './ErrorPanel';

/** How each state reads in the table: live keys stand out, refused ones warn. */
const STATE_COLORS: Record<EffectiveState, 'success' | 'secondary' | 'danger'> = {
  active: 'success',
  pending: 'secondary',
  expired: 'secondary',
  revoked: 'danger',
  failed: 'danger',
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
    <Dialog
      isOpen
      onOpenChange={open => {
        if (!open && !busy) props.onClose();
      }}
    >
      <DialogHeader>Revoke this credential?</DialogHeader>
      <DialogBody>
        <Text as="p" variant="body-medium">
          The gateway will refuse the key of credential {credential.id} for {credential.api_id} (
          {credential.scopes.join(', ')}) at once. This cannot be undone.
        </Text>
        {error !== undefined && <GatekeyErrorPanel error={error} />}
      </DialogBody>
      <DialogFooter>
        <Button variant="secondary" onPress={props.onClose} isDisabled={busy}>
          Cancel
        </Button>
        <Button variant="primary" destructive onPress={revoke} isDisabled={busy}>
          {busy ? 'Revoking…' : 'Revoke'}
        </Button>
      </DialogFooter>
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
        <Text as="p" variant="body-large">
          You have no API credentials yet. Use “Try it” on an API’s page to get one.
        </Text>
      ) : (
        <TableRoot aria-label="My API credentials">
          <TableHeader>
            <Column isRowHeader>API</Column>
            <Column>State</Column>
            <Column>Scopes</Column>
            <Column>Created</Column>
            <Column>Expires</Column>
            <Column>Purpose</Column>
            <Column>Use</Column>
            <Column aria-label="Actions">{null}</Column>
          </TableHeader>
          <TableBody>
            {items.map(credential => (
              <Row key={credential.id} id={credential.id} data-testid={`credential-${credential.id}`}>
                <Cell>{credential.api_id}</Cell>
                <Cell>
                  <Text variant="body-medium" weight="bold" color={STATE_COLORS[credential.state]}>
                    {credential.state}
                  </Text>
                </Cell>
                <Cell>{credential.scopes.join(', ')}</Cell>
                <Cell>{formatTimestamp(credential.issued_at)}</Cell>
                <Cell>
                  {credential.revoked_at
                    ? `revoked ${formatTimestamp(credential.revoked_at)}`
                    : formatTimestamp(credential.expires_at)}
                </Cell>
                <Cell>{credential.purpose ?? ''}</Cell>
                <Cell>
                  <Text
                    variant="body-medium"
                    color={credential.usage.errors > 0 ? 'danger' : undefined}
                  >
                    {describeUsage(credential.usage)}
                  </Text>
                </Cell>
                <Cell>
                  {credential.state === 'active' && (
                    <Button
                      size="small"
                      variant="secondary"
                      destructive
                      onPress={() => setRevoking(credential)}
                    >
                      Revoke
                    </Button>
                  )}
                </Cell>
              </Row>
            ))}
          </TableBody>
        </TableRoot>
      )}
      <Flex mt="4" align="center" gap="2">
        <Button
          variant="secondary"
          isDisabled={cursors.length <= 1 || page.loading}
          onPress={() => setCursors(current => current.slice(0, -1))}
        >
          Previous page
        </Button>
        <Text variant="body-medium">Page {cursors.length}</Text>
        <Button
          variant="secondary"
          isDisabled={!next || page.loading}
          onPress={() => setCursors(current => [...current, next])}
        >
          Next page
        </Button>
      </Flex>
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
