/**
 * Where the records of `Idempotency-Key` live, as the task service sees them. The decisions
 * about a record are pure and live in `idempotency.ts`; this is only keeping them. Records
 * belong to an identity: the same key from two identities is two records.
 */
import type { IdempotencyRecord } from './idempotency';

/** One key of one identity. */
export interface IdempotencyKeyRef {
  readonly identity: string;
  readonly key: string;
}

/**
 * The record that completes a key in the same write that stores the task it answered for, so
 * that a task never exists without its response being replayable, nor the other way round.
 * `held` is the in-flight record this request stored: the completion only applies while the
 * key is still held by that very record.
 */
export interface IdempotencyCompletion extends IdempotencyKeyRef {
  readonly held: IdempotencyRecord;
  readonly completed: IdempotencyRecord;
}

/** Raised when a key is no longer held by the record that tried to complete or release it. */
export class IdempotencyKeyLostError extends Error {
  override readonly name = 'IdempotencyKeyLostError';

  constructor(options?: ErrorOptions) {
    super('idempotency.keyLost: the idempotency key is no longer held by this request', options);
  }
}

export interface IdempotencyStore {
  /** The live or expired record of a key, or `undefined`; expiry is the caller's decision. */
  find(ref: IdempotencyKeyRef): Promise<IdempotencyRecord | undefined>;
  /**
   * Stores `record` (in flight) if the key is free at `now`: no record, an expired one, or
   * one in flight for the same fingerprint whose lock has run out. Answers whether it did; a
   * `false` means another request holds or has answered the key, and the caller reads it.
   */
  acquire(ref: IdempotencyKeyRef, record: IdempotencyRecord, now: Date): Promise<boolean>;
  /** Frees a key held by `held` after the request failed, so that a retry may take it. */
  release(ref: IdempotencyKeyRef, held: IdempotencyRecord): Promise<void>;
}
