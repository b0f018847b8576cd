import { describe, expect, it } from 'vitest';
import { ValidationError } from '@shared/errors/gateway-error';
import {
  completeIdempotencyRecord,
  decideIdempotentReplay,
  IDEMPOTENCY_LOCK_SECONDS,
  IDEMPOTENCY_TTL_SECONDS,
  MAX_IDEMPOTENCY_KEY_CHARS,
  newIdempotencyRecord,
  requestFingerprint,
  validateIdempotencyKey,
  type StoredResponse,
} from '@shared/tasks/idempotency';

const START = new Date('2026-12-03T12:00:00.000Z');
const IDENTITY = 'service:analytics';
const BODY = { type: 'data_analysis', context: {}, payload: { data_references: ['ref://x/1'] } };
const RESPONSE: StoredResponse = {
  status: 202,
  headers: { Location: '/v1/tasks/tsk_01' },
  body: { task_id: 'tsk_01', status: 'accepted' },
};

const after = (seconds: number): Date => new Date(START.getTime() + seconds * 1000);

const fieldOfError = (header: string): unknown => {
  try {
    validateIdempotencyKey(header);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);

    return (error as ValidationError).details.fields;
  }

  throw new Error(`the key ${JSON.stringify(header)} was accepted`);
};

describe('validateIdempotencyKey', () => {
  it('takes a bare key and a structured-field string as the same key', () => {
    expect(validateIdempotencyKey('8e03978e-40d5-43e8')).toBe('8e03978e-40d5-43e8');
    expect(validateIdempotencyKey('"8e03978e-40d5-43e8"')).toBe('8e03978e-40d5-43e8');
  });

  it('gives undefined when there is no header', () => {
    expect(validateIdempotencyKey(undefined)).toBeUndefined();
  });

  it('accepts a key of exactly the maximum length', () => {
    const key = 'k'.repeat(MAX_IDEMPOTENCY_KEY_CHARS);

    expect(validateIdempotencyKey(key)).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['empty quoted', '""'],
    ['too long', 'k'.repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1)],
    ['with a space', 'two words'],
    ['with a control character', 'a\tb'],
    ['not ASCII', 'clé'],
    ['quoted with a backslash', '"a\\b"'],
  ])('refuses a key %s on headers.idempotency-key', (_, header) => {
    expect(fieldOfError(header)).toEqual([
      { field: 'headers.idempotency-key', message: expect.stringContaining('1 to 255') },
    ]);
  });
});

describe('requestFingerprint', () => {
  it('does not depend on the order of keys in the body', () => {
    const reordered = { payload: { data_references: ['ref://x/1'] }, context: {}, type: BODY.type };

    expect(requestFingerprint(IDENTITY, reordered)).toBe(requestFingerprint(IDENTITY, BODY));
  });

  it('is a SHA-256 in hex', () => {
    expect(requestFingerprint(IDENTITY, BODY)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with any value of the body, and with the identity', () => {
    const base = requestFingerprint(IDENTITY, BODY);

    expect(requestFingerprint(IDENTITY, { ...BODY, type: 'document_review' })).not.toBe(base);
    expect(requestFingerprint(IDENTITY, { ...BODY, payload: {} })).not.toBe(base);
    expect(requestFingerprint('user:alice', BODY)).not.toBe(base);
  });
});

describe('decideIdempotentReplay', () => {
  const fingerprint = requestFingerprint(IDENTITY, BODY);
  const inFlight = newIdempotencyRecord(fingerprint, START);
  const completed = completeIdempotencyRecord(inFlight, RESPONSE);

  it('treats a key without a record as new', () => {
    expect(decideIdempotentReplay(undefined, fingerprint, START)).toBe('new');
  });

  it('replays the stored response for the same key and the same body', () => {
    expect(decideIdempotentReplay(completed, fingerprint, after(10))).toEqual({
      replay: RESPONSE,
    });
  });

  it('replays a reordered body, since the fingerprint ignores key order', () => {
    const reordered = { payload: BODY.payload, type: BODY.type, context: BODY.context };
    const decision = decideIdempotentReplay(
      completed,
      requestFingerprint(IDENTITY, reordered),
      after(10),
    );

    expect(decision).toEqual({ replay: RESPONSE });
  });

  it('keeps replaying after the lock expired, up to the TTL', () => {
    expect(
      decideIdempotentReplay(completed, fingerprint, after(IDEMPOTENCY_TTL_SECONDS - 1)),
    ).toEqual({ replay: RESPONSE });
  });

  it('calls the same key with a different body a mismatch', () => {
    const other = requestFingerprint(IDENTITY, { ...BODY, payload: {} });

    expect(decideIdempotentReplay(completed, other, after(10))).toBe('mismatch');
  });

  it('calls a different body a mismatch even while the first request is in flight', () => {
    const other = requestFingerprint(IDENTITY, { ...BODY, payload: {} });

    expect(decideIdempotentReplay(inFlight, other, after(1))).toBe('mismatch');
  });

  it('answers in_flight while the first request holds its lock', () => {
    expect(decideIdempotentReplay(inFlight, fingerprint, START)).toBe('in_flight');
    expect(decideIdempotentReplay(inFlight, fingerprint, after(IDEMPOTENCY_LOCK_SECONDS - 1))).toBe(
      'in_flight',
    );
  });

  it('frees the key once the lock of a request that never finished expires', () => {
    expect(decideIdempotentReplay(inFlight, fingerprint, after(IDEMPOTENCY_LOCK_SECONDS))).toBe(
      'new',
    );
  });

  it('treats a record past its 24 hours as none, whatever its body', () => {
    const other = requestFingerprint(IDENTITY, { ...BODY, payload: {} });
    const expired = after(IDEMPOTENCY_TTL_SECONDS);

    expect(decideIdempotentReplay(completed, fingerprint, expired)).toBe('new');
    expect(decideIdempotentReplay(completed, other, expired)).toBe('new');
  });

  it('stores a new record in flight, with its lock and its 24 hours', () => {
    expect(inFlight).toEqual({
      fingerprint,
      state: 'in_flight',
      created_at: '2026-12-03T12:00:00.000Z',
      expires_at: '2026-12-04T12:00:00.000Z',
      lock_expires_at: after(IDEMPOTENCY_LOCK_SECONDS).toISOString(),
    });
    expect(completed).toMatchObject({ state: 'completed', expires_at: inFlight.expires_at });
  });
});
