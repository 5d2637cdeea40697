/**
 * The Gatekey admin page (`/gatekey/admin`): incident response from Backstage. An admin names an
 * identity (a subject, optionally its issuer and one API), sees its live credentials and how many
 * there are (a dry run), revokes them all in one audited job after a confirmation that repeats
 * the count, and follows the job to its end. Gatekey decides who is an admin (the policy's
 * `admin_groups`); anyone else gets its 403, shown as such. The query string pre-fills the form
 * (`?subject=user:default/jane&issuer=…&api=…`), so an incident ticket can link straight here.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router-dom';
import { Content, Header, Page } from '@backstage/core-components';
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
  TextField,
} from '@backstage/ui';
import type { BulkRevokePreview, RevocationFilter, RevocationJobStatus } from '@gatekey/client';
import { gatekeyApiRef } from '../api/GatekeyApi';
import { formatTimestamp } from '../lib/time';
import { describeUsage } from '../lib/usage';
import { GatekeyErrorPanel } from './ErrorPanel';

/** A dry run's answer with the filter and reason it was asked for: what a confirmation revokes. */
interface Preview {
  filter: RevocationFilter;
  reason: string;
  answer: BulkRevokePreview;
}

/** "user:default/jane at https://idp…, for orders": the identity a filter names, in words. */
function describeFilter(filter: RevocationFilter): string {
  const at = filter.issuer ? ` at ${filter.issuer}` : ' at every issuer';
  const api = filter.api_id ? `, for ${filter.api_id}` : '';
  return `${filter.subject}${at}${api}`;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** Subject, issuer, API and reason; submits a dry run. */
function IdentityForm(props: {
  busy: boolean;
  onSubmit: (filter: RevocationFilter, reason: string) => void;
  onChange: () => void;
}) {
  const [params] = useSearchParams();
  const [subject, setSubject] = useState(params.get('subject') ?? '');
  const [issuer, setIssuer] = useState(params.get('issuer') ?? '');
  const [apiId, setApiId] = useState(params.get('api') ?? '');
  const [reason, setReason] = useState('');
  const edit = (set: (value: string) => void) => (value: string) => {
    set(value);
    props.onChange();
  };
  const complete = subject.trim() !== '' && reason.trim() !== '';
  return (
    <form
      aria-label="Find an identity's credentials"
      onSubmit={(event: FormEvent) => {
        event.preventDefault();
        if (!complete) return;
        props.onSubmit(
          {
            subject: subject.trim(),
            issuer: issuer.trim() || null,
            api_id: apiId.trim() || null,
          },
          reason.trim(),
        );
      }}
    >
      <Flex gap="4" align="end" style={{ flexWrap: 'wrap' }}>
        <TextField
          id="gatekey-admin-subject"
          label="Subject"
          description="As in the token, e.g. user:default/jane"
          value={subject}
          onChange={edit(setSubject)}
          maxLength={512}
          isRequired
          style={{ flex: 2, minWidth: 260 }}
        />
        <TextField
          id="gatekey-admin-issuer"
          label="Issuer"
          description="Empty: this subject at every issuer"
          value={issuer}
          onChange={edit(setIssuer)}
          maxLength={512}
          style={{ flex: 2, minWidth: 220 }}
        />
        <TextField
          id="gatekey-admin-api"
          label="API"
          description="Empty: every API"
          value={apiId}
          onChange={edit(setApiId)}
          maxLength={512}
          style={{ flex: 1, minWidth: 120 }}
        />
      </Flex>
      <Flex gap="4" align="end" mt="2" style={{ flexWrap: 'wrap' }}>
        <TextField
          id="gatekey-admin-reason"
          label="Reason"
          description="Recorded in the audit trail with your name"
          placeholder="laptop stolen, INC-4711"
          value={reason}
          onChange={edit(setReason)}
          maxLength={500}
          isRequired
          style={{ flex: 1, minWidth: 260 }}
        />
        <Button type="submit" variant="primary" isDisabled={props.busy || !complete}>
          {props.busy ? 'Looking…' : 'Find live credentials'}
        </Button>
      </Flex>
    </form>
  );
}

/** The dry run: the count and the first credentials (oldest first). */
function PreviewTable(props: { preview: BulkRevokePreview }) {
  const { count, credentials } = props.preview;
  return (
    <>
      <Text as="p" variant="body-large" weight="bold" data-testid="gatekey-admin-count">
        {plural(count, 'live credential', 'live credentials')}
      </Text>
      {credentials.length < count && (
        <Text as="p" variant="body-medium" color="secondary">
          The oldest {credentials.length} are listed.
        </Text>
      )}
      {credentials.length > 0 && (
        <TableRoot aria-label="Live credentials of this identity">
          <TableHeader>
            <Column isRowHeader>API</Column>
            <Column>Scopes</Column>
            <Column>Issuer</Column>
            <Column>Created</Column>
            <Column>Expires</Column>
            <Column>Purpose</Column>
            <Column>Use</Column>
          </TableHeader>
          <TableBody>
            {credentials.map(credential => (
              <Row key={credential.id} id={credential.id}>
                <Cell>{credential.api_id}</Cell>
                <Cell>{credential.scopes.join(', ')}</Cell>
                <Cell>{credential.issuer}</Cell>
                <Cell>{formatTimestamp(credential.issued_at)}</Cell>
                <Cell>{formatTimestamp(credential.expires_at)}</Cell>
                <Cell>{credential.purpose ?? ''}</Cell>
                <Cell>{describeUsage(credential.usage)}</Cell>
              </Row>
            ))}
          </TableBody>
        </TableRoot>
      )}
    </>
  );
}

/** The confirmation, which repeats the count, the identity and the reason before anything runs. */
function ConfirmDialog(props: {
  preview: Preview;
  onClose: () => void;
  onStarted: (job: RevocationJobStatus) => void;
}) {
  const { filter, reason, answer } = props.preview;
  const gatekey = useApi(gatekeyApiRef);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const count = plural(answer.count, 'credential', 'credentials');
  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      props.onStarted(await gatekey.startRevocation(filter, reason));
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
      <DialogHeader>Revoke {count}?</DialogHeader>
      <DialogBody>
        <Text as="p" variant="body-medium">
          The gateway will refuse the keys of {count} of {describeFilter(filter)}, and of any
          credential minted for this identity while the job runs. This cannot be undone.
        </Text>
        <Text as="p" variant="body-medium">
          Reason, recorded with your name: {reason}
        </Text>
        {error !== undefined && <GatekeyErrorPanel error={error} />}
      </DialogBody>
      <DialogFooter>
        <Button variant="secondary" onPress={props.onClose} isDisabled={busy}>
          Cancel
        </Button>
        <Button variant="primary" destructive onPress={start} isDisabled={busy}>
          {busy ? 'Starting…' : `Revoke ${count}`}
        </Button>
      </DialogFooter>
    </Dialog>
  );
}

/** A running job, polled until it is done, then its totals and failures with their reasons. */
function JobProgress(props: { job: RevocationJobStatus; pollIntervalMs: number }) {
  const gatekey = useApi(gatekeyApiRef);
  const [job, setJob] = useState(props.job);
  const [error, setError] = useState<unknown>();
  const [failedPolls, setFailedPolls] = useState(0);
  useEffect(() => {
    if (job.state === 'done') return undefined;
    const timer = setTimeout(() => {
      gatekey.getRevocationJob(job.id).then(
        next => {
          setError(undefined);
          setJob(next);
        },
        // A failed poll is shown and retried on the next tick: the job runs on regardless.
        e => {
          setError(e);
          setFailedPolls(count => count + 1);
        },
      );
    }, props.pollIntervalMs);
    return () => clearTimeout(timer);
  }, [gatekey, job, failedPolls, props.pollIntervalMs]);

  const handled = job.revoked + job.failed;
  const total = handled + job.remaining;
  return (
    <section aria-label="Revocation job" data-testid="gatekey-admin-job">
      <Text as="p" variant="body-large" weight="bold">
        {job.state === 'done'
          ? `Done: ${job.revoked} revoked, ${job.failed} failed`
          : `Revoking: ${job.revoked} revoked, ${job.failed} failed, ${job.remaining} remaining`}
      </Text>
      {job.state !== 'done' && (
        <progress aria-label="Revocation progress" value={handled} max={Math.max(total, 1)} />
      )}
      <Text as="p" variant="body-small" color="secondary">
        Job {job.id}, started {formatTimestamp(job.created_at)}
        {job.ended_at ? `, ended ${formatTimestamp(job.ended_at)}` : ''}. The audit trail has it as
        action bulk_revoke.
      </Text>
      {job.failures.length > 0 && (
        <TableRoot aria-label="Credentials the job could not revoke">
          <TableHeader>
            <Column isRowHeader>Credential</Column>
            <Column>Reason</Column>
            <Column>At</Column>
          </TableHeader>
          <TableBody>
            {job.failures.map(failure => (
              <Row key={failure.credential_id} id={failure.credential_id}>
                <Cell>{failure.credential_id}</Cell>
                <Cell>{failure.reason}</Cell>
                <Cell>{formatTimestamp(failure.at)}</Cell>
              </Row>
            ))}
          </TableBody>
        </TableRoot>
      )}
      {error !== undefined && <GatekeyErrorPanel error={error} />}
    </section>
  );
}

/** The form, the dry run's answer, the confirmation and the job, in that order. */
export function IdentityRevocation(props: { pollIntervalMs?: number }) {
  const gatekey = useApi(gatekeyApiRef);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [preview, setPreview] = useState<Preview>();
  const [confirming, setConfirming] = useState(false);
  const [job, setJob] = useState<RevocationJobStatus>();

  const find = async (filter: RevocationFilter, reason: string) => {
    setBusy(true);
    setError(undefined);
    setPreview(undefined);
    setJob(undefined);
    try {
      setPreview({ filter, reason, answer: await gatekey.previewRevocation(filter, reason) });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Flex direction="column" gap="4">
      {/* Any edit makes the shown count stale: it goes, so a confirmation never revokes for a
          filter other than the one whose count it showed. */}
      <IdentityForm busy={busy} onSubmit={find} onChange={() => setPreview(undefined)} />
      {error !== undefined && <GatekeyErrorPanel error={error} />}
      {preview && !job && (
        <>
          <PreviewTable preview={preview.answer} />
          <div>
            <Button
              variant="primary"
              destructive
              isDisabled={preview.answer.count === 0}
              onPress={() => setConfirming(true)}
            >
              {`Revoke all ${preview.answer.count}`}
            </Button>
          </div>
        </>
      )}
      {preview && confirming && (
        <ConfirmDialog
          preview={preview}
          onClose={() => setConfirming(false)}
          onStarted={started => {
            setConfirming(false);
            setJob(started);
          }}
        />
      )}
      {job && <JobProgress job={job} pollIntervalMs={props.pollIntervalMs ?? 1000} />}
    </Flex>
  );
}

/** The admin page with its own header. */
export function GatekeyAdminPage(props: { pollIntervalMs?: number }) {
  return (
    <Page themeId="tool">
      <Header
        title="Gatekey admin"
        subtitle="Revoke every live credential of a person, a pipeline or an API in one audited job"
      />
      <Content>
        <IdentityRevocation pollIntervalMs={props.pollIntervalMs} />
      </Content>
    </Page>
  );
}
