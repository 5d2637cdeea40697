import { useState } from 'react';
import { CodeSnippet, CopyTextButton } from '@backstage/core-components';
import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import useInterval from 'react-use/esm/useInterval';
import type { MintedCredential } from '@gatekey/client';
import { formatCountdown } from '../lib/time';

const useStyles = makeStyles(theme => ({
  key: {
    fontFamily: 'monospace',
    wordBreak: 'break-all',
    padding: theme.spacing(1),
    background: theme.palette.background.default,
    borderRadius: theme.shape.borderRadius,
    flex: 1,
  },
}));

/** A shell-quoted single-quoted string. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The key, shown once, with what is needed to use it and a live countdown to its expiry. */
export function MintedKey(props: { minted: MintedCredential }) {
  const { minted } = props;
  const classes = useStyles();
  const expiresAt = new Date(minted.expires_at);
  const [now, setNow] = useState(() => new Date());
  const expired = now >= expiresAt;
  useInterval(() => setNow(new Date()), expired ? null : 1000);
  const curl = `curl -H ${quote(`${minted.header_name}: ${minted.key}`)} ${quote(minted.gateway_url)}`;
  return (
    <Box data-testid="gatekey-minted">
      <Typography variant="subtitle2" gutterBottom>
        Your key (shown once: copy it now)
      </Typography>
      <Box display="flex" alignItems="center">
        <code className={classes.key} data-testid="gatekey-key">
          {minted.key}
        </code>
        <CopyTextButton text={minted.key} tooltipText="Key copied" aria-label="Copy key" />
      </Box>
      <Typography variant="body2">
        Header: <code data-testid="gatekey-header">{minted.header_name}</code>
      </Typography>
      <Typography variant="body2">
        Gateway: <code data-testid="gatekey-gateway">{minted.gateway_url}</code>
      </Typography>
      <Typography variant="body2" data-testid="gatekey-countdown" role="timer">
        {expired
          ? 'Expired: the gateway no longer accepts this key.'
          : `Expires in ${formatCountdown(expiresAt, now)}`}
      </Typography>
      <Box mt={1} data-testid="gatekey-curl">
        <CodeSnippet text={curl} language="bash" showCopyCodeButton wrapLongLines />
      </Box>
    </Box>
  );
}
