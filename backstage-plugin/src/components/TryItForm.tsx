import { useState, type FormEvent } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import FormControl from '@material-ui/core/FormControl';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import FormGroup from '@material-ui/core/FormGroup';
import FormLabel from '@material-ui/core/FormLabel';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import type { ApiSummary, MintCredentialRequest } from '@gatekey/client';
import { formatDuration, ttlPresets } from '../lib/time';

/** Scopes, a TTL preset and a purpose; submits a mint request. */
export function TryItForm(props: {
  api: ApiSummary;
  busy: boolean;
  onSubmit: (request: MintCredentialRequest) => void;
  onCancel: () => void;
}) {
  const { api, busy } = props;
  const [scopes, setScopes] = useState<string[]>(() =>
    api.scopes.length === 1 ? [api.scopes[0]!.name] : [],
  );
  const [ttl, setTtl] = useState(api.default_ttl_seconds);
  const [purpose, setPurpose] = useState('');
  const toggle = (name: string) =>
    setScopes(current =>
      current.includes(name) ? current.filter(s => s !== name) : [...current, name],
    );
  return (
    <Box
      component="form"
      aria-label="Request a key"
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        props.onSubmit({ scopes, ttl_seconds: ttl, purpose: purpose.trim() || null });
      }}
    >
      <FormControl component="fieldset" margin="dense">
        <FormLabel component="legend">Scopes</FormLabel>
        <FormGroup row>
          {api.scopes.map(scope => (
            <FormControlLabel
              key={scope.name}
              control={
                <Checkbox
                  checked={scopes.includes(scope.name)}
                  onChange={() => toggle(scope.name)}
                  name={scope.name}
                />
              }
              label={scope.description ? `${scope.name} (${scope.description})` : scope.name}
            />
          ))}
        </FormGroup>
      </FormControl>
      <Box display="flex" style={{ gap: 16 }} flexWrap="wrap">
        <TextField
          id="gatekey-ttl"
          select
          label="Lifetime"
          value={ttl}
          onChange={event => setTtl(Number(event.target.value))}
          margin="dense"
          style={{ minWidth: 140 }}
        >
          {ttlPresets(api).map(seconds => (
            <MenuItem key={seconds} value={seconds}>
              {formatDuration(seconds)}
            </MenuItem>
          ))}
        </TextField>
        <TextField
          id="gatekey-purpose"
          label="Purpose"
          placeholder="What you will use it for (audited)"
          value={purpose}
          onChange={event => setPurpose(event.target.value)}
          margin="dense"
          style={{ flex: 1, minWidth: 200 }}
          inputProps={{ maxLength: 200 }}
        />
      </Box>
      <Box mt={1} display="flex" style={{ gap: 8 }}>
        <Button
          type="submit"
          variant="contained"
          color="primary"
          disabled={busy || scopes.length === 0}
        >
          {busy ? 'Requesting…' : 'Get a key'}
        </Button>
        <Button onClick={props.onCancel} disabled={busy}>
          Cancel
        </Button>
      </Box>
    </Box>
  );
}
