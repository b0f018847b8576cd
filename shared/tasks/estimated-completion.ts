/**
 * `estimated_completion` for a new task: when it should be done if it starts now. A type's
 * declared expectation is a guess made when the type was written; once enough real attempts
 * have finished, their median says more, and unlike the mean it is not dragged by one attempt
 * that hung until its timeout.
 */
import type { TaskType } from './task-types';

/** Real durations needed before they replace the declared expectation. */
export const MIN_DURATIONS_FOR_ESTIMATE = 5;

const MS_PER_SECOND = 1000;

/** The median of `values`, which must not be empty. */
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? 0;

  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? upper) + upper) / 2;
};

/**
 * The seconds a new task of `type` is expected to take: the median of `recentDurationsSeconds`
 * when at least `MIN_DURATIONS_FOR_ESTIMATE` of them are usable, `expectedDurationSeconds`
 * otherwise. Durations that are not finite and non-negative are left out as bad records.
 */
export const expectedDurationSeconds = (
  type: Pick<TaskType, 'expectedDurationSeconds'>,
  recentDurationsSeconds: readonly number[],
): number => {
  const usable = recentDurationsSeconds.filter((value) => Number.isFinite(value) && value >= 0);
  if (usable.length < MIN_DURATIONS_FOR_ESTIMATE) {
    return type.expectedDurationSeconds;
  }

  return median(usable);
};

/** When a task of `type` created at `now` should complete, as an ISO 8601 timestamp. */
export const estimateCompletion = (
  type: Pick<TaskType, 'expectedDurationSeconds'>,
  recentDurationsSeconds: readonly number[],
  now: Date,
): string => {
  const seconds = expectedDurationSeconds(type, recentDurationsSeconds);

  return new Date(now.getTime() + Math.round(seconds * MS_PER_SECOND)).toISOString();
};
