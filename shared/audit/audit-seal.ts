/**
 * Sealing: linking unsealed entries into their chain and signing them, as `audit-entry.ts`
 * describes. Pure: the caller reads the chain head and writes the result, so that the same code
 * serves the DynamoDB sealer, the local runtime and the tests.
 *
 * The hash and the signature cover the same bytes: the RFC 8785 canonical JSON of the entry
 * without `hash`, `signature` and `sealed_at`. Fields are picked by name before hashing, so that
 * whatever else a stored item carries (keys, TTLs) can never change an entry's hash.
 */
import { createHash } from 'node:crypto';
import {
  AUDIT_CHAIN_COUNT,
  type AuditCheckpoint,
  type SealedAuditEntry,
  type UnsealedAuditEntry,
} from './audit-entry';
import { auditChainOf } from './audit-ids';
import { AUDIT_KEY_CURVE, ES512_SIGNATURE_BYTES, type AuditSigningKey } from './audit-signing-key';
import { canonicalJson } from './canonical-json';
import { CodedError } from '@shared/errors/coded-error';

/** How an ES512 signature is written in an entry or a checkpoint: `es512-<base64url>`. */
export const AUDIT_SIGNATURE_PREFIX = 'es512-';

/** A SHA-256 in base64url: 43 characters, no padding. */
export const AUDIT_HASH_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/;

/** The last sealed entry of a chain: where the next entry links to. */
export interface AuditChainHead {
  readonly chain: number;
  readonly seq: number;
  readonly hash: string;
}

/** What the hash and the signature of an entry cover. */
export type AuditHashedFields = Omit<SealedAuditEntry, 'hash' | 'signature' | 'sealed_at'>;

/** What the signature of a checkpoint covers. */
export type AuditCheckpointFields = Omit<AuditCheckpoint, 'signature'>;

export type AuditSealErrorCode =
  | 'auditSeal.wrongChain'
  | 'auditSeal.duplicateEntry'
  | 'auditSeal.invalidHead'
  | 'auditSeal.nothingToSeal'
  | 'auditSeal.wrongKey'
  | 'auditSeal.malformedSignature';

/** A batch that cannot be sealed as asked, or a signature that is not `es512-<132 bytes>`. */
export class AuditSealError extends CodedError<AuditSealErrorCode> {
  override readonly name = 'AuditSealError';
}

export interface SealAuditEntriesInput {
  /** The chain's last sealed entry; `undefined` when the chain is still empty. */
  readonly head: AuditChainHead | undefined;
  /** Entries of this one chain, in the order they are to be sealed. */
  readonly entries: readonly UnsealedAuditEntry[];
  readonly key: AuditSigningKey;
  readonly now?: Date;
}

export interface SealedAuditBatch {
  readonly sealed: SealedAuditEntry[];
  /** The new head of the chain, signed. */
  readonly checkpoint: AuditCheckpoint;
}

/** The hashed fields of an entry, picked by name; any other member is left behind. */
export const auditHashedFields = (entry: AuditHashedFields): AuditHashedFields => ({
  audit_id: entry.audit_id,
  timestamp: entry.timestamp,
  service: entry.service,
  operation: entry.operation,
  identity: entry.identity,
  outcome: entry.outcome,
  request_id: entry.request_id,
  resource: entry.resource,
  details: entry.details,
  chain: entry.chain,
  seq: entry.seq,
  prev_hash: entry.prev_hash,
  kid: entry.kid,
});

/** The bytes an entry's hash and signature cover: UTF-8 of its canonical JSON. */
export const auditEntrySigningBytes = (entry: AuditHashedFields): Uint8Array =>
  Buffer.from(canonicalJson(auditHashedFields(entry)), 'utf8');

const sha256Base64url = (bytes: Uint8Array): string =>
  createHash('sha256').update(bytes).digest('base64url');

/** The `hash` of an entry: SHA-256, base64url, of its canonical JSON without the seal's output. */
export const auditEntryHash = (entry: AuditHashedFields): string =>
  sha256Base64url(auditEntrySigningBytes(entry));

/** The bytes a checkpoint's signature covers: UTF-8 of its canonical JSON without `signature`. */
export const auditCheckpointSigningBytes = (checkpoint: AuditCheckpointFields): Uint8Array =>
  Buffer.from(
    canonicalJson({
      chain: checkpoint.chain,
      seq: checkpoint.seq,
      hash: checkpoint.hash,
      timestamp: checkpoint.timestamp,
      kid: checkpoint.kid,
    }),
    'utf8',
  );

/** `es512-<base64url>` of a 132-byte JOSE signature. */
export const formatSignature = (bytes: Uint8Array): string => {
  if (bytes.length !== ES512_SIGNATURE_BYTES) {
    throw new AuditSealError(
      'auditSeal.malformedSignature',
      `an ES512 signature has ${ES512_SIGNATURE_BYTES} bytes, not ${bytes.length}`,
    );
  }

  return `${AUDIT_SIGNATURE_PREFIX}${Buffer.from(bytes).toString('base64url')}`;
};

/**
 * The 132 signature bytes of `es512-<base64url>`. Strict: node's base64 decoder skips stray
 * characters and ignores trailing bits, so the text must be exactly what `formatSignature`
 * writes for the bytes it decodes to; otherwise two texts would pass for one signature.
 */
export const parseSignature = (text: string): Uint8Array => {
  const encoded = text.startsWith(AUDIT_SIGNATURE_PREFIX)
    ? text.slice(AUDIT_SIGNATURE_PREFIX.length)
    : undefined;
  if (encoded === undefined || !BASE64URL_PATTERN.test(encoded)) {
    throw new AuditSealError(
      'auditSeal.malformedSignature',
      `a signature is ${AUDIT_SIGNATURE_PREFIX} and base64url`,
    );
  }
  const bytes = Buffer.from(encoded, 'base64url');
  if (bytes.length !== ES512_SIGNATURE_BYTES || bytes.toString('base64url') !== encoded) {
    throw new AuditSealError(
      'auditSeal.malformedSignature',
      `a signature encodes exactly ${ES512_SIGNATURE_BYTES} bytes in canonical base64url`,
    );
  }

  return new Uint8Array(bytes);
};

const checkKey = (key: AuditSigningKey): void => {
  const jwk = key.publicJwk();
  if (jwk.kty !== 'EC' || jwk.crv !== AUDIT_KEY_CURVE) {
    throw new AuditSealError('auditSeal.wrongKey', 'audit entries are sealed with a P-521 key');
  }
};

const checkHead = (head: AuditChainHead): void => {
  const validChain = Number.isInteger(head.chain) && head.chain >= 0;
  if (!validChain || head.chain >= AUDIT_CHAIN_COUNT) {
    throw new AuditSealError('auditSeal.invalidHead', `chain ${head.chain} does not exist`);
  }
  if (!Number.isSafeInteger(head.seq) || head.seq < 1) {
    throw new AuditSealError('auditSeal.invalidHead', 'the head seq must be a positive integer');
  }
  if (!AUDIT_HASH_PATTERN.test(head.hash)) {
    throw new AuditSealError('auditSeal.invalidHead', 'the head hash must be a base64url SHA-256');
  }
};

/**
 * The signed checkpoint of a chain head: "entries up to `seq` end in `hash`". Kept where the
 * writers cannot write, it is what shows a cut-off tail.
 */
export const signCheckpoint = (
  head: AuditChainHead,
  key: AuditSigningKey,
  now: Date = new Date(),
): AuditCheckpoint => {
  checkHead(head);
  checkKey(key);
  const fields: AuditCheckpointFields = {
    chain: head.chain,
    seq: head.seq,
    hash: head.hash,
    timestamp: now.toISOString(),
    kid: key.kid,
  };

  return { ...fields, signature: formatSignature(key.sign(auditCheckpointSigningBytes(fields))) };
};

/** The chain of the batch: the head's, or the first entry's when the chain is empty. */
const batchChain = (input: SealAuditEntriesInput): number => {
  if (input.head !== undefined) {
    checkHead(input.head);

    return input.head.chain;
  }
  const [first] = input.entries;
  if (first === undefined) {
    throw new AuditSealError('auditSeal.nothingToSeal', 'an empty chain needs entries to seal');
  }

  return auditChainOf(first.audit_id);
};

const checkBatch = (entries: readonly UnsealedAuditEntry[], chain: number): void => {
  const seen = new Set<string>();
  for (const entry of entries) {
    const entryChain = auditChainOf(entry.audit_id);
    if (entryChain !== chain) {
      throw new AuditSealError(
        'auditSeal.wrongChain',
        `${entry.audit_id} belongs to chain ${entryChain}, not to chain ${chain}`,
      );
    }
    // A stream delivers at least once: a repeat must be dropped before sealing, not sealed twice.
    if (seen.has(entry.audit_id)) {
      throw new AuditSealError(
        'auditSeal.duplicateEntry',
        `${entry.audit_id} is in the batch twice`,
      );
    }
    seen.add(entry.audit_id);
  }
};

/**
 * Seals `entries` after `head`, in the order given: each gets the next `seq`, the hash of its
 * predecessor, the key's `kid`, its own hash and signature; the batch ends with a signed
 * checkpoint of the new head. With no entries, the checkpoint re-signs the current head.
 * Throws an `AuditSealError` when an entry belongs to another chain or appears twice.
 */
export const sealAuditEntries = (input: SealAuditEntriesInput): SealedAuditBatch => {
  const now = input.now ?? new Date();
  const chain = batchChain(input);
  checkBatch(input.entries, chain);
  checkKey(input.key);

  const sealedAt = now.toISOString();
  let seq = input.head?.seq ?? 0;
  let prevHash = input.head?.hash ?? null;
  const sealed = input.entries.map((entry): SealedAuditEntry => {
    seq += 1;
    const fields = auditHashedFields({
      ...entry,
      chain,
      seq,
      prev_hash: prevHash,
      kid: input.key.kid,
    });
    const bytes = auditEntrySigningBytes(fields);
    const hash = sha256Base64url(bytes);
    prevHash = hash;

    return {
      ...fields,
      hash,
      signature: formatSignature(input.key.sign(bytes)),
      sealed_at: sealedAt,
    };
  });

  // `prevHash` is now the hash of the last entry sealed, or the head's when there was none.
  const head = { chain, seq, hash: prevHash ?? '' };

  return { sealed, checkpoint: signCheckpoint(head, input.key, now) };
};
