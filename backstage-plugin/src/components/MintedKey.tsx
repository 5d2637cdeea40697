import { useState } from 'react';
import { CodeSnippet, CopyTextButton } from '@backstage/core-components';
import { Box, Flex, Text } from '@backstage/ui';
import useInterval from 'react-use/esm/useInterval';
import type { MintedCredential } from '@gatekey/client';
import { formatCountdown } from '../lib/time';

/** The key's box, drawn with Backstage UI's theme variables. */
const keyStyle = {
  fontFamily: 'var(--bui-font-monospace, monospace)',
  wordBreak: 'break-all',
  padding: 'var(--bui-space-2)',
  background: 'var(--bui-bg-neutral-2)',
  borderRadius: 'var(--bui-radius-2)',
  flex: 1,
} as const;

/** A shell-quoted single-quoted string. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The key, shown once, with what is needed to use it and a live countdown to its expiry. */
export function MintedKey(props: { minted: MintedCredential }) {
  const { minted } = props;
  const expiresAt = new Date(minted.expires_at);
  const [now, setNow] = useState(() => new Date());
  const expired = now >= expiresAt;
  useInterval(() => setNow(new Date()), expired ? null : 1000);
  const curl = `curl -H ${quote(`${minted.header_name}: ${minted.key}`)} ${quote(minted.gateway_url)}`;
  return (
    <Box data-testid="gatekey-minted">
      <Text as="p" variant="body-medium" weight="bold">
        Your key (shown once: copy it now)
      </Text>
      <Flex align="center" my="1">
        <code style={keyStyle} data-testid="gatekey-key">
          {minted.key}
        </code>
        <CopyTextButton text={minted.key} tooltipText="Key copied" aria-label="Copy key" />
      </Flex>
      <Text as="p" variant="body-medium">
        Header: <code data-testid="gatekey-header">{minted.header_name}</code>
      </Text>
      <Text as="p" variant="body-medium">
        Gateway: <code data-testid="gatekey-gateway">{minted.gateway_url}</code>
      </Text>
      <Text as="p" variant="body-medium" data-testid="gatekey-countdown" role="timer">
        {expired
          ? 'Expired: the gateway no longer accepts this key.'
          : `Expires in ${formatCountdown(expiresAt, now)}`}
      </Text>
      <Box mt="2" data-testid="gatekey-curl">
        <CodeSnippet text={curl} language="bash" showCopyCodeButton wrapLongLines />
      </Box>
    </Box>
  );
}
