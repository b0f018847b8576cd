/**
 * Where rate counters live. The limiter needs one operation to be exact under concurrency: add
 * one to a counter only while it is below its limit, and say which happened, in one atomic
 * step. Nothing reads a counter and writes it back: two requests reading 99 of 100 would both
 * write 100, and both be let through.
 *
 * `dynamodb-rate-counter-store.ts` implements this on the rate-counters table.
 */
import { CodedError } from '@shared/errors/coded-error';

/** One conditional increment of one counter key. */
export interface CounterIncrement {
  readonly key: string;
  /** Add one only while the counter is below this. */
  readonly limit: number;
  /** Also refuse while the key's failure tally has reached this. */
  readonly failureLimit?: number;
  /** Epoch seconds after which the item may be deleted; for tidiness only. */
  readonly expiresAtSeconds: number;
}

/** Why a counter refused: its own count is spent, or the failure tally on it is. */
export type RefusalReason = 'requests' | 'failures';

export type CounterOutcome =
  | { readonly counted: true; readonly count: number }
  | { readonly counted: false; readonly reason: RefusalReason };

/** One failed authentication to record on a counter key. */
export interface FailureRecord {
  readonly key: string;
  readonly expiresAtSeconds: number;
}

export interface RateCounterStore {
  /**
   * Adds one to the counter while it is below `limit` (and its failures below `failureLimit`),
   * atomically, and answers the count after the addition, or why it refused.
   *
   * @throws ServiceUnavailableError when the store is throttled or unreachable.
   */
  increment(counter: CounterIncrement): Promise<CounterOutcome>;

  /**
   * Adds one to the failure tally on a counter key and answers the tally after it.
   *
   * @throws ServiceUnavailableError when the store is throttled or unreachable.
   */
  recordFailure(failure: FailureRecord): Promise<number>;
}

/** A reply from the store that does not hold what the operation promises. */
export class RateCounterStoreError extends CodedError<'rateCounters.malformedReply'> {
  override readonly name = 'RateCounterStoreError';
}
