/**
 * The plugin's access to Gatekey: the generated client (`@gatekey/client`) pointed at the Backstage
 * proxy endpoint `/api/proxy/gatekey`, sending requests through Backstage's fetch API so the
 * signed-in user's Backstage token travels with them (the proxy forwards it to Gatekey).
 */
import {
  createApiRef,
  type DiscoveryApi,
  type FetchApi,
} from '@backstage/core-plugin-api';
import {
  createGatekeyClient,
  type ApiSummary,
  type BulkRevokePreview,
  type Credential,
  type CredentialPage,
  type GatekeyClient as GeneratedClient,
  type MintCredentialRequest,
  type MintedCredential,
  type Problem,
  type RevocationFilter,
  type RevocationJobStatus,
} from '@gatekey/client';

/** A Gatekey answer other than success, with the problem document when Gatekey sent one. */
export class GatekeyRequestError extends Error {
  readonly status: number;
  readonly problem?: Problem;
  /** Seconds from `Retry-After` (429 and 503), when present. */
  readonly retryAfterSeconds?: number;

  constructor(status: number, problem: Problem | undefined, retryAfter: string | null) {
    super(problem?.detail ?? `Gatekey answered HTTP ${status}`);
    this.name = 'GatekeyRequestError';
    this.status = status;
    this.problem = problem;
    const seconds = retryAfter === null ? NaN : Number(retryAfter);
    if (Number.isFinite(seconds)) this.retryAfterSeconds = seconds;
  }
}

/** What the card and the page need from Gatekey. */
export interface GatekeyApi {
  /** The APIs the signed-in user may request credentials for, with their scopes. */
  listApis(): Promise<ApiSummary[]>;
  /**
   * One API as the signed-in user sees it; on an API the policy marks discoverable, the scopes
   * they may not request and which groups grant each (`unavailable_scopes`). `undefined` when
   * Gatekey does not show the API to them.
   */
  getApi(id: string): Promise<ApiSummary | undefined>;
  /** Mints a credential; the key in the answer is shown once. */
  mintCredential(apiId: string, request: MintCredentialRequest): Promise<MintedCredential>;
  /** The signed-in user's credentials, newest first. */
  listCredentials(options?: {
    cursor?: string;
    limit?: number;
    apiId?: string;
  }): Promise<CredentialPage>;
  /** Revokes a credential: Kong refuses its key from then on. */
  revokeCredential(id: string): Promise<Credential>;
  /**
   * Admins: how many live credentials match `filter`, and the first of them; nothing is revoked.
   * Gatekey answers 403 to anyone else.
   */
  previewRevocation(filter: RevocationFilter, reason: string): Promise<BulkRevokePreview>;
  /** Admins: records a bulk revocation job for `filter` and starts it; its progress so far. */
  startRevocation(filter: RevocationFilter, reason: string): Promise<RevocationJobStatus>;
  /** Admins: where a bulk revocation job stands. */
  getRevocationJob(id: string): Promise<RevocationJobStatus>;
}

export const gatekeyApiRef = createApiRef<GatekeyApi>({ id: 'plugin.gatekey.service' });

/** The response parts of an openapi-fetch call this module looks at. */
type Answer<T> = { data?: T; error?: unknown; response: Response };

function unwrap<T>({ data, error, response }: Answer<T>): T {
  if (response.ok && data !== undefined) return data;
  const problem =
    error && typeof error === 'object' && 'status' in error ? (error as Problem) : undefined;
  throw new GatekeyRequestError(response.status, problem, response.headers.get('retry-after'));
}

/** {@link GatekeyApi} over the Backstage proxy. */
export class GatekeyProxyClient implements GatekeyApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;
  private readonly proxyPath: string;
  private client?: Promise<GeneratedClient>;

  /** `proxyPath` is the proxy endpoint's path, `/gatekey` as in the documented app-config. */
  constructor(options: { discoveryApi: DiscoveryApi; fetchApi: FetchApi; proxyPath?: string }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
    this.proxyPath = options.proxyPath ?? '/gatekey';
  }

  private gatekey(): Promise<GeneratedClient> {
    this.client ??= this.discoveryApi.getBaseUrl('proxy').then(proxy =>
      createGatekeyClient({
        baseUrl: `${proxy}${this.proxyPath}`,
        fetch: request => this.send(request),
      }),
    );
    return this.client;
  }

  /**
   * Hands openapi-fetch's Request to Backstage's fetch as URL and init: Backstage's fetch
   * middlewares each build a new Request from their input, which fails in browsers once the first
   * copy has taken over the body of a Request object ("Request object that has already been used").
   */
  private async send(request: Request): Promise<Response> {
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
    return this.fetchApi.fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: hasBody ? await request.text() : undefined,
      signal: request.signal,
    });
  }

  async listApis(): Promise<ApiSummary[]> {
    const gatekey = await this.gatekey();
    return unwrap(await gatekey.GET('/v1/apis')).items;
  }

  async getApi(id: string): Promise<ApiSummary | undefined> {
    const gatekey = await this.gatekey();
    const answer = await gatekey.GET('/v1/apis/{id}', { params: { path: { id } } });
    if (answer.response.status === 404) return undefined;
    return unwrap(answer);
  }

  async mintCredential(apiId: string, request: MintCredentialRequest): Promise<MintedCredential> {
    const gatekey = await this.gatekey();
    const idempotencyKey = globalThis.crypto?.randomUUID?.();
    return unwrap(
      await gatekey.POST('/v1/apis/{id}/credentials', {
        params: {
          path: { id: apiId },
          header: idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : undefined,
        },
        body: request,
      }),
    );
  }

  async listCredentials(
    options: { cursor?: string; limit?: number; apiId?: string } = {},
  ): Promise<CredentialPage> {
    const gatekey = await this.gatekey();
    return unwrap(
      await gatekey.GET('/v1/credentials', {
        params: {
          query: { cursor: options.cursor, limit: options.limit, api_id: options.apiId },
        },
      }),
    );
  }

  async revokeCredential(id: string): Promise<Credential> {
    const gatekey = await this.gatekey();
    return unwrap(await gatekey.DELETE('/v1/credentials/{id}', { params: { path: { id } } }));
  }

  async previewRevocation(filter: RevocationFilter, reason: string): Promise<BulkRevokePreview> {
    const gatekey = await this.gatekey();
    const answer = unwrap(
      await gatekey.POST('/v1/credentials/revocations', {
        body: { filter, reason, dry_run: true },
      }),
    );
    if (!('dry_run' in answer)) throw new Error('Gatekey started a job for a dry run');
    return answer;
  }

  async startRevocation(filter: RevocationFilter, reason: string): Promise<RevocationJobStatus> {
    const gatekey = await this.gatekey();
    const answer = unwrap(
      await gatekey.POST('/v1/credentials/revocations', { body: { filter, reason } }),
    );
    if ('dry_run' in answer) throw new Error('Gatekey answered a preview instead of a job');
    return answer;
  }

  async getRevocationJob(id: string): Promise<RevocationJobStatus> {
    const gatekey = await this.gatekey();
    return unwrap(
      await gatekey.GET('/v1/credentials/revocations/{id}', { params: { path: { id } } }),
    );
  }
}
