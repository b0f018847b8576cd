/**
 * A `RateCounterStore` in memory, with the same semantics as the DynamoDB one: each increment
 * is atomic (JavaScript runs it to completion), conditional on the limit and the failure tally.
 * It counts the calls made to it, so tests can assert what a request cost.
 */
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import type {
  CounterIncrement,
  CounterOutcome,
  FailureRecord,
  RateCounterStore,
} from '@shared/rate-limit/rate-counter-store';

export class MemoryCounterStore implements RateCounterStore {
  readonly counts = new Map<string, number>();
  readonly failures = new Map<string, number>();
  readonly expiries = new Map<string, number>();
  /** Every increment asked for, in order. */
  readonly increments: CounterIncrement[] = [];
  failuresRecorded = 0;
  /** While set, every call fails as a throttled table does. */
  unavailable = false;

  async increment(counter: CounterIncrement): Promise<CounterOutcome> {
    this.increments.push(counter);
    if (this.unavailable) {
      throw new ServiceUnavailableError('throttled', 1);
    }
    const count = this.counts.get(counter.key) ?? 0;
    const failures = this.failures.get(counter.key) ?? 0;
    if (counter.failureLimit !== undefined && failures >= counter.failureLimit) {
      return { counted: false, reason: 'failures' };
    }
    if (count >= counter.limit) {
      return { counted: false, reason: 'requests' };
    }
    this.counts.set(counter.key, count + 1);
    this.expiries.set(counter.key, counter.expiresAtSeconds);

    return { counted: true, count: count + 1 };
  }

  async recordFailure(failure: FailureRecord): Promise<number> {
    this.failuresRecorded += 1;
    if (this.unavailable) {
      throw new ServiceUnavailableError('throttled', 1);
    }
    const failures = (this.failures.get(failure.key) ?? 0) + 1;
    this.failures.set(failure.key, failures);

    return failures;
  }
}

/** A clock the test moves by hand, epoch milliseconds. */
export const manualClock = (startMs: number) => {
  let nowMs = startMs;

  return {
    now: () => nowMs,
    set: (ms: number) => {
      nowMs = ms;
    },
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
};
