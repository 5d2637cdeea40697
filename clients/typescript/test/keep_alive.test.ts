// Answers given before Gatekey reads a request body keep pooled connections usable: about 200
// requests over one keep-alive pool, alternating refusals of requests with bodies (401 without or
// with a refused token, 404 for an unknown route, 405 for a method the route does not serve; bodies
// small and at the body limit) with ordinary requests, see no connection error. Checked with
// fetch (undici's pool) and with node:http's keep-alive Agent.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

const gatekeyUrl = process.env.GATEKEY_URL;
if (!gatekeyUrl) throw new Error('GATEKEY_URL is not set (run scripts/clients.sh)');

/** `http.body_limit_bytes` of the stack scripts/clients.sh starts (the default). */
const BODY_LIMIT = 64 * 1024;
const MINT = '/v1/apis/orders/credentials';

interface Round {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  expected: number;
}

/** 200 requests: 40 cycles of five, with bodies at the limit in every third cycle. */
function rounds(): Round[] {
  const json = { 'content-type': 'application/json' };
  return Array.from({ length: 40 }, (_, cycle): Round[] => {
    const body = '{"scopes": ["read"]}'.padEnd(cycle % 3 === 0 ? BODY_LIMIT : 64);
    return [
      { method: 'POST', path: MINT, headers: json, body, expected: 401 },
      { method: 'GET', path: '/healthz', headers: {}, expected: 200 },
      { method: 'POST', path: MINT, headers: { ...json, authorization: 'Bearer refused' }, body, expected: 401 },
      { method: 'POST', path: '/v1/nothing-here', headers: json, body, expected: 404 },
      { method: 'PUT', path: MINT, headers: json, body, expected: 405 },
    ];
  }).flat();
}

test('fetch over its keep-alive pool sees no connection error', async () => {
  const errors: string[] = [];
  for (const [number, round] of rounds().entries()) {
    try {
      const response: Response = await fetch(`${gatekeyUrl}${round.path}`, {
        method: round.method,
        headers: round.headers,
        body: round.body,
      });
      await response.arrayBuffer();
      assert.equal(response.status, round.expected, `${number} ${round.method} ${round.path}`);
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      errors.push(`${number} ${round.method} ${round.path}: ${String((error as Error).cause ?? error)}`);
    }
  }
  assert.deepEqual(errors, []);
});

/** One request over `agent`; resolves with the status once the response is read. */
function request(agent: http.Agent, round: Round): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      `${gatekeyUrl}${round.path}`,
      { method: round.method, headers: round.headers, agent },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(round.body);
  });
}

test("node:http's keep-alive agent sees no connection error", async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const errors: string[] = [];
  try {
    for (const [number, round] of rounds().entries()) {
      try {
        const status = await request(agent, round);
        assert.equal(status, round.expected, `${number} ${round.method} ${round.path}`);
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        errors.push(`${number} ${round.method} ${round.path}: ${String(error)}`);
      }
    }
  } finally {
    agent.destroy();
  }
  assert.deepEqual(errors, []);
});
