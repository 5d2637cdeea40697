import { useState, type FormEvent } from 'react';
import { Button, Checkbox, Flex, Select, Text, TextField } from '@backstage/ui';
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
  const toggle = (name: string, selected: boolean) =>
    setScopes(current =>
      selected ? [...current.filter(s => s !== name), name] : current.filter(s => s !== name),
    );
  return (
    <form
      aria-label="Request a key"
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        props.onSubmit({ scopes, ttl_seconds: ttl, purpose: purpose.trim() || null });
      }}
    >
      <fieldset style={{ border: 0, padding: 0, margin: '8px 0' }}>
        <Text as="legend" variant="body-small" color="secondary">
          Scopes
        </Text>
        <Flex gap="4" mt="1">
          {api.scopes.map(scope => (
            <Checkbox
              key={scope.name}
              name={scope.name}
              isSelected={scopes.includes(scope.name)}
              onChange={selected => toggle(scope.name, selected)}
            >
              {scope.description ? `${scope.name} (${scope.description})` : scope.name}
            </Checkbox>
          ))}
        </Flex>
      </fieldset>
      <Flex gap="4" align="end" style={{ flexWrap: 'wrap' }}>
        <Select
          id="gatekey-ttl"
          label="Lifetime"
          style={{ minWidth: 140 }}
          options={ttlPresets(api).map(seconds => ({
            value: String(seconds),
            label: formatDuration(seconds),
          }))}
          selectedKey={String(ttl)}
          onSelectionChange={key => {
            if (key !== null) setTtl(Number(key));
          }}
        />
        <TextField
          id="gatekey-purpose"
          label="Purpose"
          placeholder="What you will use it for (audited)"
          value={purpose}
          onChange={setPurpose}
          maxLength={200}
          style={{ flex: 1, minWidth: 200 }}
        />
      </Flex>
      <Flex mt="2" gap="2">
        <Button type="submit" variant="primary" isDisabled={busy || scopes.length === 0}>
          {busy ? 'Requesting…' : 'Get a key'}
        </Button>
        <Button variant="secondary" onPress={props.onCancel} isDisabled={busy}>
          Cancel
        </Button>
      </Flex>
    </form>
  );
}
