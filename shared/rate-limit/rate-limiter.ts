/**
 * The limiter: holds a request to a set of limits, each a fixed-window counter, and answers
 * admitted or refused.
 *
 * Per request and limit it makes at most one write, the conditional increment, and it issues
 * the increments of all limits at once. It never reads a counter first. A limit already known
 * spent in this instance refuses the request before any write is made. A request refused by
 * one limit keeps the units it took from the others (there is no rollback, which would be a
 * second write): that only ever makes a limit stricter, never looser.
 *
 * When the store is throttled or unreachable, the caller's fault policy decides: `admit` lets
 * the request through uncounted, `refuse` answers 503. Either way a log line with a `metric`
 * field is written, for an alarm to count.
 */
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { logger } from '@shared/logging/logger';
import { ExhaustedWindows } from './exhausted-windows';
import {
  counterExpiresAt,
  counterKey,
  counterShards,
  fixedWindow,
  shardLimit,
  type FixedWindow,
} from './fixed-window';
import type { CounterOutcome, RateCounterStore, RefusalReason } from './rate-counter-store';
import type { LimitStatus, RateDecision } from './rate-decision';
import type { LimitCheck, RateLimitPolicyName } from './rate-limit-policies';

/** What to do with a request whose counter cannot be reached. */
export const FAULT_POLICIES = {
  /** Let it through uncounted: the API stays up while the counters are down. */
  admit: 'admit',
  /** Answer 503: for the token endpoint, where an uncounted request is an unbounded guess. */
  refuse: 'refuse',
} as const;

export type FaultPolicy = (typeof FAULT_POLICIES)[keyof typeof FAULT_POLICIES];

/** The `metric` field of the limiter's log lines; the observability work turns them into EMF. */
export const RATE_LIMIT_METRICS = {
  counterUnavailable: 'RateLimitCounterUnavailable',
  overridesUnavailable: 'RateLimitOverridesUnavailable',
} as const;

/** One counter the limiter could not reach, and what it did about it. */
export interface CounterFault {
  readonly policy: RateLimitPolicyName;
  /** `skipped` for a failed authentication that could not be recorded. */
  readonly action: FaultPolicy | 'skipped';
  readonly error: unknown;
}

/** The default fault report: one structured warning per unreachable counter. */
export const logCounterFault = (fault: CounterFault): void => {
  logger.warn('rate counter unavailable', {
    metric: RATE_LIMIT_METRICS.counterUnavailable,
    policy: fault.policy,
    action: fault.action,
    error: fault.error,
  });
};

export interface RateLimiterOptions {
  readonly store: RateCounterStore;
  /** Epoch milliseconds; tests inject their own clock. */
  readonly now?: () => number;
  /** The instance's memory of spent windows; shared by the limiters of one process. */
  readonly exhausted?: ExhaustedWindows;
  readonly onFault?: (fault: CounterFault) => void;
  /** In [0, 1): which open shard a sharded counter draws. */
  readonly random?: () => number;
}

export interface RateLimiter {
  /**
   * Counts one request against every check, in parallel, and decides.
   *
   * @throws ServiceUnavailableError when a counter is unreachable under `refuse`.
   */
  check(checks: readonly LimitCheck[], faultPolicy: FaultPolicy): Promise<RateDecision>;
  /** Records one failed authentication on a check's counter; an unreachable store is logged. */
  recordFailure(check: LimitCheck): Promise<void>;
}

interface PlannedCounter {
  readonly check: LimitCheck;
  readonly window: FixedWindow;
}

/** A check resolved to the counter key this request increments, and that key's limit. */
interface OpenCounter extends PlannedCounter {
  readonly open: true;
  readonly key: string;
  readonly limit: number;
  readonly shards: number;
}

/** A check whose every counter key this instance knows to be spent. */
interface SpentCounter extends PlannedCounter {
  readonly open: false;
  readonly reason: RefusalReason;
}

type CounterPlan = OpenCounter | SpentCounter;

const isOpen = (counter: CounterPlan): counter is OpenCounter => counter.open;

const range = (length: number): number[] => Array.from({ length }, (_, index) => index);

/** Refused from memory alone: the spent limits say so, the others were not consulted. */
const knownRefusal = (plans: readonly CounterPlan[], nowMs: number): RateDecision => ({
  admitted: false,
  nowMs,
  statuses: plans.map((counter) => ({
    check: counter.check,
    resetAtMs: counter.window.resetAtMs,
    ...(counter.open ? { remaining: undefined } : { remaining: 0, refusedBy: counter.reason }),
  })),
});

/** A limiter on `options.store`; one per process, so that its memory of spent windows is shared. */
export const createRateLimiter = (options: RateLimiterOptions): RateLimiter => {
  const now = options.now ?? Date.now;
  const exhausted = options.exhausted ?? new ExhaustedWindows();
  const onFault = options.onFault ?? logCounterFault;
  const random = options.random ?? Math.random;

  const plan = (check: LimitCheck, nowMs: number): CounterPlan => {
    const window = fixedWindow(nowMs, check.windowSeconds);
    // A failure tally split over shards would allow one full tally per shard.
    const shards =
      check.failureLimit === undefined ? counterShards(check.limit, check.windowSeconds) : 1;
    const keyOf = (shard: number): string =>
      counterKey({
        policy: check.policy,
        subject: check.subject,
        window,
        ...(shards === 1 ? {} : { shard }),
      });
    const reasons = range(shards).map((shard) => exhausted.spentBy(keyOf(shard), nowMs));
    const open = range(shards).filter((shard) => reasons[shard] === undefined);
    const drawn = open[Math.floor(random() * open.length)];
    if (drawn === undefined) {
      return { open: false, check, window, reason: reasons[0] ?? 'requests' };
    }

    return {
      open: true,
      check,
      window,
      key: keyOf(drawn),
      limit: shardLimit(check.limit, shards, drawn),
      shards,
    };
  };

  const settle = (
    counter: OpenCounter,
    outcome: PromiseSettledResult<CounterOutcome>,
    nowMs: number,
    faultPolicy: FaultPolicy,
  ): LimitStatus => {
    const { check, window, key } = counter;
    const unknown: LimitStatus = { check, remaining: undefined, resetAtMs: window.resetAtMs };
    if (outcome.status === 'rejected') {
      if (!(outcome.reason instanceof ServiceUnavailableError)) {
        throw outcome.reason;
      }
      onFault({ policy: check.policy, action: faultPolicy, error: outcome.reason });

      return unknown;
    }
    const result = outcome.value;
    if (!result.counted) {
      exhausted.remember(key, result.reason, window.resetAtMs, nowMs);

      return { ...unknown, remaining: 0, refusedBy: result.reason };
    }
    if (result.count >= counter.limit) {
      exhausted.remember(key, 'requests', window.resetAtMs, nowMs);
    }
    // A shard's count stands for the whole counter's: assume the shards fill evenly.
    const used = result.count * counter.shards;

    return { ...unknown, remaining: Math.max(0, check.limit - used) };
  };

  return {
    check: async (checks, faultPolicy) => {
      const nowMs = now();
      const plans = checks.map((check) => plan(check, nowMs));
      const open = plans.filter(isOpen);
      if (open.length < plans.length) {
        return knownRefusal(plans, nowMs);
      }

      const outcomes = await Promise.allSettled(
        open.map((counter) =>
          options.store.increment({
            key: counter.key,
            limit: counter.limit,
            ...(counter.check.failureLimit === undefined
              ? {}
              : { failureLimit: counter.check.failureLimit }),
            expiresAtSeconds: counterExpiresAt(counter.window),
          }),
        ),
      );
      const statuses = outcomes.map((outcome, index) =>
        settle(open[index] as OpenCounter, outcome, nowMs, faultPolicy),
      );
      const refused = statuses.some((status) => status.refusedBy !== undefined);
      const unreachable = outcomes.find((outcome) => outcome.status === 'rejected');
      // A refusal the table did give outranks one it could not: the caller learns when to retry.
      if (!refused && unreachable !== undefined && faultPolicy === FAULT_POLICIES.refuse) {
        throw unreachable.reason;
      }

      return { admitted: !refused, nowMs, statuses };
    },

    recordFailure: async (check) => {
      const nowMs = now();
      const window = fixedWindow(nowMs, check.windowSeconds);
      const key = counterKey({ policy: check.policy, subject: check.subject, window });

      try {
        const failures = await options.store.recordFailure({
          key,
          expiresAtSeconds: counterExpiresAt(window),
        });
        if (check.failureLimit !== undefined && failures >= check.failureLimit) {
          exhausted.remember(key, 'failures', window.resetAtMs, nowMs);
        }
      } catch (error) {
        if (!(error instanceof ServiceUnavailableError)) {
          throw error;
        }
        onFault({ policy: check.policy, action: 'skipped', error });
      }
    },
  };
};
