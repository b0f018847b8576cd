/**
 * An audit entry: the record of one action of consequence. Writers create entries unsealed;
 * the sealer (a stream consumer) later links each one into a hash chain and signs it, so that
 * an edit, a deletion, a reordering or a cut-off tail is found by anyone holding the public keys.
 *
 * Integrity, in the order the sealer applies it:
 *   1. the entry is assigned to one of `AUDIT_CHAIN_COUNT` chains by its id, so that sealing is
 *      spread over independent chain heads instead of one hot key;
 *   2. it gets the next `seq` of its chain and the `prev_hash` of its predecessor (`null` for
 *      `seq` 1) and the `kid` of the audit key;
 *   3. `hash` is the SHA-256 (base64url) of the RFC 8785 canonical JSON of the entry without
 *      `hash`, `signature` and `sealed_at`; `signature` is `es512-<base64url>` of the ES512
 *      (P-521, JOSE r||s) signature over the same canonical bytes;
 *   4. each sealing batch ends with a signed checkpoint of the chain head (`AuditCheckpoint`),
 *      kept in a table the writers cannot write.
 */
import type { ServiceName } from '@shared/catalog/services';

/** Independent hash chains; sealing throughput grows with it, each chain stays ordered. */
export const AUDIT_CHAIN_COUNT = 16;

export type AuditOutcome = 'success' | 'failure' | 'refused';

/** Values a detail may hold: small scalars only, never a secret or a token. */
export type AuditDetailValue = string | number | boolean | null;

/** What a writer supplies; the id and the timestamp are made by `newAuditEntry`. */
export interface AuditEntryInput {
  readonly service: ServiceName;
  /** Dotted name: `task.create`, `auth.token`, `auth.refused`, `rate_limit.exceeded`, ... */
  readonly operation: string;
  /** `service:<client_id>`, `user:<subject>`, or `anonymous` when nobody was identified. */
  readonly identity: string;
  readonly outcome: AuditOutcome;
  readonly requestId: string;
  readonly resource?: { readonly type: string; readonly id: string };
  readonly details?: Readonly<Record<string, AuditDetailValue>>;
}

/** The fields every entry has from the moment it is written. */
export interface UnsealedAuditEntry {
  /** `aud_` then a time-ordered, random id (26 characters of Crockford base32, like a ULID). */
  readonly audit_id: string;
  /** ISO 8601 with milliseconds, UTC. */
  readonly timestamp: string;
  readonly service: ServiceName;
  readonly operation: string;
  readonly identity: string;
  readonly outcome: AuditOutcome;
  readonly request_id: string;
  readonly resource: { readonly type: string; readonly id: string } | null;
  readonly details: Readonly<Record<string, AuditDetailValue>>;
}

/** The fields the sealer adds. */
export interface AuditSeal {
  readonly chain: number;
  readonly seq: number;
  readonly prev_hash: string | null;
  readonly kid: string;
  readonly hash: string;
  /** `es512-<base64url of the 132-byte JOSE signature>`. */
  readonly signature: string;
  readonly sealed_at: string;
}

export type SealedAuditEntry = UnsealedAuditEntry & AuditSeal;

/** A signed statement of a chain's head: entries up to `seq` end in `hash`. */
export interface AuditCheckpoint {
  readonly chain: number;
  readonly seq: number;
  readonly hash: string;
  readonly timestamp: string;
  readonly kid: string;
  /** `es512-...` over the canonical JSON of the checkpoint without `signature`. */
  readonly signature: string;
}
