/**
 * What the limiter decided about one request, limit by limit, and the two questions the HTTP
 * side asks of it: which limit is closest to running out (for the `X-RateLimit-*` headers),
 * and, when refused, which limit the caller must wait for.
 */
import type { RefusalReason } from './rate-counter-store';
import type { LimitCheck } from './rate-limit-policies';

/** One limit's state after a request. */
export interface LimitStatus {
  readonly check: LimitCheck;
  /**
   * Requests left in the window after this one (an estimate on a sharded counter); `undefined`
   * when the counter was not consulted: unreachable, or skipped because another limit was
   * already known spent.
   */
  readonly remaining: number | undefined;
  /** Epoch milliseconds at which the window ends and the budget is whole again. */
  readonly resetAtMs: number;
  /** Set when this limit refused the request. */
  readonly refusedBy?: RefusalReason;
}

export interface RateDecision {
  readonly admitted: boolean;
  /** The clock reading the decision was made at, epoch milliseconds. */
  readonly nowMs: number;
  readonly statuses: readonly LimitStatus[];
}

/** The budget a status reports against: the failure tally's when that is what refused. */
export const statusLimit = (status: LimitStatus): number =>
  status.refusedBy === 'failures' && status.check.failureLimit !== undefined
    ? status.check.failureLimit
    : status.check.limit;

/**
 * The known limit with the fewest requests left; between equals, the one that resets later,
 * since it holds the caller back longer.
 */
export const closestToRunningOut = (decision: RateDecision): LimitStatus | undefined =>
  decision.statuses
    .filter((status) => status.remaining !== undefined)
    .reduce<LimitStatus | undefined>((closest, status) => {
      if (closest === undefined) {
        return status;
      }
      const fewer = (status.remaining ?? 0) - (closest.remaining ?? 0);

      return fewer < 0 || (fewer === 0 && status.resetAtMs > closest.resetAtMs) ? status : closest;
    }, undefined);

/** Of the limits that refused, the one that resets last: before then, retrying is futile. */
export const refusingStatus = (decision: RateDecision): LimitStatus | undefined =>
  decision.statuses
    .filter((status) => status.refusedBy !== undefined)
    .reduce<LimitStatus | undefined>(
      (latest, status) =>
        latest === undefined || status.resetAtMs > latest.resetAtMs ? status : latest,
      undefined,
    );
