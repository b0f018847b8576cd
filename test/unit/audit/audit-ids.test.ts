import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AUDIT_CHAIN_COUNT, type AuditEntryInput } from '@shared/audit/audit-entry';
import {
  auditChainOf,
  AuditEntryError,
  isAuditId,
  MAX_AUDIT_DETAIL_KEYS,
  MAX_AUDIT_DETAIL_STRING_CHARS,
  MAX_AUDIT_IDENTITY_CHARS,
  newAuditEntry,
  newAuditId,
} from '@shared/audit/audit-ids';
import { entryInput } from './audit-trail-fixture';

const NOW = new Date('2030-06-01T12:34:56.789Z');

const entryErrorOf = (input: AuditEntryInput): AuditEntryError | undefined => {
  try {
    newAuditEntry(input, NOW);
  } catch (error) {
    if (error instanceof AuditEntryError) {
      return error;
    }
    throw error;
  }

  return undefined;
};

describe('newAuditId', () => {
  it('is aud_ and 26 characters of upper-case Crockford base32', () => {
    const id = newAuditId(NOW);

    expect(id).toMatch(/^aud_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(isAuditId(id)).toBe(true);
  });

  it('writes the milliseconds in the first ten characters, as a ULID does', () => {
    // The ULID specification's example: 1469918176385 ms is 01ARYZ6S41.
    expect(newAuditId(new Date(1469918176385)).slice(4, 14)).toBe('01ARYZ6S41');
    expect(newAuditId(new Date(0)).slice(4, 14)).toBe('0000000000');
    expect(newAuditId(new Date(2 ** 48 - 1)).slice(4, 14)).toBe('7ZZZZZZZZZ');
  });

  it('sorts by time', () => {
    const times = [0, 1, 999, 1_000, 1_700_000_000_000, 1_700_000_000_001, 2 ** 41];
    const ids = times.map((time) => newAuditId(new Date(time)));

    expect([...ids].sort()).toEqual(ids);
  });

  it('differs between two ids of the same millisecond', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newAuditId(NOW)));

    expect(ids.size).toBe(100);
  });

  it('refuses a date it cannot hold', () => {
    expect(() => newAuditId(new Date(Number.NaN))).toThrow(AuditEntryError);
    expect(() => newAuditId(new Date(-1))).toThrow(AuditEntryError);
  });
});

describe('isAuditId', () => {
  it.each([
    ['lower case', `aud_${'0'.repeat(10)}${'a'.repeat(16)}`],
    ['another prefix', `tsk_${'0'.repeat(26)}`],
    ['a letter Crockford leaves out', `aud_${'0'.repeat(25)}U`],
    ['25 characters', `aud_${'0'.repeat(25)}`],
    ['27 characters', `aud_${'0'.repeat(27)}`],
    ['more than 128 bits', `aud_8${'0'.repeat(25)}`],
    ['not a string', 42],
  ])('refuses %s', (_what, value) => {
    expect(isAuditId(value)).toBe(false);
  });
});

describe('auditChainOf', () => {
  it('is the first four bytes of the SHA-256 of the id, modulo the chain count', () => {
    const id = newAuditId(NOW);
    const expected = createHash('sha256').update(id).digest().readUInt32BE(0) % AUDIT_CHAIN_COUNT;

    expect(auditChainOf(id)).toBe(expected);
    expect(auditChainOf(id)).toBe(auditChainOf(id));
  });

  it('spreads ids over every chain', () => {
    const chains = new Set(Array.from({ length: 1_000 }, () => auditChainOf(newAuditId(NOW))));

    expect([...chains].sort((a, b) => a - b)).toEqual(
      Array.from({ length: AUDIT_CHAIN_COUNT }, (_, chain) => chain),
    );
  });

  it('refuses what is not an audit id', () => {
    expect(() => auditChainOf('aud_nope')).toThrow(AuditEntryError);
  });
});

describe('newAuditEntry', () => {
  it('makes an unsealed entry whose id and timestamp come from the same instant', () => {
    const entry = newAuditEntry(entryInput({ requestId: 'req-42' }), NOW);

    expect(entry).toEqual({
      audit_id: expect.stringMatching(/^aud_/),
      timestamp: '2030-06-01T12:34:56.789Z',
      service: 'blux-lite',
      operation: 'task.create',
      identity: 'service:billing',
      outcome: 'success',
      request_id: 'req-42',
      resource: { type: 'task', id: 'tsk_1' },
      details: { priority: 3, queue: 'default', retried: false, note: null },
    });
    expect(entry.audit_id.slice(0, 14)).toBe(newAuditId(NOW).slice(0, 14));
  });

  it('gives an entry without resource or details a null resource and empty details', () => {
    const entry = newAuditEntry(entryInput({ resource: undefined, details: undefined }), NOW);

    expect(entry.resource).toBeNull();
    expect(entry.details).toEqual({});
  });

  it('copies the details, so that a later change to the input changes nothing', () => {
    const details: Record<string, string> = { reason: 'bad_secret' };
    const entry = newAuditEntry(entryInput({ details }), NOW);
    details.reason = 'changed';

    expect(entry.details).toEqual({ reason: 'bad_secret' });
  });

  it('accepts the limits themselves', () => {
    const details = Object.fromEntries(
      Array.from({ length: MAX_AUDIT_DETAIL_KEYS }, (_, index) => [
        `key${index}`,
        'x'.repeat(MAX_AUDIT_DETAIL_STRING_CHARS),
      ]),
    );
    const identity = `user:${'u'.repeat(MAX_AUDIT_IDENTITY_CHARS - 5)}`;

    expect(entryErrorOf(entryInput({ details, identity }))).toBeUndefined();
    expect(entryErrorOf(entryInput({ operation: 'rate_limit.exceeded' }))).toBeUndefined();
    expect(entryErrorOf(entryInput({ operation: 'auth.token.refused' }))).toBeUndefined();
  });

  it.each([
    ['an unknown service', { service: 'blux-x' as never }, 'auditEntry.invalidService'],
    ['an operation without a dot', { operation: 'create' }, 'auditEntry.invalidOperation'],
    ['an operation in capitals', { operation: 'Task.create' }, 'auditEntry.invalidOperation'],
    ['an operation with digits', { operation: 'task.create2' }, 'auditEntry.invalidOperation'],
    ['an operation ending in a dot', { operation: 'task.' }, 'auditEntry.invalidOperation'],
    ['two dots in a row', { operation: 'task..create' }, 'auditEntry.invalidOperation'],
    ['an empty identity', { identity: '' }, 'auditEntry.invalidIdentity'],
    [
      'an identity over the limit',
      { identity: 'u'.repeat(MAX_AUDIT_IDENTITY_CHARS + 1) },
      'auditEntry.invalidIdentity',
    ],
    ['an unknown outcome', { outcome: 'ok' as never }, 'auditEntry.invalidOutcome'],
    ['an empty request id', { requestId: '' }, 'auditEntry.invalidRequestId'],
    ['a resource without id', { resource: { type: 'task', id: '' } }, 'auditEntry.invalidResource'],
    [
      'too many details',
      {
        details: Object.fromEntries(
          Array.from({ length: MAX_AUDIT_DETAIL_KEYS + 1 }, (_, index) => [`k${index}`, 1]),
        ),
      },
      'auditEntry.tooManyDetails',
    ],
    [
      'a detail string over the limit',
      { details: { note: 'x'.repeat(MAX_AUDIT_DETAIL_STRING_CHARS + 1) } },
      'auditEntry.invalidDetail',
    ],
    ['a nested detail', { details: { nested: { a: 1 } as never } }, 'auditEntry.invalidDetail'],
    ['a detail that is not finite', { details: { n: Number.NaN } }, 'auditEntry.invalidDetail'],
    ['a detail key with a space', { details: { 'a b': 1 } }, 'auditEntry.invalidDetail'],
  ])('refuses %s with a stable code', (_what, overrides, code) => {
    const error = entryErrorOf(entryInput(overrides as Partial<AuditEntryInput>));

    expect(error?.name).toBe('AuditEntryError');
    expect(error?.code).toBe(code);
    expect(error?.message.startsWith(`${code}: `)).toBe(true);
  });

  it('names the offending field but never repeats its value', () => {
    const secret = `s3cr3t-${'x'.repeat(MAX_AUDIT_DETAIL_STRING_CHARS)}`;
    const error = entryErrorOf(entryInput({ details: { password: secret } }));

    expect(error?.field).toBe('details.password');
    expect(error?.message).not.toContain('s3cr3t');
  });
});
