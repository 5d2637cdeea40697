import { useState, type ReactNode } from 'react';
import { InfoCard, Progress } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { useEntity } from '@backstage/plugin-catalog-react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Chip from '@material-ui/core/Chip';
import Typography from '@material-ui/core/Typography';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import type { ApiSummary, MintCredentialRequest, MintedCredential } from '@gatekey/client';
import { gatekeyApiRef } from '../api/GatekeyApi';
import { findGatekeyApi, isGatekeyAnnotated } from '../lib/entity';
import { holdMintedKey } from '../lib/keyStore';
import { formatDuration } from '../lib/time';
import { GatekeyErrorPanel } from './ErrorPanel';
import { MintedKey } from './MintedKey';
import { TryItForm } from './TryItForm';

type Step =
  | { kind: 'summary' }
  | { kind: 'form'; error?: unknown }
  | { kind: 'minting' }
  | { kind: 'minted'; minted: MintedCredential };

function TryIt(props: { api: ApiSummary }) {
  const { api } = props;
  const gatekey = useApi(gatekeyApiRef);
  const [step, setStep] = useState<Step>({ kind: 'summary' });

  const mint = async (request: MintCredentialRequest) => {
    setStep({ kind: 'minting' });
    try {
      const minted = await gatekey.mintCredential(api.id, request);
      holdMintedKey(minted);
      setStep({ kind: 'minted', minted });
    } catch (error) {
      setStep({ kind: 'form', error });
    }
  };

  return (
    <>
      <Typography variant="body1" gutterBottom>
        You may try this API with a short-lived key.
      </Typography>
      <Typography variant="body2" component="div">
        Scopes you may request:{' '}
        {api.scopes.map(scope => (
          <Chip
            key={scope.name}
            size="small"
            label={scope.name}
            title={scope.description}
            style={{ marginRight: 4 }}
          />
        ))}
      </Typography>
      <Typography variant="body2" gutterBottom>
        Longest lifetime: {formatDuration(api.max_ttl_seconds)} (default{' '}
        {formatDuration(api.default_ttl_seconds)})
      </Typography>
      {step.kind === 'summary' && (
        <Button variant="contained" color="primary" onClick={() => setStep({ kind: 'form' })}>
          Try it
        </Button>
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
          <Box mt={1}>
            <Button variant="outlined" onClick={() => setStep({ kind: 'form' })}>
              Get another key
            </Button>
          </Box>
        </>
      )}
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
        <Typography variant="body2">
          Your groups may not request credentials for this API. Ask its owner for access.
        </Typography>
      );
    } else {
      return null;
    }
  }
  return <InfoCard title="Try this API">{content}</InfoCard>;
}
