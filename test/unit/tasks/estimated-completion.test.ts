import { describe, expect, it } from 'vitest';
import {
  estimateCompletion,
  expectedDurationSeconds,
  MIN_DURATIONS_FOR_ESTIMATE,
} from '@shared/tasks/estimated-completion';
import { DATA_ANALYSIS_TASK_TYPE } from '@shared/tasks/task-types';

const NOW = new Date('2026-12-03T12:00:00.000Z');
const DECLARED = { expectedDurationSeconds: 30 };

describe('estimateCompletion', () => {
  it('uses the declared expectation when there is no history', () => {
    expect(estimateCompletion(DECLARED, [], NOW)).toBe('2026-12-03T12:00:30.000Z');
  });

  it('uses the declared expectation with fewer than the minimum of durations', () => {
    const few = Array.from({ length: MIN_DURATIONS_FOR_ESTIMATE - 1 }, () => 2);

    expect(estimateCompletion(DECLARED, few, NOW)).toBe('2026-12-03T12:00:30.000Z');
  });

  it('uses the median of real durations once there are enough, not the mean', () => {
    // Mean 124 s, median 4 s: one hung attempt does not drag the estimate.
    const durations = [3, 4, 5, 4, 604];

    expect(estimateCompletion(DECLARED, durations, NOW)).toBe('2026-12-03T12:00:04.000Z');
  });

  it('averages the two middle durations of an even count', () => {
    expect(expectedDurationSeconds(DECLARED, [1, 2, 3, 4, 5, 6])).toBe(3.5);
    expect(estimateCompletion(DECLARED, [6, 1, 5, 2, 4, 3], NOW)).toBe('2026-12-03T12:00:03.500Z');
  });

  it('leaves out durations that are negative or not finite', () => {
    const durations = [10, 10, 10, 10, -1, Number.NaN, Number.POSITIVE_INFINITY];

    expect(expectedDurationSeconds(DECLARED, durations)).toBe(30);
    expect(expectedDurationSeconds(DECLARED, [...durations, 20])).toBe(10);
  });

  it("reads a registered type's declared expectation", () => {
    const expected = new Date(
      NOW.getTime() + DATA_ANALYSIS_TASK_TYPE.expectedDurationSeconds * 1000,
    ).toISOString();

    expect(estimateCompletion(DATA_ANALYSIS_TASK_TYPE, [], NOW)).toBe(expected);
  });

  it('does not reorder the durations it was given', () => {
    const durations = [5, 1, 4, 2, 3];
    expectedDurationSeconds(DECLARED, durations);

    expect(durations).toEqual([5, 1, 4, 2, 3]);
  });
});
