/**
 * Verifies an exported audit trail with nothing but the public keys it is given: every field of
 * an entry is checked against its signature, every chain against its links, and every signed
 * checkpoint against the entries it vouches for. Pure, so that the CLI, the API's tests and any
 * outside auditor run the same checks.
 *
 * What the export may be: any set of entries, sealed or not, of any chains, that holds each
 * chain as a contiguous run listed in `seq` order (chains may interleave; `listedInSeqOrder`
 * lifts the order). A run may start in the middle of a chain (an export of a time window): its
 * first entry is then not a gap, but its link to the entry before the window cannot be checked.
 * Exact repeats of an entry (overlapping pages) are skipped. The `sealed` flag a listing adds
 * to each entry is accepted when it tells the truth. A listing filtered by service or
 * identity is not contiguous and shows gaps; the checkpoints passed must be ones the run
 * reaches, or they report the entries after the run as cut off.
 *
 * What is an error and what is a notice: an unsealed entry is a notice (`unsealed`), since the
 * newest entries wait a moment for the sealer and an export taken meanwhile is not wrong; it
 * proves nothing either, and the report says so. Stripping the seal off a sealed entry hides
 * nothing: its place in the chain then shows as a gap, or as a cut-off tail at a checkpoint.
 * Everything else is an error and makes `ok` false.
 *
 * How it reports: each problem names the entry where the trail breaks. A changed entry is a
 * `bad_signature` at that entry; the chain checks use the fields as they stand, so its
 * neighbours are blamed only when they no longer agree with it. A deleted entry is a `gap` at
 * the entry after it; entries listed out of order are `out_of_order` at the one listed after a
 * higher `seq`; two different entries at one place are a `fork` at the second one listed.
 *
 * Known shortcoming: `sealed_at` is outside the signed bytes by the contract in
 * `audit-entry.ts`, so an edit of it that leaves a well-formed time after the entry's own
 * timestamp cannot be detected. Covering it needs a change of the contract (signing the entry
 * without `signature` only), which the sealer and this verifier would have to adopt together.
 */
import { createHash, createPublicKey, KeyObject, verify, type JsonWebKey } from 'node:crypto';
import { jwkThumbprint } from '@shared/identity/tokens/signing-key';
import { z } from '@shared/validation/schema';
import type { AuditCheckpoint, SealedAuditEntry, UnsealedAuditEntry } from './audit-entry';
import { isAuditId } from './audit-ids';
import {
  auditCheckpointSigningBytes,
  auditEntrySigningBytes,
  parseSignature,
  AuditSealError,
} from './audit-seal';
import { AUDIT_KEY_CURVE, AUDIT_SIGNING_ALG } from './audit-signing-key';
import { canonicalJson, CanonicalJsonError } from './canonical-json';

/** Every kind of problem, and whether it is an error or a notice. */
export const AUDIT_PROBLEM_KINDS = {
  bad_signature: 'error',
  bad_hash: 'error',
  unknown_kid: 'error',
  wrong_key_type: 'error',
  malformed_entry: 'error',
  malformed_checkpoint: 'error',
  gap: 'error',
  out_of_order: 'error',
  fork: 'error',
  broken_link: 'error',
  truncated: 'error',
  bad_checkpoint_signature: 'error',
  unsealed: 'notice',
} as const;

export type AuditProblemKind = keyof typeof AUDIT_PROBLEM_KINDS;

export type AuditProblemSeverity = (typeof AUDIT_PROBLEM_KINDS)[AuditProblemKind];

/**
 * A sealed entry's `sealed_at` may precede its `timestamp` by this much: the writer and the
 * sealer read different clocks.
 */
export const MAX_SEAL_CLOCK_SKEW_MS = 60_000;

export interface AuditProblem {
  readonly kind: AuditProblemKind;
  readonly severity: AuditProblemSeverity;
  /** The entry where the trail breaks, as it stands in the export. */
  readonly auditId?: string;
  readonly chain?: number;
  readonly seq?: number;
  /** The position of the entry in the list given, from 0. */
  readonly entryIndex?: number;
  /** The position of the checkpoint in the list given, for a problem a checkpoint found. */
  readonly checkpointIndex?: number;
  readonly message: string;
}

export interface AuditVerificationReport {
  /** No errors; notices (unsealed entries) do not count. */
  readonly ok: boolean;
  /** Entries examined: every one given, sealed or not. */
  readonly entriesChecked: number;
  readonly checkpointsChecked: number;
  readonly problems: AuditProblem[];
}

export interface VerifyAuditTrailInput {
  /** Entries as exported, in each chain's `seq` order. */
  readonly entries: readonly unknown[];
  readonly checkpoints: readonly unknown[];
  /** The public audit keys to trust, each with its `kid`. */
  readonly keys: readonly JsonWebKey[];
  /**
   * Whether the list is meant to hold each chain in `seq` order, as an export does; then a
   * chain listed otherwise is `out_of_order`. Default true. A listing sorted by time (or newest
   * first) is not in `seq` order, since the sealer links entries in the order it receives them:
   * pass false to verify one, with every other check unchanged.
   */
  readonly listedInSeqOrder?: boolean;
}

// Shapes. Types and the formats the contract defines are checked, not the writers' length
// limits: those may change, and an entry that was valid when it was sealed stays valid.

const isoTime = z.iso.datetime({ precision: 3 });

const unsealedShape = {
  audit_id: z.string().refine(isAuditId, 'is not an audit id'),
  timestamp: isoTime,
  service: z.string(),
  operation: z.string(),
  identity: z.string(),
  outcome: z.string(),
  request_id: z.string(),
  resource: z.strictObject({ type: z.string(), id: z.string() }).nullable(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
};

// `GET /v1/audit` marks each entry `sealed`: outside the signature, so it is accepted only when
// it says what the entry's own fields say.
const unsealedSchema = z.strictObject({ ...unsealedShape, sealed: z.literal(false).optional() });

const sealedSchema = z.strictObject({
  ...unsealedShape,
  sealed: z.literal(true).optional(),
  chain: z.int().min(0),
  seq: z.int().min(1),
  prev_hash: z.string().nullable(),
  kid: z.string().min(1),
  hash: z.string(),
  signature: z.string(),
  sealed_at: isoTime,
});

const checkpointSchema = z.strictObject({
  chain: z.int().min(0),
  seq: z.int().min(1),
  hash: z.string(),
  timestamp: isoTime,
  kid: z.string().min(1),
  signature: z.string(),
});

const SEAL_FIELDS = ['chain', 'seq', 'prev_hash', 'kid', 'hash', 'signature', 'sealed_at'];

// Keys

type TrustedKey =
  | { readonly kind: 'audit'; readonly key: KeyObject }
  | { readonly kind: 'other'; readonly description: string };

const describeKey = (jwk: JsonWebKey): string =>
  [
    typeof jwk.kty === 'string' ? jwk.kty : 'untyped',
    typeof jwk.crv === 'string' ? jwk.crv : undefined,
    typeof jwk.alg === 'string' ? `(alg ${jwk.alg})` : undefined,
  ]
    .filter((part) => part !== undefined)
    .join(' ');

const kidOf = (jwk: JsonWebKey & { kid?: unknown }): string | undefined => {
  if (typeof jwk.kid === 'string' && jwk.kid !== '') {
    return jwk.kid;
  }
  try {
    return jwkThumbprint(jwk);
  } catch {
    return undefined;
  }
};

/** A public key made from the public members only: a `d` handed over by mistake is ignored. */
const trustKey = (jwk: JsonWebKey): TrustedKey => {
  const isAuditKind =
    jwk.kty === 'EC' &&
    jwk.crv === AUDIT_KEY_CURVE &&
    (jwk.alg === undefined || jwk.alg === AUDIT_SIGNING_ALG) &&
    (jwk.use === undefined || jwk.use === 'sig');
  if (!isAuditKind || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    return { kind: 'other', description: `an ${describeKey(jwk)} key` };
  }
  try {
    const key = createPublicKey({
      key: { kty: 'EC', crv: AUDIT_KEY_CURVE, x: jwk.x, y: jwk.y },
      format: 'jwk',
    });

    return { kind: 'audit', key };
  } catch {
    return { kind: 'other', description: 'a P-521 JWK whose point is not on the curve' };
  }
};

/** The keys by kid; the first key given under a kid wins. */
const keyTable = (keys: readonly JsonWebKey[]): Map<string, TrustedKey> => {
  const table = new Map<string, TrustedKey>();
  for (const jwk of keys) {
    if (typeof jwk !== 'object' || jwk === null) {
      continue;
    }
    const kid = kidOf(jwk);
    if (kid !== undefined && !table.has(kid)) {
      table.set(kid, trustKey(jwk));
    }
  }

  return table;
};

// Problems

const problem = (
  kind: AuditProblemKind,
  message: string,
  where: Omit<AuditProblem, 'kind' | 'severity' | 'message'> = {},
): AuditProblem => ({ kind, severity: AUDIT_PROBLEM_KINDS[kind], ...where, message });

interface PlacedEntry {
  readonly index: number;
  readonly entry: SealedAuditEntry;
}

const whereEntry = (placed: PlacedEntry): Omit<AuditProblem, 'kind' | 'severity' | 'message'> => ({
  auditId: placed.entry.audit_id,
  chain: placed.entry.chain,
  seq: placed.entry.seq,
  entryIndex: placed.index,
});

const nameEntry = (placed: PlacedEntry): string =>
  `seq ${placed.entry.seq} (${placed.entry.audit_id})`;

const firstIssue = (error: z.ZodError): string => {
  const [issue] = error.issues;
  if (issue === undefined) {
    return 'does not have the shape of an audit entry';
  }
  const path = issue.path.map((segment) => String(segment)).join('.');

  return path === '' ? issue.message : `${path}: ${issue.message}`;
};

const shortHash = (hash: string | null): string => (hash === null ? 'null' : hash.slice(0, 12));

// Entries, one by one

type ClassifiedEntry =
  | { readonly kind: 'sealed'; readonly entry: SealedAuditEntry }
  | { readonly kind: 'unsealed'; readonly entry: UnsealedAuditEntry }
  | { readonly kind: 'malformed'; readonly reason: string; readonly auditId: string | undefined };

const classifyEntry = (value: unknown): ClassifiedEntry => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'malformed', reason: 'is not a JSON object', auditId: undefined };
  }
  const record = value as Record<string, unknown>;
  const auditId = typeof record.audit_id === 'string' ? record.audit_id : undefined;
  const hasSeal = SEAL_FIELDS.some((field) => Object.hasOwn(record, field));
  const result = (hasSeal ? sealedSchema : unsealedSchema).safeParse(value);
  if (!result.success) {
    return { kind: 'malformed', reason: firstIssue(result.error), auditId };
  }
  if (!hasSeal) {
    return { kind: 'unsealed', entry: value as UnsealedAuditEntry };
  }

  // The original object, not zod's copy: what is verified must be exactly what was given.
  return { kind: 'sealed', entry: value as SealedAuditEntry };
};

/** Canonical bytes, or undefined for a value JCS refuses (a lone surrogate from the JSON text). */
const signingBytesOf = (entry: SealedAuditEntry): Uint8Array | undefined => {
  try {
    return auditEntrySigningBytes(entry);
  } catch (error) {
    if (error instanceof CanonicalJsonError) {
      return undefined;
    }
    throw error;
  }
};

const verifySignature = (key: KeyObject, bytes: Uint8Array, signature: string): boolean => {
  let raw: Uint8Array;
  try {
    raw = parseSignature(signature);
  } catch (error) {
    if (error instanceof AuditSealError) {
      return false;
    }
    throw error;
  }

  return verify('sha512', bytes, { key, dsaEncoding: 'ieee-p1363' }, raw);
};

/** The key named by `kid`, or the problem that it is unknown or of the wrong kind. */
const lookUpKey = (
  keys: Map<string, TrustedKey>,
  kid: string,
  where: Omit<AuditProblem, 'kind' | 'severity' | 'message'>,
  what: string,
): KeyObject | AuditProblem => {
  const trusted = keys.get(kid);
  if (trusted === undefined) {
    return problem('unknown_kid', `${what} is signed with key ${kid}, which is not trusted`, where);
  }
  if (trusted.kind === 'other') {
    return problem(
      'wrong_key_type',
      `${what} names key ${kid}, ${trusted.description}; audit keys are ES512 on P-521`,
      where,
    );
  }

  return trusted.key;
};

const checkSeal = (placed: PlacedEntry, keys: Map<string, TrustedKey>): AuditProblem[] => {
  const { entry } = placed;
  const where = whereEntry(placed);
  const key = lookUpKey(keys, entry.kid, where, `entry ${nameEntry(placed)}`);
  if (!(key instanceof KeyObject)) {
    return [key];
  }
  const bytes = signingBytesOf(entry);
  if (bytes === undefined) {
    return [
      problem(
        'malformed_entry',
        `entry ${nameEntry(placed)} holds text that is not Unicode`,
        where,
      ),
    ];
  }

  // The signature covers the content; `hash` is a claim about it that only links rely on.
  if (!verifySignature(key, bytes, entry.signature)) {
    return [
      problem(
        'bad_signature',
        `entry ${nameEntry(placed)} does not match its signature: it was changed`,
        where,
      ),
    ];
  }
  // Checked once the signature holds, so that a changed timestamp is called what it is.
  if (Date.parse(entry.sealed_at) < Date.parse(entry.timestamp) - MAX_SEAL_CLOCK_SKEW_MS) {
    return [
      problem(
        'malformed_entry',
        `entry ${nameEntry(placed)} has a sealed_at before it was written`,
        where,
      ),
    ];
  }
  const hash = createHash('sha256').update(bytes).digest('base64url');
  if (hash !== entry.hash) {
    return [
      problem(
        'bad_hash',
        `entry ${nameEntry(placed)} states hash ${shortHash(entry.hash)}…, but its content ` +
          `hashes to ${shortHash(hash)}…`,
        where,
      ),
    ];
  }

  return [];
};

// Chains

/** What makes two copies of an entry the same one, whatever their member order. */
const fingerprintOf = (entry: SealedAuditEntry): string => {
  try {
    return canonicalJson(entry);
  } catch (error) {
    if (error instanceof CanonicalJsonError) {
      return JSON.stringify(entry);
    }
    throw error;
  }
};

/** Entries by chain, in the order given, without exact repeats. */
const groupByChain = (placed: readonly PlacedEntry[]): Map<number, PlacedEntry[]> => {
  const chains = new Map<number, PlacedEntry[]>();
  const seen = new Set<string>();
  for (const item of placed) {
    const fingerprint = fingerprintOf(item.entry);
    if (seen.has(fingerprint)) {
      continue;
    }
    seen.add(fingerprint);
    const list = chains.get(item.entry.chain) ?? [];
    list.push(item);
    chains.set(item.entry.chain, list);
  }

  return chains;
};

const checkOrder = (list: readonly PlacedEntry[]): AuditProblem[] => {
  const problems: AuditProblem[] = [];
  let highest: PlacedEntry | undefined;
  for (const item of list) {
    if (highest !== undefined && item.entry.seq < highest.entry.seq) {
      problems.push(
        problem(
          'out_of_order',
          `${nameEntry(item)} is listed after ${nameEntry(highest)} in chain ${item.entry.chain}`,
          whereEntry(item),
        ),
      );
    } else {
      highest = item;
    }
  }

  return problems;
};

/** Entries by seq; more than one at a seq is a fork. */
const bySeq = (list: readonly PlacedEntry[]): Map<number, PlacedEntry[]> => {
  const slots = new Map<number, PlacedEntry[]>();
  for (const item of list) {
    const slot = slots.get(item.entry.seq) ?? [];
    slot.push(item);
    slots.set(item.entry.seq, slot);
  }

  return slots;
};

const checkForks = (slots: Map<number, PlacedEntry[]>): AuditProblem[] =>
  [...slots.values()].flatMap(([first, ...others]) =>
    first === undefined
      ? []
      : others.map((other) =>
          problem(
            'fork',
            `${nameEntry(other)} and ${first.entry.audit_id} both claim seq ${other.entry.seq} ` +
              `of chain ${other.entry.chain}`,
            whereEntry(other),
          ),
        ),
  );

/** The link of one entry to the entries before it in the run. */
const checkLink = (
  item: PlacedEntry,
  predecessors: readonly PlacedEntry[] | undefined,
  isFirstOfRun: boolean,
): AuditProblem | undefined => {
  const { seq, prev_hash: prevHash, chain } = item.entry;
  if (seq === 1) {
    return prevHash === null
      ? undefined
      : problem(
          'broken_link',
          `${nameEntry(item)} starts chain ${chain} but names a predecessor`,
          whereEntry(item),
        );
  }
  if (prevHash === null) {
    return problem('broken_link', `${nameEntry(item)} names no predecessor`, whereEntry(item));
  }
  // The run starts here: its predecessor lies before the export and cannot be checked.
  if (isFirstOfRun || predecessors === undefined) {
    return undefined;
  }
  if (predecessors.some((predecessor) => predecessor.entry.hash === prevHash)) {
    return undefined;
  }
  const hashes = predecessors.map((predecessor) => `${shortHash(predecessor.entry.hash)}…`);

  return problem(
    'broken_link',
    `${nameEntry(item)} links to ${shortHash(prevHash)}…, but seq ${seq - 1} of chain ${chain} ` +
      `hashes to ${hashes.join(' or ')}`,
    whereEntry(item),
  );
};

const checkChain = (list: readonly PlacedEntry[], listedInSeqOrder: boolean): AuditProblem[] => {
  const slots = bySeq(list);
  const seqs = [...slots.keys()].sort((a, b) => a - b);
  const problems = [...(listedInSeqOrder ? checkOrder(list) : []), ...checkForks(slots)];

  seqs.forEach((seq, position) => {
    const slot = slots.get(seq) ?? [];
    const previousSeq = seqs[position - 1];
    const [first] = slot;
    if (first !== undefined && previousSeq !== undefined && previousSeq !== seq - 1) {
      const missing =
        previousSeq === seq - 2 ? `seq ${seq - 1} is` : `seqs ${previousSeq + 1}-${seq - 1} are`;
      problems.push(
        problem(
          'gap',
          `${missing} missing from chain ${first.entry.chain} before ${nameEntry(first)}: ` +
            'deleted entries',
          whereEntry(first),
        ),
      );
    }
    for (const item of slot) {
      const link = checkLink(item, slots.get(seq - 1), position === 0);
      if (link !== undefined) {
        problems.push(link);
      }
    }
  });

  return problems;
};

// Checkpoints

const checkTail = (
  checkpoint: AuditCheckpoint,
  index: number,
  list: readonly PlacedEntry[],
): AuditProblem | undefined => {
  const where = { chain: checkpoint.chain, seq: checkpoint.seq, checkpointIndex: index };
  const said = `the checkpoint of chain ${checkpoint.chain} at seq ${checkpoint.seq}`;
  const last = list.reduce<PlacedEntry | undefined>(
    (highest, item) =>
      highest === undefined || item.entry.seq > highest.entry.seq ? item : highest,
    undefined,
  );
  if (last === undefined) {
    return problem(
      'truncated',
      `${said} vouches for entries, but none of the chain is present`,
      where,
    );
  }
  if (checkpoint.seq > last.entry.seq) {
    return problem(
      'truncated',
      `${said} vouches for entries after ${nameEntry(last)}, the last one present: the tail ` +
        'was cut off',
      { ...where, auditId: last.entry.audit_id },
    );
  }
  const atSeq = list.filter((item) => item.entry.seq === checkpoint.seq);
  const [first] = atSeq;
  if (first === undefined || atSeq.some((item) => item.entry.hash === checkpoint.hash)) {
    // Before the run, or inside a gap already reported: nothing more to compare.
    return undefined;
  }

  return problem(
    'truncated',
    `${said} ends in hash ${shortHash(checkpoint.hash)}…, but ${nameEntry(first)} hashes to ` +
      `${shortHash(first.entry.hash)}…: the chain was cut there and sealed again`,
    { ...where, auditId: first.entry.audit_id },
  );
};

const checkCheckpoint = (
  value: unknown,
  index: number,
  keys: Map<string, TrustedKey>,
  chains: Map<number, PlacedEntry[]>,
): AuditProblem | undefined => {
  const result = checkpointSchema.safeParse(value);
  if (!result.success) {
    return problem('malformed_checkpoint', `checkpoint #${index} ${firstIssue(result.error)}`, {
      checkpointIndex: index,
    });
  }
  const checkpoint = value as AuditCheckpoint;
  const where = { chain: checkpoint.chain, seq: checkpoint.seq, checkpointIndex: index };
  const what = `the checkpoint of chain ${checkpoint.chain} at seq ${checkpoint.seq}`;
  const key = lookUpKey(keys, checkpoint.kid, where, what);
  if (!(key instanceof KeyObject)) {
    return key;
  }
  if (!verifySignature(key, auditCheckpointSigningBytes(checkpoint), checkpoint.signature)) {
    return problem('bad_checkpoint_signature', `${what} does not match its signature`, where);
  }

  // Only a checkpoint that verifies may accuse the entries.
  return checkTail(checkpoint, index, chains.get(checkpoint.chain) ?? []);
};

/**
 * Verifies an exported audit trail against the trusted public `keys` only. Never throws on bad
 * input: whatever is wrong becomes a problem naming the entry (or checkpoint) where it is.
 */
export const verifyAuditTrail = (input: VerifyAuditTrailInput): AuditVerificationReport => {
  const keys = keyTable(input.keys);
  const problems: AuditProblem[] = [];
  const sealed: PlacedEntry[] = [];

  input.entries.forEach((value, index) => {
    const classified = classifyEntry(value);
    if (classified.kind === 'malformed') {
      const name = classified.auditId ?? `#${index}`;
      problems.push(
        problem('malformed_entry', `entry ${name}: ${classified.reason}`, {
          entryIndex: index,
          ...(classified.auditId !== undefined && { auditId: classified.auditId }),
        }),
      );
    } else if (classified.kind === 'unsealed') {
      problems.push(
        problem(
          'unsealed',
          `entry ${classified.entry.audit_id} is not sealed yet: nothing vouches for it`,
          { auditId: classified.entry.audit_id, entryIndex: index },
        ),
      );
    } else {
      const placed = { index, entry: classified.entry };
      problems.push(...checkSeal(placed, keys));
      sealed.push(placed);
    }
  });

  const chains = groupByChain(sealed);
  const chainNumbers = [...chains.keys()].sort((a, b) => a - b);
  for (const chain of chainNumbers) {
    problems.push(...checkChain(chains.get(chain) ?? [], input.listedInSeqOrder ?? true));
  }

  input.checkpoints.forEach((value, index) => {
    const found = checkCheckpoint(value, index, keys, chains);
    if (found !== undefined) {
      problems.push(found);
    }
  });

  return {
    ok: problems.every((found) => found.severity !== 'error'),
    entriesChecked: input.entries.length,
    checkpointsChecked: input.checkpoints.length,
    problems,
  };
};
