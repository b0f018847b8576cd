import {
  createECDH,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  verify,
  type JsonWebKey,
} from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AUDIT_KEY_RING_FILE,
  AUDIT_SIGNING_ALG,
  AuditKeyError,
  auditSigningKeyFromJwk,
  createAuditSigningKey,
  deriveAuditSigningKey,
  ES512_SIGNATURE_BYTES,
  generateAuditSigningKey,
  openLocalAuditKeyRing,
  P521_ORDER,
  toPublishedAuditJwk,
  type AuditSigningKey,
} from '@shared/audit/audit-signing-key';
import { verifyAuditTrail } from '@shared/audit/audit-verifier';
import { sealedTrail } from './audit-trail-fixture';

/** A secret of the kind Secrets Manager generates. */
const SECRET = 'Q7v!pZ2#mK9@xL4$wR8^tN3&bF6*hJ1(cD5)';
const OTHER_SECRET = 'Q7v!pZ2#mK9@xL4$wR8^tN3&bF6*hJ1(cD5]';

const verifies = (key: AuditSigningKey, jwk: JsonWebKey = key.publicJwk()): boolean => {
  const message = Buffer.from('an audit entry');
  const signature = key.sign(message);
  const publicKey = createPublicKey({ key: jwk, format: 'jwk' });

  return (
    signature.length === ES512_SIGNATURE_BYTES &&
    verify('sha512', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
  );
};

const keyErrorCode = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return error instanceof AuditKeyError ? error.code : `not an AuditKeyError: ${error}`;
  }

  return undefined;
};

describe('generateAuditSigningKey', () => {
  it('names the key by the RFC 7638 thumbprint of its P-521 public key', () => {
    const key = generateAuditSigningKey();
    const jwk = key.publicJwk();
    const canonical = `{"crv":"P-521","kty":"EC","x":"${String(jwk.x)}","y":"${String(jwk.y)}"}`;

    expect(key.kid).toBe(createHash('sha256').update(canonical).digest('base64url'));
    expect(Object.keys(jwk).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(jwk.crv).toBe('P-521');
  });

  it('signs synchronously in the JOSE form, 132 bytes that node verifies with SHA-512', () => {
    expect(verifies(generateAuditSigningKey())).toBe(true);
  });

  it('makes a different key each time', () => {
    expect(generateAuditSigningKey().kid).not.toBe(generateAuditSigningKey().kid);
  });
});

describe('auditSigningKeyFromJwk', () => {
  it('gives back the same key from its private JWK', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    const original = createAuditSigningKey(privateKey);
    const restored = auditSigningKeyFromJwk(privateKey.export({ format: 'jwk' }));

    expect(restored.kid).toBe(original.kid);
    expect(verifies(restored, original.publicJwk())).toBe(true);
  });

  it('refuses a P-256 key, a public JWK and a broken one', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    const broken = { ...p521.privateKey.export({ format: 'jwk' }), x: 'AAAA' };

    expect(
      keyErrorCode(() => auditSigningKeyFromJwk(p256.privateKey.export({ format: 'jwk' }))),
    ).toBe('auditKey.notP521');
    expect(
      keyErrorCode(() => auditSigningKeyFromJwk(p521.publicKey.export({ format: 'jwk' }))),
    ).toBe('auditKey.notP521');
    expect(keyErrorCode(() => auditSigningKeyFromJwk(broken))).toBe('auditKey.notP521');
  });

  it('refuses to make an audit key of a token (P-256) key', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

    expect(keyErrorCode(() => createAuditSigningKey(privateKey))).toBe('auditKey.notP521');
  });
});

describe('deriveAuditSigningKey', () => {
  it('derives the same key from the same secret', () => {
    const first = deriveAuditSigningKey(SECRET);
    const second = deriveAuditSigningKey(SECRET);

    expect(second.kid).toBe(first.kid);
    expect(second.publicJwk()).toEqual(first.publicJwk());
    expect(verifies(second, first.publicJwk())).toBe(true);
  });

  it('derives another key from a secret that differs in one character', () => {
    expect(deriveAuditSigningKey(OTHER_SECRET).kid).not.toBe(deriveAuditSigningKey(SECRET).kid);
  });

  it('follows the documented formula: HKDF-SHA-512, 80 bytes, mod (n - 1) + 1', () => {
    const material = Buffer.from(
      hkdfSync('sha512', SECRET, Buffer.alloc(0), 'blux-audit-signing-key-v1', 80),
    );
    const d = (BigInt(`0x${material.toString('hex')}`) % (P521_ORDER - 1n)) + 1n;
    const ecdh = createECDH('secp521r1');
    ecdh.setPrivateKey(Buffer.from(d.toString(16).padStart(132, '0'), 'hex'));
    const point = ecdh.getPublicKey();

    expect(deriveAuditSigningKey(SECRET).publicJwk()).toEqual({
      kty: 'EC',
      crv: 'P-521',
      x: point.subarray(1, 67).toString('base64url'),
      y: point.subarray(67).toString('base64url'),
    });
  });

  it('uses the order of P-521: n is refused as a key, n - 1 is the negated generator', () => {
    const asKey = (value: bigint): Buffer =>
      Buffer.from(value.toString(16).padStart(132, '0'), 'hex');
    const one = createECDH('secp521r1');
    one.setPrivateKey(asKey(1n));
    const minusOne = createECDH('secp521r1');
    minusOne.setPrivateKey(asKey(P521_ORDER - 1n));

    expect(() => createECDH('secp521r1').setPrivateKey(asKey(P521_ORDER))).toThrow();
    expect(minusOne.getPublicKey().subarray(1, 67)).toEqual(one.getPublicKey().subarray(1, 67));
    expect(minusOne.getPublicKey().subarray(67)).not.toEqual(one.getPublicKey().subarray(67));
  });

  it('seals a trail that verifies with the key derived again elsewhere', () => {
    const trail = sealedTrail(deriveAuditSigningKey(SECRET), 2, 2);
    const keys = [toPublishedAuditJwk(deriveAuditSigningKey(SECRET))];

    expect(verifyAuditTrail({ ...trail, keys }).ok).toBe(true);
  });

  it('refuses a secret too short to be a generated random string', () => {
    expect(keyErrorCode(() => deriveAuditSigningKey('correct horse battery'))).toBe(
      'auditKey.weakSecret',
    );
  });
});

describe('toPublishedAuditJwk', () => {
  it('publishes the public members with kid, alg ES512 and use sig, never d', () => {
    const key = generateAuditSigningKey();
    const published = toPublishedAuditJwk(key);

    expect(published).toEqual({ ...key.publicJwk(), kid: key.kid, alg: 'ES512', use: 'sig' });
    expect(AUDIT_SIGNING_ALG).toBe('ES512');
    expect(published).not.toHaveProperty('d');
  });
});

describe('openLocalAuditKeyRing', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'blux-audit-ring-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const ringFile = (): string => join(dataDir, AUDIT_KEY_RING_FILE);

  it('starts with one active key in memory when it has no data directory', async () => {
    const ring = await openLocalAuditKeyRing();

    expect(ring.publishedKeys()).toEqual([toPublishedAuditJwk(ring.activeKey())]);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('writes keys/audit-keys.json, readable by the owner only, and no temporary file', async () => {
    await openLocalAuditKeyRing({ dataDir });

    expect((await stat(ringFile())).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'keys'))).mode & 0o077).toBe(0);
    expect(await readdir(join(dataDir, 'keys'))).toEqual(['audit-keys.json']);
  });

  it('reloads the same key on the next start', async () => {
    const first = await openLocalAuditKeyRing({ dataDir });
    const second = await openLocalAuditKeyRing({ dataDir });

    expect(second.activeKey().kid).toBe(first.activeKey().kid);
  });

  it('keeps retired keys published across restarts years later, the active first', async () => {
    let current = new Date('2030-01-01T00:00:00Z').getTime();
    const now = () => new Date(current);
    const ring = await openLocalAuditKeyRing({ dataDir, now });
    const original = ring.activeKey();
    const before = sealedTrail(original, 2, 2);

    const rotated = await ring.rotate();
    current += 10 * 365 * 24 * 3600 * 1000;
    const reopened = await openLocalAuditKeyRing({ dataDir, now });

    expect(reopened.activeKey().kid).toBe(rotated.kid);
    expect(reopened.publishedKeys().map((jwk) => jwk.kid)).toEqual([rotated.kid, original.kid]);
    expect(verifyAuditTrail({ ...before, keys: reopened.publishedKeys() }).ok).toBe(true);
  });

  it('runs rotations one after the other, leaving exactly one active key', async () => {
    const ring = await openLocalAuditKeyRing({ dataDir });
    const [one, two] = await Promise.all([ring.rotate(), ring.rotate()]);
    const stored = JSON.parse(await readFile(ringFile(), 'utf8')) as {
      keys: { kid: string; retiredAt?: string }[];
    };

    expect(ring.activeKey().kid).toBe(two.kid);
    expect(ring.publishedKeys()).toHaveLength(3);
    expect(stored.keys.filter((key) => key.retiredAt === undefined).map((key) => key.kid)).toEqual([
      two.kid,
    ]);
    expect(stored.keys.map((key) => key.kid)).toContain(one.kid);
  });

  it('refuses a ring file it cannot read instead of replacing it', async () => {
    await openLocalAuditKeyRing({ dataDir });
    await writeFile(ringFile(), '{"version":1,"keys":[]}');

    await expect(openLocalAuditKeyRing({ dataDir })).rejects.toMatchObject({
      name: 'AuditKeyError',
      code: 'auditKey.keyRingUnreadable',
    });
    expect(await readFile(ringFile(), 'utf8')).toBe('{"version":1,"keys":[]}');
  });

  it('refuses a ring whose kid does not match its key', async () => {
    await openLocalAuditKeyRing({ dataDir });
    const stored = JSON.parse(await readFile(ringFile(), 'utf8')) as { keys: { kid: string }[] };
    const [first] = stored.keys;
    if (first !== undefined) {
      first.kid = 'not-the-thumbprint';
    }
    await writeFile(ringFile(), JSON.stringify(stored));

    await expect(openLocalAuditKeyRing({ dataDir })).rejects.toMatchObject({
      code: 'auditKey.keyRingUnreadable',
    });
  });
});
