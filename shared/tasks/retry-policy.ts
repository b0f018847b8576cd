/**
 * When a failed attempt is tried again, and after how long. Delays grow exponentially and are
 * drawn with "full jitter" (a uniform delay between zero and the exponential bound), which
 * spreads retries of tasks that failed together, say on a throttled backend, instead of sending
 * them back in one wave; the cap keeps a late attempt from waiting longer than a user would.
 */
import type { TaskType } from './task-types';

/** The bound of the first retry's delay. */
export const RETRY_BASE_DELAY_MS = 1000;

/** No retry waits longer than this, whatever the attempt. */
export const RETRY_MAX_DELAY_MS = 60_000;

/** A task that ran past its type's timeout fails, as the lifecycle says, and is not retried. */
export const TASK_TIMED_OUT_CODE = 'task.timedOut';

/** A task cancelled while it ran: its owner asked for it to stop. */
export const TASK_CANCELLED_CODE = 'task.cancelled';

/**
 * Error code namespaces whose failures a retry cannot fix: the data is malformed or too large
 * (`dataAnalysis.*`), or the reference names no dataset (`dataset.*`). The same request always
 * meets the same answer, so retrying only delays the error its owner needs to read.
 */
const PERMANENT_CODE_PREFIXES = ['dataAnalysis.', 'dataset.'] as const;

const PERMANENT_CODES: readonly string[] = [TASK_TIMED_OUT_CODE, TASK_CANCELLED_CODE];

/** A number in [0, 1), as `Math.random` gives; tests pass their own. */
export type RandomSource = () => number;

const codeOf = (error: unknown): string | undefined => {
  if (typeof error !== 'object' || error === null || !('code' in error)) {
    return undefined;
  }

  return typeof error.code === 'string' ? error.code : undefined;
};

/** Whether `error` fails the task for good, whatever attempts are left. */
export const isPermanentTaskError = (error: unknown): boolean => {
  const code = codeOf(error);
  if (code === undefined) {
    return false;
  }

  return PERMANENT_CODES.includes(code) || PERMANENT_CODE_PREFIXES.some((p) => code.startsWith(p));
};

/**
 * Milliseconds to wait before the attempt after attempt number `attempt` (1 for the first
 * one): `random()` times the bound, rounded down, where the bound is
 * min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS × 2^(attempt − 1)); so never above the bound.
 * An attempt number below 1 or not an integer counts as 1, and a `random` outside [0, 1] is
 * clamped into it.
 */
export const nextAttemptDelayMs = (attempt: number, random: RandomSource = Math.random): number => {
  const exponent = Number.isInteger(attempt) && attempt > 1 ? attempt - 1 : 0;
  // 2^exponent grows past the cap within a few attempts; the min keeps it finite after that.
  const boundMs = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** exponent);
  const draw = Math.min(Math.max(random(), 0), 1);

  return Math.floor(draw * boundMs);
};

/**
 * Whether a task of `type` that failed its attempt number `attempts` with `error` is tried
 * again: only while attempts are left and only when the error is not permanent.
 */
export const shouldRetry = (
  type: Pick<TaskType, 'maxAttempts'>,
  attempts: number,
  error: unknown,
): boolean => attempts < type.maxAttempts && !isPermanentTaskError(error);
