import { useState, type ReactNode } from 'react';
import { Progress } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import { Badge, Box, Button, Card, CardBody, CardHeader, Flex, Text } from '@backstage/ui';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import type { ApiSummary, MintCredentialRequest, MintedCredential } from '@gatekey/client';
import { gatekeyApiRef } from '../api/GatekeyApi';
import { findGatekeyApi, gatekeyApiId, isGatekeyAnnotated } from '../lib/entity';
import { holdMintedKey } from '../lib/keyStore';
import { formatDuration } from '../lib/time';
import { describeUsage } from '../lib/usage';
import { GatekeyErrorPanel } from './ErrorPanel';
import { MintedKey } from './MintedKey';
import { TryItForm } from './TryItForm';

type Step =
  | { kind: 'summary' }
  | { kind: 'form'; error?: unknown }
  | { kind: 'minting' }
  | { kind: 'minted'; minted: MintedCredential };

/** How many of the user's latest keys for the API the card lists. */
const KEYS_LISTED = 5;

/**
 * The signed-in user's latest keys for this API and what each was used for (calls, errors, last
 * use, or "never used"), as the gateway logged it. Shows nothing while loading or when the list
 * cannot be read: the card's purpose is trying the API, not this list.
 */
function YourKeys(props: { api: ApiSummary; refresh: number }) {
  const { api, refresh } = props;
  const gatekey = useApi(gatekeyApiRef);
  const keys = useAsyncRetry(
    () => gatekey.listCredentials({ apiId: api.id, limit: KEYS_LISTED }),
    [gatekey, api.id, refresh],
  );
  const items = keys.value?.items ?? [];
  if (items.length === 0) return null;
  return (
    <Box mt="3" aria-label="Your keys for this API" role="list">
      <Text as="p" variant="body-medium" weight="bold">
        Your latest keys
      </Text>
      {items.map(credential => (
        <Flex key={credential.id} gap="2" align="center" role="listitem">
          <Badge size="small">{credential.state}</Badge>
          <Text variant="body-medium">{credential.scopes.join(', ')}</Text>
          <Text variant="body-medium" color={credential.usage.errors > 0 ? 'danger' : undefined}>
            {describeUsage(credential.usage)}
          </Text>
        </Flex>
      ))}
    </Box>
  );
}

/** `group:default/payments-team` -> `payments-team`: the name people know a group by. */
function groupName(ref: string): string {
  const tail = ref.slice(ref.lastIndexOf('/') + 1);
  return tail.slice(tail.lastIndexOf(':') + 1) || ref;
}

/**
 * Which groups would let the user request the scopes they lack ("Ask to join payments-team to
 * request write"), when the policy marks the API discoverable; nothing otherwise, and nothing
 * while loading or when Gatekey cannot say: the policy decides what may be revealed.
 */
function HowToGetMore(props: { apiId: string }) {
  const { apiId } = props;
  const gatekey = useApi(gatekeyApiRef);
  const detail = useAsyncRetry(() => gatekey.getApi(apiId), [gatekey, apiId]);
  const lacking = (detail.value?.unavailable_scopes ?? []).filter(
    scope => scope.granted_by.length > 0,
  );
  if (lacking.length === 0) return null;
  return (
    <Box mt="2" role="list" aria-label="How to request more scopes">
      {lacking.map(scope => (
        <Text as="p" key={scope.name} variant="body-medium" role="listitem" title={scope.granted_by.join(', ')}>
          Ask to join {scope.granted_by.map(groupName).join(' or ')} to request {scope.name}
        </Text>
      ))}
    </Box>
  );
}

function TryIt(props: { api: ApiSummary }) {
  const { api } = props;
  const gatekey = useApi(gatekeyApiRef);
  const [step, setStep] = useState<Step>({ kind: 'summary' });
  const [mintCount, setMintCount] = useState(0);

  const mint = async (request: MintCredentialRequest) => {
    setStep({ kind: 'minting' });
    try {
      const minted = await gatekey.mintCredential(api.id, request);
      holdMintedKey(minted);
      setMintCount(count => count + 1);
      setStep({ kind: 'minted', minted });
    } catch (error) {
      setStep({ kind: 'form', error });
    }
  };

  return (
    <>
      <Text as="p" variant="body-large">
        You may try this API with a short-lived key.
      </Text>
      <Flex align="center" gap="1" my="2">
        <Text variant="body-medium">Scopes you may request:</Text>
        {api.scopes.map(scope => (
          <Badge key={scope.name} size="small" title={scope.description}>
            {scope.name}
          </Badge>
        ))}
      </Flex>
      <Text as="p" variant="body-medium">
        Longest lifetime: {formatDuration(api.max_ttl_seconds)} (default{' '}
        {formatDuration(api.default_ttl_seconds)})
      </Text>
      <HowToGetMore apiId={api.id} />
      {step.kind === 'summary' && (
        <Box mt="2">
          <Button variant="primary" onPress={() => setStep({ kind: 'form' })}>
            Try it
          </Button>
        </Box>
      )}
      {(step.kind === 'form' || step.kind === 'minting') && (
        <>
          {step.kind === 'form' && step.error !== undefined && (
            <GatekeyErrorPanel error={step.error} />
          )}
          <TryItForm
            api={api}
            busy={step.kind === 'minting'}
            onSubmit={mint}
            onCancel={() => setStep({ kind: 'summary' })}
          />
        </>
      )}
      {step.kind === 'minted' && (
        <>
          <MintedKey minted={step.minted} />
          <Box mt="2">
            <Button variant="secondary" onPress={() => setStep({ kind: 'form' })}>
              Get another key
            </Button>
          </Box>
        </>
      )}
      <YourKeys api={api} refresh={mintCount} />
    </>
  );
}

/**
 * The card on `kind: API` entity pages: whether the signed-in user may try the API, which scopes
 * and how long, and the "Try it" form that mints a key through the Backstage proxy.
 *
 * It is present only on APIs Gatekey serves: an entity with a `gatekey.dev/` annotation always
 * gets the card (which then explains a failure or a refusal), any other API entity only when
 * `GET /v1/apis` lists it; until that answer arrives, and when it fails, such an entity shows
 * nothing rather than a card about an API Gatekey may not know.
 */
export function GatekeyApiCard() {
  const { entity } = useEntity();
  const gatekey = useApi(gatekeyApiRef);
  const apis = useAsyncRetry(() => gatekey.listApis(), [gatekey]);
  const annotated = isGatekeyAnnotated(entity);

  let content: ReactNode;
  if (apis.loading) {
    if (!annotated) return null;
    content = <Progress />;
  } else if (apis.error) {
    if (!annotated) return null;
    content = <GatekeyErrorPanel error={apis.error} onRetry={apis.retry} />;
  } else {
    const api = findGatekeyApi(apis.value ?? [], entity);
    if (api) {
      content = <TryIt api={api} />;
    } else if (annotated) {
      content = (
        <>
          <Text as="p" variant="body-medium">
            Your groups may not request credentials for this API. Ask its owner for access.
          </Text>
          <HowToGetMore apiId={gatekeyApiId(entity)} />
        </>
      );
    } else {
      return null;
    }
  }
  return (
    <Card role="region" aria-labelledby="gatekey-try-it-title">
      <CardHeader>
        <Text as="h2" variant="title-small" id="gatekey-try-it-title">
          Try this API
        </Text>
      </CardHeader>
      <CardBody>{content}</CardBody>
    </Card>
  );
}
