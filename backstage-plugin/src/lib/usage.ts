/** A credential's use as the gateway logged it, in words for the card and the credentials page. */

import type { UsageBrief } from '@gatekey/client';
import { formatTimestamp } from './time';

/** `never used`, or `3 calls (1 error), last 2026-11-25 10:05`. */
export function describeUsage(usage: UsageBrief | undefined): string {
  if (!usage || usage.calls === 0) return 'never used';
  const calls = usage.calls === 1 ? '1 call' : `${usage.calls} calls`;
  let errors = '';
  if (usage.errors === 1) errors = ' (1 error)';
  else if (usage.errors > 1) errors = ` (${usage.errors} errors)`;
  const last = usage.last_used_at ? `, last ${formatTimestamp(usage.last_used_at)}` : '';
  return `${calls}${errors}${last}`;
}
