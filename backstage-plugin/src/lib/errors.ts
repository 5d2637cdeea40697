/**
 * Turns a failed call into words: every error the card and the page can meet gets a title and a
 * message saying what happened and what to do, so neither ever renders blank.
 */
import { GatekeyRequestError } from '../api/GatekeyApi';

export interface ErrorDescription {
  title: string;
  message: string;
}

export function describeError(error: unknown): ErrorDescription {
  if (!(error instanceof GatekeyRequestError)) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      title: 'Cannot reach Gatekey',
      message: `The request through the Backstage proxy failed (${reason}). Check your connection and the proxy endpoint /gatekey.`,
    };
  }
  const detail = error.problem?.detail;
  const { status } = error;
  if (status === 401) {
    return {
      title: 'Gatekey did not accept your sign-in',
      message: `${detail ?? 'Your Backstage token was missing or not accepted.'} Sign in to Backstage again; if this persists, the proxy endpoint may not forward your token (credentials: forward).`,
    };
  }
  if (status === 403) {
    return {
      title: 'Not allowed',
      message: detail ?? 'Your groups do not allow this request.',
    };
  }
  if (status === 404) {
    return { title: 'Not found', message: detail ?? 'Gatekey does not know this API or credential.' };
  }
  if (status === 429) {
    const wait = error.retryAfterSeconds;
    return {
      title: 'Too many requests',
      message: `Gatekey is limiting your requests. Try again ${wait !== undefined ? `in ${wait} seconds` : 'in a moment'}.`,
    };
  }
  if (status >= 500) {
    return {
      title: 'Gatekey is unavailable',
      message: `Gatekey answered ${status}${detail ? `: ${detail}` : ''}. Try again in a moment.`,
    };
  }
  return { title: `Request refused (${status})`, message: detail ?? error.message };
}
