/**
 * The key that seals the audit trail: ECDSA on P-521 with SHA-512 (ES512), a different key from
 * the ES256 token key, so that whoever can mint tokens cannot forge the trail and the reverse.
 *
 * The sealer signs in-process and synchronously, from a key held in its memory. KMS would keep
 * the key out of the process, but asymmetric ECC signing in KMS is limited to a few hundred
 * requests a second per account, shared with every other caller, far below the thousands of
 * entries a second the gateway may write. So in AWS the key is *derived*: Secrets Manager
 * generates a long random string, the sealer reads it at start and turns it into a P-521 key
 * (`deriveAuditSigningKey`), and the key exists only in the sealer's memory. No custom resource
 * has to make a key pair at deploy time, and rotating the secret rotates the key.
 *
 * On a laptop, `openLocalAuditKeyRing` keeps generated keys in a file instead.
 */
import {
  createPrivateKey,
  createPublicKey,
  createECDH,
  generateKeyPair,
  generateKeyPairSync,
  hkdfSync,
  sign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadOrCreatePrivateFile, writePrivateFile } from '@shared/keys/private-file';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jwkThumbprint } from '@shared/identity/tokens/signing-key';
import { z } from '@shared/validation/schema';

/** The one algorithm audit entries and checkpoints are signed with. */
export const AUDIT_SIGNING_ALG = 'ES512';

export const AUDIT_KEY_CURVE = 'P-521';

/** The size of r and of s in an ES512 signature: 521 bits round up to 66 bytes. */
export const ES512_PART_BYTES = 66;

/** The JOSE signature is r || s. */
export const ES512_SIGNATURE_BYTES = 2 * ES512_PART_BYTES;

/** The order n of the P-521 group: a private key is a number from 1 to n - 1. */
export const P521_ORDER = BigInt(
  '0x01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' +
    'fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
);

/** Mixed into the derivation, so that the same secret used elsewhere gives a different key. */
export const AUDIT_KEY_DERIVATION_INFO = 'blux-audit-signing-key-v1';

/**
 * 640 bits for a 521-bit key: reducing a number at least 64 bits longer than n leaves a bias
 * below 2^-64, the "extra random bits" method of FIPS 186-5 (A.2.1).
 */
export const AUDIT_KEY_DERIVATION_BYTES = 80;

/**
 * The shortest secret a key may be derived from. Secrets Manager generates 32 characters by
 * default, about 190 bits from its alphabet; anything shorter is more likely a typed password.
 */
export const MIN_AUDIT_KEY_SECRET_CHARS = 32;

/** Where the local ring lives under the data directory. */
export const AUDIT_KEY_RING_FILE = join('keys', 'audit-keys.json');

const UNCOMPRESSED_POINT_PREFIX = 0x04;

export type AuditKeyErrorCode =
  'auditKey.notP521' | 'auditKey.weakSecret' | 'auditKey.keyRingUnreadable';

/** A key that cannot seal the audit trail, or a key ring that cannot be read. */
export class AuditKeyError extends Error {
  override readonly name = 'AuditKeyError';
  readonly code: AuditKeyErrorCode;

  constructor(code: AuditKeyErrorCode, message: string, cause?: unknown) {
    super(`${code}: ${message}`, { cause });
    this.code = code;
  }
}

/** The key that seals audit entries and checkpoints. */
export interface AuditSigningKey {
  /** The RFC 7638 thumbprint of the public key: base64url SHA-256, 43 characters. */
  readonly kid: string;
  /** The public key with its public members only (`kty`, `crv`, `x`, `y`). */
  publicJwk(): JsonWebKey;
  /** Signs `bytes` with ES512; the result is the JOSE signature, r || s in 132 bytes. */
  sign(bytes: Uint8Array): Uint8Array;
}

/** The public members of a P-521 key; any other key is refused. */
export const publicP521Jwk = (key: KeyObject): JsonWebKey => {
  // node derives the public half of a private KeyObject, and refuses to for a public one.
  const publicKey = key.type === 'public' ? key : createPublicKey(key);
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== AUDIT_KEY_CURVE || !jwk.x || !jwk.y) {
    throw new AuditKeyError('auditKey.notP521', 'audit signing keys must be EC P-521 keys');
  }

  return { kty: 'EC', crv: AUDIT_KEY_CURVE, x: jwk.x, y: jwk.y };
};

/**
 * The form `GET /v1/audit/keys` and the local ring publish: the public members, the `kid` and
 * what the key is for. Members are picked, never spread, so that a `d` cannot slip through.
 */
export const toPublishedAuditJwk = (key: AuditSigningKey): JsonWebKey => {
  const { kty, crv, x, y } = key.publicJwk();

  return { kty, crv, x, y, kid: key.kid, alg: AUDIT_SIGNING_ALG, use: 'sig' };
};

/** An audit signing key over a private P-521 key held in this process. */
export const createAuditSigningKey = (privateKey: KeyObject): AuditSigningKey => {
  if (privateKey.type !== 'private') {
    throw new AuditKeyError('auditKey.notP521', 'an audit signing key needs a private key');
  }
  const jwk = publicP521Jwk(privateKey);

  return {
    kid: jwkThumbprint(jwk),
    publicJwk: () => ({ ...jwk }),
    // `ieee-p1363` makes node return r || s directly, the JOSE form.
    sign: (bytes) => sign('sha512', bytes, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  };
};

/** A new random P-521 key. */
export const generateAuditSigningKey = (): AuditSigningKey =>
  createAuditSigningKey(generateKeyPairSync('ec', { namedCurve: AUDIT_KEY_CURVE }).privateKey);

/** The key of a private P-521 JWK (one with `d`), as the local ring stores it. */
export const auditSigningKeyFromJwk = (privateJwk: JsonWebKey): AuditSigningKey => {
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== AUDIT_KEY_CURVE || !privateJwk.d) {
    throw new AuditKeyError('auditKey.notP521', 'expected a private EC P-521 JWK');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: privateJwk, format: 'jwk' });
  } catch (error) {
    throw new AuditKeyError('auditKey.notP521', 'the JWK is not a valid P-521 key', error);
  }

  return createAuditSigningKey(privateKey);
};

const toFixedBytes = (value: bigint, length: number): Buffer =>
  Buffer.from(value.toString(16).padStart(2 * length, '0'), 'hex');

/**
 * The P-521 key derived from `secret`: the same secret always gives the same key, so that every
 * sealer instance reading the secret signs with the same `kid`.
 *
 * d = (HKDF-SHA-512(secret, info `blux-audit-signing-key-v1`, 80 bytes) read as a big-endian
 * number) mod (n - 1) + 1, which lands in 1 to n - 1 for any secret; the public point is
 * d times the generator, computed by node's ECDH. The secret must be high-entropy (a generated
 * random string): HKDF does not slow down guessing the way a password hash would.
 */
export const deriveAuditSigningKey = (secret: string): AuditSigningKey => {
  if (secret.length < MIN_AUDIT_KEY_SECRET_CHARS) {
    throw new AuditKeyError(
      'auditKey.weakSecret',
      `the secret must be at least ${MIN_AUDIT_KEY_SECRET_CHARS} random characters`,
    );
  }
  // No salt: the secret is already uniformly random, and the info string separates uses.
  const material = Buffer.from(
    hkdfSync(
      'sha512',
      secret,
      Buffer.alloc(0),
      AUDIT_KEY_DERIVATION_INFO,
      AUDIT_KEY_DERIVATION_BYTES,
    ),
  );
  const d = (BigInt(`0x${material.toString('hex')}`) % (P521_ORDER - 1n)) + 1n;
  const privateBytes = toFixedBytes(d, ES512_PART_BYTES);

  const ecdh = createECDH('secp521r1');
  ecdh.setPrivateKey(privateBytes);
  const point = ecdh.getPublicKey();
  if (point.length !== 1 + 2 * ES512_PART_BYTES || point[0] !== UNCOMPRESSED_POINT_PREFIX) {
    throw new AuditKeyError('auditKey.notP521', 'node returned an unexpected public point');
  }

  return auditSigningKeyFromJwk({
    kty: 'EC',
    crv: AUDIT_KEY_CURVE,
    x: point.subarray(1, 1 + ES512_PART_BYTES).toString('base64url'),
    y: point.subarray(1 + ES512_PART_BYTES).toString('base64url'),
    d: privateBytes.toString('base64url'),
  });
};

// The local key ring

export interface LocalAuditKeyRingOptions {
  /** Where the runtime keeps its state; without it the ring lives in memory only. */
  readonly dataDir?: string;
  readonly now?: () => Date;
}

export interface LocalAuditKeyRing {
  /** The key that seals new entries. */
  activeKey(): AuditSigningKey;
  /**
   * Every key the ring has held, the active one first, each with `kid`, `alg` and `use`.
   * Retired keys stay forever: entries sealed before a rotation must still verify.
   */
  publishedKeys(): JsonWebKey[];
  /** Makes a new key active and retires the current one; resolves once it is persisted. */
  rotate(): Promise<AuditSigningKey>;
}

const storedKeySchema = z.strictObject({
  kid: z.string().min(1),
  privateJwk: z.looseObject({
    kty: z.literal('EC'),
    crv: z.literal(AUDIT_KEY_CURVE),
    d: z.string().min(1),
  }),
  createdAt: z.iso.datetime(),
  retiredAt: z.iso.datetime().optional(),
});

const storedRingSchema = z.strictObject({
  version: z.literal(1),
  keys: z.array(storedKeySchema).min(1),
});

type StoredAuditKey = z.infer<typeof storedKeySchema>;

interface RingKey {
  readonly key: AuditSigningKey;
  readonly stored: StoredAuditKey;
}

const generateP521 = promisify(generateKeyPair);

const newRingKey = async (createdAt: Date): Promise<RingKey> => {
  const { privateKey } = await generateP521('ec', { namedCurve: AUDIT_KEY_CURVE });
  const key = createAuditSigningKey(privateKey);
  const privateJwk = privateKey.export({ format: 'jwk' }) as StoredAuditKey['privateJwk'];

  return { key, stored: { kid: key.kid, privateJwk, createdAt: createdAt.toISOString() } };
};

const unreadableRing = (file: string, reason: string, cause?: unknown): AuditKeyError =>
  new AuditKeyError(
    'auditKey.keyRingUnreadable',
    `${file} ${reason}; entries sealed with its keys cannot be verified without it, so restore ` +
      'it rather than remove it',
    cause,
  );

const toRingKey = (stored: StoredAuditKey, file: string): RingKey => {
  const key = auditSigningKeyFromJwk(stored.privateJwk as JsonWebKey);
  if (key.kid !== stored.kid) {
    throw unreadableRing(file, `holds a key whose kid is not its thumbprint (${stored.kid})`);
  }

  return { key, stored };
};

const readRing = async (file: string): Promise<RingKey[] | undefined> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw unreadableRing(file, 'cannot be read', error);
  }

  let keys: RingKey[];
  try {
    keys = storedRingSchema.parse(JSON.parse(text)).keys.map((stored) => toRingKey(stored, file));
  } catch (error) {
    throw error instanceof AuditKeyError && error.code === 'auditKey.keyRingUnreadable'
      ? error
      : unreadableRing(file, 'is not an audit key ring', error);
  }
  if (keys.filter((ringKey) => ringKey.stored.retiredAt === undefined).length !== 1) {
    throw unreadableRing(file, 'must hold exactly one active key');
  }

  return keys;
};

const serializeRing = (keys: readonly RingKey[]): string =>
  `${JSON.stringify({ version: 1, keys: keys.map((ringKey) => ringKey.stored) }, null, 2)}\n`;

const writeRing = (file: string, keys: readonly RingKey[]): Promise<void> =>
  writePrivateFile(file, serializeRing(keys), false);

const loadOrCreateRing = (file: string, now: Date): Promise<RingKey[]> =>
  loadOrCreatePrivateFile(file, readRing, async () => [await newRingKey(now)], serializeRing);

/**
 * Opens the local runtime's audit key ring at `<dataDir>/keys/audit-keys.json`, making its first
 * key when there is none. Unlike the token ring it never drops a retired key: a token outlives
 * its key by minutes, an audit entry by years.
 */
export const openLocalAuditKeyRing = async (
  options: LocalAuditKeyRingOptions = {},
): Promise<LocalAuditKeyRing> => {
  const now = options.now ?? (() => new Date());
  const file =
    options.dataDir === undefined ? undefined : join(options.dataDir, AUDIT_KEY_RING_FILE);
  let keys = file === undefined ? [await newRingKey(now())] : await loadOrCreateRing(file, now());
  // Rotations queue up, so that two of them never retire the same key.
  let rotating: Promise<unknown> = Promise.resolve();

  const active = (): RingKey => {
    const ringKey = keys.find((candidate) => candidate.stored.retiredAt === undefined);
    if (ringKey === undefined) {
      throw new AuditKeyError('auditKey.keyRingUnreadable', 'the audit key ring has no active key');
    }

    return ringKey;
  };

  const rotateNow = async (): Promise<AuditSigningKey> => {
    const at = now();
    const fresh = await newRingKey(at);
    const retiredAt = at.toISOString();
    const next = [
      fresh,
      ...keys.map((ringKey) =>
        ringKey.stored.retiredAt === undefined
          ? { ...ringKey, stored: { ...ringKey.stored, retiredAt } }
          : ringKey,
      ),
    ];

    // Persist first: memory must never seal with a key the file does not hold.
    if (file !== undefined) {
      await writeRing(file, next);
    }
    keys = next;

    return fresh.key;
  };

  return {
    activeKey: () => active().key,
    publishedKeys: () => {
      const current = active();
      const retired = keys.filter((ringKey) => ringKey !== current);

      return [current, ...retired].map((ringKey) => toPublishedAuditJwk(ringKey.key));
    },
    rotate: () => {
      const rotation = rotating.catch(() => undefined).then(rotateNow);
      rotating = rotation;

      return rotation;
    },
  };
};
