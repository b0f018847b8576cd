/**
 * Where audit entries, chain heads, checkpoints and the published audit keys are kept, as
 * interfaces: the domain (the sealer, the listing) depends on these, and the DynamoDB adapters
 * (`dynamodb-audit-store.ts`, `dynamodb-audit-checkpoint-store.ts`) implement them.
 */
import type { JsonWebKey } from 'node:crypto';
import type { ServiceName } from '@shared/catalog/services';
import { GatewayError } from '@shared/errors/gateway-error';
import type { AuditCheckpoint, SealedAuditEntry, UnsealedAuditEntry } from './audit-entry';
import type { AuditChainHead } from './audit-seal';

/** An entry as the store holds it: unsealed until the sealer has linked and signed it. */
export type StoredAuditEntry = UnsealedAuditEntry | SealedAuditEntry;

/** Whether the sealer has sealed `entry` yet. */
export const isSealedAuditEntry = (entry: StoredAuditEntry): entry is SealedAuditEntry =>
  'signature' in entry && typeof entry.signature === 'string';

export type AuditOrder = 'asc' | 'desc';

/**
 * Index partitions per filter value (the table declaration's `#0`..`#7`), and so the number of
 * shard positions in a cursor.
 */
export const AUDIT_SHARD_COUNT = 8;

/** Entries one page may ask for. */
export const MAX_AUDIT_PAGE_LIMIT = 500;

/**
 * Where one shard of an index stands in a listing: `{}` before its first entry, `after` the
 * sort key (`ts_id`) of the last entry it has given (or skipped by a filter), `done` once it
 * has nothing more inside the window.
 */
export interface AuditShardPosition {
  readonly after?: string;
  readonly done?: true;
}

/**
 * How far a listing has come. The window is resolved on the first page and carried along, so
 * that every page of one listing reads the same window even when its defaults depend on the
 * clock. `segment` is the day being read on the time index (an index into the window's days)
 * and always 0 on the other indexes, which are not partitioned by day.
 */
export interface AuditCursor {
  /** Inclusive lower bound, ISO 8601 with milliseconds. */
  readonly since: string;
  /** Exclusive upper bound, ISO 8601 with milliseconds. */
  readonly until: string;
  readonly segment: number;
  readonly shards: readonly AuditShardPosition[];
}

export interface AuditQuery {
  readonly service?: ServiceName;
  readonly operation?: string;
  readonly identity?: string;
  /** Inclusive; the retention period before `until` when absent. */
  readonly since?: Date;
  /** Exclusive; now when absent. */
  readonly until?: Date;
  /** Entries per page at most; a page may hold fewer (even none) and still have a cursor. */
  readonly limit: number;
  readonly order: AuditOrder;
  /** Where the previous page stopped; its window replaces `since` and `until`. */
  readonly cursor?: AuditCursor;
}

export interface AuditPage {
  readonly entries: StoredAuditEntry[];
  /** Absent once the window has been read to its end. */
  readonly cursor?: AuditCursor;
}

/** Audit entries: written by the audited code, listed by `GET /v1/audit`. */
export interface AuditStore {
  /** Writes a new entry; a second write of the same `audit_id` is a `ConflictError`. */
  append(entry: UnsealedAuditEntry): Promise<void>;
  query(query: AuditQuery): Promise<AuditPage>;
}

/** A public audit key as `GET /v1/audit/keys` serves it. */
export interface PublishedAuditKey {
  readonly kid: string;
  /** The public JWK with `kid`, `alg` and `use`; never a private member. */
  readonly jwk: JsonWebKey;
  /** When the key was first published, ISO 8601. */
  readonly createdAt: string;
}

/** One sealing step of one chain: what `sealAuditEntries` made, and the head it started from. */
export interface AuditSealCommit {
  /** The head the batch was sealed after; `undefined` for a chain's first batch. */
  readonly previous: AuditChainHead | undefined;
  readonly sealed: readonly SealedAuditEntry[];
  readonly checkpoint: AuditCheckpoint;
}

/**
 * A sealing step that did not happen because its preconditions no longer held: another sealer
 * moved the chain head first (`headMoved`), or some entries were sealed already or no longer
 * exist (`alreadySealed`). Nothing of the step was written; the caller re-reads and retries.
 */
export class AuditSealConflictError extends GatewayError {
  override readonly name = 'AuditSealConflictError';
  readonly headMoved: boolean;
  readonly alreadySealed: readonly string[];

  constructor(
    chain: number,
    headMoved: boolean,
    alreadySealed: readonly string[],
    cause?: unknown,
  ) {
    super('CONFLICT', `The seal of audit chain ${chain} conflicted with another change.`, {
      details: { chain, head_moved: headMoved, already_sealed: alreadySealed.length },
      cause,
    });
    this.headMoved = headMoved;
    this.alreadySealed = alreadySealed;
  }
}

/** What only the sealer writes: chain heads, checkpoints and published keys. */
export interface AuditCheckpointStore {
  /** Entries one `commitSeal` may carry; a longer run is sealed in several steps. */
  readonly maxEntriesPerCommit: number;
  /** The chain's last sealed entry, read consistently; `undefined` for an empty chain. */
  head(chain: number): Promise<AuditChainHead | undefined>;
  /**
   * Writes a sealing step at once or not at all: the head moves from `previous` to the
   * checkpoint's seq, each entry gets its seal, and the checkpoint is stored. Throws
   * `AuditSealConflictError` when the head is no longer `previous` or an entry is sealed.
   */
  commitSeal(commit: AuditSealCommit): Promise<void>;
  /** The newest checkpoint of each of `chains` that has one. */
  latestCheckpoints(chains: readonly number[]): Promise<AuditCheckpoint[]>;
  /** Publishes a key; publishing one that is already published changes nothing. */
  publishKey(key: PublishedAuditKey): Promise<void>;
  /** Every published key, the most recently published first. */
  publishedKeys(): Promise<PublishedAuditKey[]>;
}
