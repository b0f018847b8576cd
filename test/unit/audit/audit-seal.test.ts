import { createHash, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import {
  auditEntryHash,
  AuditSealError,
  formatSignature,
  parseSignature,
  sealAuditEntries,
  signCheckpoint,
} from '@shared/audit/audit-seal';
import {
  generateAuditSigningKey,
  toPublishedAuditJwk,
  type AuditSigningKey,
} from '@shared/audit/audit-signing-key';
import { verifyAuditTrail } from '@shared/audit/audit-verifier';
import { canonicalJson } from '@shared/audit/canonical-json';
import { entriesByChain } from './audit-trail-fixture';

const SEALED_AT = new Date('2030-01-01T00:05:00.000Z');

const oneChain = (count: number): UnsealedAuditEntry[] => entriesByChain(1, count)[0] ?? [];

const signedBy = (key: AuditSigningKey, bytes: string, signature: string): boolean =>
  verify(
    'sha512',
    Buffer.from(bytes),
    { key: createPublicKey({ key: key.publicJwk(), format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
    parseSignature(signature),
  );

const sealErrorCode = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return error instanceof AuditSealError ? error.code : `not an AuditSealError: ${error}`;
  }

  return undefined;
};

describe('sealAuditEntries', () => {
  it('starts an empty chain at seq 1 with no predecessor and links each entry to the last', () => {
    const key = generateAuditSigningKey();
    const entries = oneChain(3);
    const { sealed } = sealAuditEntries({ head: undefined, entries, key, now: SEALED_AT });

    expect(sealed.map((entry) => entry.seq)).toEqual([1, 2, 3]);
    expect(sealed.map((entry) => entry.prev_hash)).toEqual([
      null,
      sealed[0]?.hash,
      sealed[1]?.hash,
    ]);
    expect(sealed.every((entry) => entry.kid === key.kid)).toBe(true);
    expect(sealed.every((entry) => entry.sealed_at === SEALED_AT.toISOString())).toBe(true);
  });

  it('hashes and signs the canonical JSON of the entry less hash, signature, sealed_at', () => {
    const key = generateAuditSigningKey();
    const {
      sealed: [entry],
    } = sealAuditEntries({ head: undefined, entries: oneChain(1), key, now: SEALED_AT });
    if (entry === undefined) {
      throw new Error('nothing was sealed');
    }
    const { hash, signature, sealed_at: sealedAt, ...covered } = entry;
    const bytes = canonicalJson(covered);

    expect(sealedAt).toBe(SEALED_AT.toISOString());

    expect(hash).toBe(createHash('sha256').update(bytes).digest('base64url'));
    expect(auditEntryHash(entry)).toBe(hash);
    expect(signature).toMatch(/^es512-[A-Za-z0-9_-]{176}$/);
    expect(signedBy(key, bytes, signature)).toBe(true);
  });

  it('continues a chain from its head and ends with a signed checkpoint of the new head', () => {
    const key = generateAuditSigningKey();
    const entries = oneChain(4);
    const first = sealAuditEntries({ head: undefined, entries: entries.slice(0, 2), key });
    const second = sealAuditEntries({
      head: first.checkpoint,
      entries: entries.slice(2),
      key,
      now: SEALED_AT,
    });
    const last = second.sealed.at(-1);
    const { signature, ...covered } = second.checkpoint;

    expect(second.sealed.map((entry) => entry.seq)).toEqual([3, 4]);
    expect(second.sealed[0]?.prev_hash).toBe(first.checkpoint.hash);
    expect(covered).toEqual({
      chain: last?.chain,
      seq: 4,
      hash: last?.hash,
      timestamp: SEALED_AT.toISOString(),
      kid: key.kid,
    });
    expect(signedBy(key, canonicalJson(covered), signature)).toBe(true);
  });

  it('re-signs the head when there is nothing new to seal', () => {
    const key = generateAuditSigningKey();
    const { checkpoint } = sealAuditEntries({ head: undefined, entries: oneChain(2), key });
    const again = sealAuditEntries({ head: checkpoint, entries: [], key, now: SEALED_AT });

    expect(again.sealed).toEqual([]);
    expect(again.checkpoint).toMatchObject({ seq: 2, hash: checkpoint.hash });
  });

  it('leaves out members an entry picked up in storage', () => {
    const key = generateAuditSigningKey();
    const [entry] = oneChain(1);
    const stored = { ...entry, pk: 'AUDIT#1', ttl: 123 } as unknown as UnsealedAuditEntry;
    const { sealed } = sealAuditEntries({ head: undefined, entries: [stored], key });

    expect(sealed[0]).not.toHaveProperty('pk');
    expect(sealed[0]).not.toHaveProperty('ttl');
  });

  it('seals 200 entries of one chain into a trail that verifies', () => {
    const key = generateAuditSigningKey();
    const { sealed, checkpoint } = sealAuditEntries({
      head: undefined,
      entries: oneChain(200),
      key,
    });
    const report = verifyAuditTrail({
      entries: sealed,
      checkpoints: [checkpoint],
      keys: [toPublishedAuditJwk(key)],
    });

    expect(sealed.at(-1)?.seq).toBe(200);
    expect(report).toMatchObject({ ok: true, entriesChecked: 200, problems: [] });
  });

  it('refuses an entry of another chain', () => {
    const key = generateAuditSigningKey();
    const [mine = [], theirs = []] = entriesByChain(2, 1);

    expect(
      sealErrorCode(() =>
        sealAuditEntries({ head: undefined, entries: [...mine, ...theirs], key }),
      ),
    ).toBe('auditSeal.wrongChain');
  });

  it('refuses a head of another chain than its entries', () => {
    const key = generateAuditSigningKey();
    const [mine = [], theirs = []] = entriesByChain(2, 1);
    const { checkpoint } = sealAuditEntries({ head: undefined, entries: theirs, key });

    expect(sealErrorCode(() => sealAuditEntries({ head: checkpoint, entries: mine, key }))).toBe(
      'auditSeal.wrongChain',
    );
  });

  it('refuses the same entry twice in a batch', () => {
    const key = generateAuditSigningKey();
    const [entry] = oneChain(1);
    const entries = entry === undefined ? [] : [entry, entry];

    expect(sealErrorCode(() => sealAuditEntries({ head: undefined, entries, key }))).toBe(
      'auditSeal.duplicateEntry',
    );
  });

  it('refuses an empty chain with nothing to seal, and a head that is not one', () => {
    const key = generateAuditSigningKey();
    const head = { chain: 0, seq: 0, hash: 'x' };

    expect(sealErrorCode(() => sealAuditEntries({ head: undefined, entries: [], key }))).toBe(
      'auditSeal.nothingToSeal',
    );
    expect(sealErrorCode(() => sealAuditEntries({ head, entries: [], key }))).toBe(
      'auditSeal.invalidHead',
    );
  });

  it('refuses to seal with a key that is not P-521', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const tokenLike: AuditSigningKey = {
      kid: 'token-key',
      publicJwk: () => publicKey.export({ format: 'jwk' }),
      sign: (bytes) => sign('sha256', bytes, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
    };

    expect(
      sealErrorCode(() =>
        sealAuditEntries({ head: undefined, entries: oneChain(1), key: tokenLike }),
      ),
    ).toBe('auditSeal.wrongKey');
  });
});

describe('signCheckpoint', () => {
  it('signs the head with the time and the kid', () => {
    const key = generateAuditSigningKey();
    const head = { chain: 5, seq: 9, hash: createHash('sha256').update('x').digest('base64url') };
    const { signature, ...covered } = signCheckpoint(head, key, SEALED_AT);

    expect(covered).toEqual({ ...head, timestamp: SEALED_AT.toISOString(), kid: key.kid });
    expect(signedBy(key, canonicalJson(covered), signature)).toBe(true);
  });
});

describe('formatSignature and parseSignature', () => {
  const bytes = Uint8Array.from({ length: 132 }, (_, index) => index);

  it('write es512-<base64url> and read it back', () => {
    const text = formatSignature(bytes);

    expect(text).toBe(`es512-${Buffer.from(bytes).toString('base64url')}`);
    expect(parseSignature(text)).toEqual(bytes);
  });

  it('refuse a signature that is not 132 bytes', () => {
    expect(sealErrorCode(() => formatSignature(new Uint8Array(64)))).toBe(
      'auditSeal.malformedSignature',
    );
    expect(
      sealErrorCode(() => parseSignature(`es512-${Buffer.alloc(64).toString('base64url')}`)),
    ).toBe('auditSeal.malformedSignature');
  });

  it.each([
    ['another prefix', (text: string) => text.replace('es512-', 'es256-')],
    ['no prefix', (text: string) => text.slice('es512-'.length)],
    ['padding', (text: string) => `${text}==`],
    ['standard base64', (text: string) => `${text.slice(0, -1)}+`],
    ['a stray character', (text: string) => `${text.slice(0, 40)}.${text.slice(40)}`],
  ])('refuse a signature with %s', (_what, change) => {
    expect(sealErrorCode(() => parseSignature(change(formatSignature(bytes))))).toBe(
      'auditSeal.malformedSignature',
    );
  });
});
