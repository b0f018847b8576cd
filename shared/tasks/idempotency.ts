/**
 * `Idempotency-Key` on `POST /v1/tasks`, after the IETF httpapi draft, as pure decisions: the
 * store that keeps the records and the handler that answers live elsewhere.
 *
 * The timeline of one key: the first request stores an `in_flight` record with its body's
 * fingerprint and a lock that expires after `IDEMPOTENCY_LOCK_SECONDS`; when it has its
 * response, the record becomes `completed` with that response, kept until
 * `IDEMPOTENCY_TTL_SECONDS` after the first request. A later request with the key then meets
 * one of four cases: no live record (a new request), a different body (422, the key was reused
 * for something else), a request still in flight (409, the client should wait), or a completed
 * one (the stored response, replayed without creating another task). A lock outlives a
 * request that crashed, so that its key is not stuck: once the lock expires, the key is free
 * again for the same body, and the store's conditional write decides which retry takes it.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '@shared/audit/canonical-json';
import { ValidationError } from '@shared/errors/gateway-error';

/** Records are kept for 24 hours after the first request, as the API promises. */
export const IDEMPOTENCY_TTL_SECONDS = 86_400;

/**
 * How long a request holds its key before another may take it over. Far above the time a
 * create takes (a few writes), well below what a client waits before it gives up and retries.
 */
export const IDEMPOTENCY_LOCK_SECONDS = 60;

/** Characters a key may hold, as the draft's examples and most providers bound it. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;

export const IDEMPOTENCY_KEY_FIELD = 'headers.idempotency-key';

/** The HTTP status a refused replay answers with, as the draft names them. */
export const IDEMPOTENCY_REFUSAL_STATUS = { mismatch: 422, in_flight: 409 } as const;

// Visible ASCII, space excluded: a key that survives every proxy and log line unchanged.
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]+$/;

const MS_PER_SECOND = 1000;

/** The response the first request answered with, replayed as is. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

export interface IdempotencyRecord {
  /** `requestFingerprint` of the first request. */
  readonly fingerprint: string;
  readonly state: 'in_flight' | 'completed';
  /** ISO 8601: when the first request arrived. */
  readonly created_at: string;
  /** ISO 8601: when the record stops counting, `IDEMPOTENCY_TTL_SECONDS` after `created_at`. */
  readonly expires_at: string;
  /** ISO 8601: when an `in_flight` record's lock may be taken over. */
  readonly lock_expires_at: string;
  /** Present once `completed`. */
  readonly response?: StoredResponse;
}

export type IdempotencyDecision =
  'new' | 'mismatch' | 'in_flight' | { readonly replay: StoredResponse };

/**
 * The key of an `Idempotency-Key` header, or `undefined` when there is none. The draft sends it
 * as a structured-field string (`"abc"`); a bare token is accepted as well, and both name the
 * same key. Anything else than 1 to 255 visible ASCII characters throws a `ValidationError` on
 * `headers.idempotency-key`.
 */
export const validateIdempotencyKey = (header: string | undefined): string | undefined => {
  if (header === undefined) {
    return undefined;
  }
  const quoted = header.length >= 2 && header.startsWith('"') && header.endsWith('"');
  const key = quoted ? header.slice(1, -1) : header;

  // Inside a structured-field string `"` and `\` would need escapes; a key never needs them.
  const valid =
    key.length > 0 &&
    key.length <= MAX_IDEMPOTENCY_KEY_CHARS &&
    IDEMPOTENCY_KEY_PATTERN.test(key) &&
    !(quoted && /["\\]/.test(key));
  if (!valid) {
    throw new ValidationError('The Idempotency-Key header is invalid.', [
      {
        field: IDEMPOTENCY_KEY_FIELD,
        message: `must be 1 to ${MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters`,
      },
    ]);
  }

  return key;
};

/**
 * The fingerprint of a request: SHA-256, in hex, of the RFC 8785 canonical JSON of the caller's
 * identity and the parsed body. Canonical JSON sorts members, so the same body with its keys in
 * another order or other whitespace has the same fingerprint; the identity is inside because a
 * key belongs to one identity, and the same body from another one is another request.
 */
export const requestFingerprint = (identity: string, body: unknown): string =>
  createHash('sha256')
    .update(canonicalJson({ identity, body: body ?? null }))
    .digest('hex');

const plusSeconds = (now: Date, seconds: number): string =>
  new Date(now.getTime() + seconds * MS_PER_SECOND).toISOString();

/** The record a new request stores, conditionally, before it does any work. */
export const newIdempotencyRecord = (fingerprint: string, now: Date): IdempotencyRecord => ({
  fingerprint,
  state: 'in_flight',
  created_at: now.toISOString(),
  expires_at: plusSeconds(now, IDEMPOTENCY_TTL_SECONDS),
  lock_expires_at: plusSeconds(now, IDEMPOTENCY_LOCK_SECONDS),
});

/** The record once the first request has its response; its 24 hours still count from then. */
export const completeIdempotencyRecord = (
  record: IdempotencyRecord,
  response: StoredResponse,
): IdempotencyRecord => ({ ...record, state: 'completed', response });

const isPast = (isoTime: string, now: Date): boolean => Date.parse(isoTime) <= now.getTime();

/**
 * What to do with a request whose key has `stored` as its record (`undefined` when there is
 * none). A record past `expires_at` counts as none, since the store's TTL deletes lazily. A
 * different body is a mismatch even while the first request runs: the client reused a key, and
 * waiting would not change that.
 */
export const decideIdempotentReplay = (
  stored: IdempotencyRecord | undefined,
  fingerprint: string,
  now: Date,
): IdempotencyDecision => {
  if (stored === undefined || isPast(stored.expires_at, now)) {
    return 'new';
  }
  if (stored.fingerprint !== fingerprint) {
    return 'mismatch';
  }
  if (stored.state === 'completed' && stored.response !== undefined) {
    return { replay: stored.response };
  }

  return isPast(stored.lock_expires_at, now) ? 'new' : 'in_flight';
};
