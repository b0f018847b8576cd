/**
 * Fixed windows and the counter keys that name them. A window of `w` seconds starts at every
 * multiple of `w` seconds since the epoch, so every function instance agrees on it without
 * talking to any other: the window start is part of the key, and a new window is a new item.
 *
 * A counter too hot for one DynamoDB partition is split into shards, each a key of its own
 * holding a share of the limit; see `counterShards`.
 */
import { createHash } from 'node:crypto';

const MS_PER_SECOND = 1_000;

/** The window holding `nowMs`: when it started and when it resets, both epoch milliseconds. */
export interface FixedWindow {
  readonly startMs: number;
  readonly resetAtMs: number;
}

/** The window of `windowSeconds` that holds the instant `nowMs`. */
export const fixedWindow = (nowMs: number, windowSeconds: number): FixedWindow => {
  const lengthMs = windowSeconds * MS_PER_SECOND;
  const startMs = Math.floor(nowMs / lengthMs) * lengthMs;

  return { startMs, resetAtMs: startMs + lengthMs };
};

/** Whole seconds until `resetAtMs`, never 0 while the window is still open. */
export const secondsUntil = (resetAtMs: number, nowMs: number): number =>
  Math.max(1, Math.ceil((resetAtMs - nowMs) / MS_PER_SECOND));

/**
 * A partition accepts about 1,000 writes a second. A shard is sized for a quarter of that, so
 * that the refused (still billed) conditional writes and DynamoDB's uneven spread of load
 * never push a counter key into throttling.
 */
export const SHARD_WRITES_PER_SECOND = 250;

/** Past this, more shards buy little and make early refusals (see the README) likelier. */
export const MAX_COUNTER_SHARDS = 64;

/**
 * How many keys a counter is split into: one while its limit, spread over its window, stays
 * within `SHARD_WRITES_PER_SECOND`, otherwise enough for each to stay within it. A minute
 * counter's writes are in practice held near that average by the per-second burst limit, which
 * every request of the identity passes too.
 */
export const counterShards = (limit: number, windowSeconds: number): number => {
  const writesPerSecond = limit / windowSeconds;

  return Math.min(
    MAX_COUNTER_SHARDS,
    Math.max(1, Math.ceil(writesPerSecond / SHARD_WRITES_PER_SECOND)),
  );
};

/** Shard `index`'s share of `limit`: the shares differ by at most one and sum to `limit`. */
export const shardLimit = (limit: number, shards: number, index: number): number =>
  Math.floor(limit / shards) + (index < limit % shards ? 1 : 0);

/** Subjects are caller-controlled strings; past this length the key holds their hash. */
export const MAX_KEY_SUBJECT_LENGTH = 200;

/**
 * `#` separates the parts of a key and `%` escapes, so a subject holding either cannot make
 * its key collide with another subject's.
 */
const keySubject = (subject: string): string => {
  if (subject.length > MAX_KEY_SUBJECT_LENGTH) {
    return `sha256:${createHash('sha256').update(subject).digest('hex')}`;
  }

  return subject.replace(/%/g, '%25').replace(/#/g, '%23');
};

/** What a counter key names; `shard` only on a counter split in several. */
export interface CounterKeyParts {
  readonly policy: string;
  readonly subject: string;
  readonly window: FixedWindow;
  readonly shard?: number;
}

/** `<policy>#<subject>#<window start, epoch seconds>[#<shard>]`. */
export const counterKey = (parts: CounterKeyParts): string => {
  const windowStart = parts.window.startMs / MS_PER_SECOND;
  const base = `${parts.policy}#${keySubject(parts.subject)}#${windowStart}`;

  return parts.shard === undefined ? base : `${base}#${parts.shard}`;
};

/** TTL only tidies up: DynamoDB deletes expired items lazily, and no decision reads them. */
export const COUNTER_TTL_GRACE_SECONDS = 60;

/** The `expires_at` of a window's counter, epoch seconds. */
export const counterExpiresAt = (window: FixedWindow): number =>
  window.resetAtMs / MS_PER_SECOND + COUNTER_TTL_GRACE_SECONDS;
