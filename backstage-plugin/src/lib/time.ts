/** TTL presets offered by the "Try it" form and durations as people read them. */

const PRESETS_SECONDS = [5 * 60, 15 * 60, 30 * 60, 60 * 60, 4 * 60 * 60, 8 * 60 * 60, 24 * 60 * 60];

/** The presets within the API's bounds, plus its default and its longest TTL, ascending. */
export function ttlPresets(api: {
  min_ttl_seconds: number;
  max_ttl_seconds: number;
  default_ttl_seconds: number;
}): number[] {
  const within = PRESETS_SECONDS.filter(
    seconds => seconds >= api.min_ttl_seconds && seconds <= api.max_ttl_seconds,
  );
  return [...new Set([...within, api.default_ttl_seconds, api.max_ttl_seconds])].sort(
    (a, b) => a - b,
  );
}

/** `90` -> `1m 30s`, `3600` -> `1h`, `5400` -> `1h 30m`. */
export function formatDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const parts: string[] = [];
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (days) parts.push(`${days}d`);
  if (hours) parts.push(`${hours}h`);
  if (minutes) parts.push(`${minutes}m`);
  if (rest || parts.length === 0) parts.push(`${rest}s`);
  return parts.join(' ');
}

/** `mm:ss` (or `h:mm:ss`) until `expiresAt`, for the live countdown. */
export function formatCountdown(expiresAt: Date, now: Date): string {
  const left = Math.max(0, Math.floor((expiresAt.getTime() - now.getTime()) / 1000));
  const h = Math.floor(left / 3600);
  const m = Math.floor((left % 3600) / 60);
  const s = left % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return h ? `${h}:${mmss}` : mmss;
}

/** A timestamp as the user's locale shows it. */
export function formatTimestamp(value: string): string {
  return new Date(value).toLocaleString();
}
