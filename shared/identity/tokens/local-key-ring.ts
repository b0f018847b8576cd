/**
 * The local runtime's token signing keys. In AWS the key lives in KMS; on a laptop it lives in
 * `<dataDir>/keys/token-keys.json`, so that tokens issued before a restart still verify after
 * it. Without a data directory (tests) the ring lives in memory only.
 *
 * Rotation timeline: `rotate()` makes a new key active and retires the old one. The retired key
 * signs nothing more but stays published until the last token it signed can have expired,
 * `retiredAt + TOKEN_TTL_SECONDS + MAX_CLOCK_SKEW_SECONDS`; then it is dropped.
 */
import { generateKeyPair, createPrivateKey, type JsonWebKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadOrCreatePrivateFile, writePrivateFile } from '@shared/keys/private-file';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from '@shared/validation/schema';
import { createLocalSigningKey, SigningKeyError, type TokenSigningKey } from './signing-key';
import { TOKEN_TTL_SECONDS } from './token-issuer';
import { MAX_CLOCK_SKEW_SECONDS } from './token-verifier';

/** How long a retired key stays published: until its last token can no longer verify. */
export const RETIRED_KEY_RETENTION_SECONDS = TOKEN_TTL_SECONDS + MAX_CLOCK_SKEW_SECONDS;

/** Where the ring lives under the data directory. */
export const KEY_RING_FILE = join('keys', 'token-keys.json');

export interface LocalKeyRingOptions {
  /** Where the runtime keeps its state; without it the ring is not persisted. */
  readonly dataDir?: string;
  readonly now?: () => Date;
}

export interface LocalKeyRing {
  /** The key that signs new tokens. */
  activeKey(): TokenSigningKey;
  /** The keys a verifier must know: the active one first, then those still in retention. */
  publishedKeys(): TokenSigningKey[];
  /** Makes a new key active and retires the current one; resolves once it is persisted. */
  rotate(): Promise<TokenSigningKey>;
}

const storedKeySchema = z.strictObject({
  kid: z.string().min(1),
  privateJwk: z.looseObject({ kty: z.literal('EC'), crv: z.literal('P-256'), d: z.string() }),
  createdAt: z.iso.datetime(),
  retiredAt: z.iso.datetime().optional(),
});

const storedRingSchema = z.strictObject({
  version: z.literal(1),
  keys: z.array(storedKeySchema).min(1),
});

type StoredKey = z.infer<typeof storedKeySchema>;

interface RingEntry {
  readonly key: TokenSigningKey;
  readonly stored: StoredKey;
}

const generateP256 = promisify(generateKeyPair);

const newEntry = async (createdAt: Date): Promise<RingEntry> => {
  const { privateKey } = await generateP256('ec', { namedCurve: 'P-256' });
  const key = createLocalSigningKey(privateKey);
  const privateJwk = privateKey.export({ format: 'jwk' }) as StoredKey['privateJwk'];

  return { key, stored: { kid: key.kid, privateJwk, createdAt: createdAt.toISOString() } };
};

const isRetained = (entry: RingEntry, nowMs: number): boolean =>
  entry.stored.retiredAt === undefined ||
  Date.parse(entry.stored.retiredAt) + RETIRED_KEY_RETENTION_SECONDS * 1000 > nowMs;

const unreadable = (file: string, reason: string, cause?: unknown): SigningKeyError =>
  new SigningKeyError(
    'signingKey.keyRingUnreadable',
    `${file} ${reason}; remove it to start with a new key (tokens issued so far stop verifying)`,
    cause,
  );

const toEntry = (stored: StoredKey, file: string): RingEntry => {
  const key = createLocalSigningKey(
    createPrivateKey({ key: stored.privateJwk as JsonWebKey, format: 'jwk' }),
  );
  if (key.kid !== stored.kid) {
    throw unreadable(file, `holds a key whose kid is not its thumbprint (${stored.kid})`);
  }

  return { key, stored };
};

const readRing = async (file: string): Promise<RingEntry[] | undefined> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw unreadable(file, 'cannot be read', error);
  }

  let entries: RingEntry[];
  try {
    const ring = storedRingSchema.parse(JSON.parse(text));
    entries = ring.keys.map((stored) => toEntry(stored, file));
  } catch (error) {
    throw error instanceof SigningKeyError ? error : unreadable(file, 'is not a key ring', error);
  }
  if (entries.filter((entry) => entry.stored.retiredAt === undefined).length !== 1) {
    throw unreadable(file, 'must hold exactly one active key');
  }

  return entries;
};

const serializeRing = (entries: readonly RingEntry[]): string =>
  `${JSON.stringify({ version: 1, keys: entries.map((entry) => entry.stored) })}\n`;

const writeRing = (file: string, entries: readonly RingEntry[]): Promise<void> =>
  writePrivateFile(file, serializeRing(entries), false);

/** The ring on disk, or a new ring written there at first start. */
const loadOrCreate = (file: string, now: Date): Promise<RingEntry[]> =>
  loadOrCreatePrivateFile(file, readRing, async () => [await newEntry(now)], serializeRing);

/** Opens the local runtime's key ring, creating its first key when there is none. */
export const openLocalKeyRing = async (
  options: LocalKeyRingOptions = {},
): Promise<LocalKeyRing> => {
  const now = options.now ?? (() => new Date());
  const file = options.dataDir === undefined ? undefined : join(options.dataDir, KEY_RING_FILE);
  let entries = file === undefined ? [await newEntry(now())] : await loadOrCreate(file, now());
  // Rotations run one after the other so that two of them never retire the same key.
  let rotating: Promise<unknown> = Promise.resolve();

  const active = (): RingEntry => {
    const entry = entries.find((candidate) => candidate.stored.retiredAt === undefined);
    if (entry === undefined) {
      throw new SigningKeyError('signingKey.keyRingUnreadable', 'the key ring has no active key');
    }

    return entry;
  };

  const rotateNow = async (): Promise<TokenSigningKey> => {
    const at = now();
    const fresh = await newEntry(at);
    const retiredAt = at.toISOString();
    const retired = entries.map((entry) =>
      entry.stored.retiredAt === undefined
        ? { ...entry, stored: { ...entry.stored, retiredAt } }
        : entry,
    );
    const next = [fresh, ...retired].filter((entry) => isRetained(entry, at.getTime()));

    // Persist before switching, so that memory never signs with a key the file does not hold.
    if (file !== undefined) {
      await writeRing(file, next);
    }
    entries = next;

    return fresh.key;
  };

  return {
    activeKey: () => active().key,
    publishedKeys: () => {
      const nowMs = now().getTime();

      return entries.filter((entry) => isRetained(entry, nowMs)).map((entry) => entry.key);
    },
    rotate: () => {
      const rotation = rotating.catch(() => undefined).then(rotateNow);
      rotating = rotation;

      return rotation;
    },
  };
};
