import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { DataLimitError, DataParseError } from '@shared/tasks/data-analysis/data-analysis-error';
import { DatasetNotFoundError, DatasetReferenceError } from '@shared/tasks/datasets/dataset-store';
import {
  isPermanentTaskError,
  nextAttemptDelayMs,
  RETRY_BASE_DELAY_MS,
  RETRY_MAX_DELAY_MS,
  shouldRetry,
  TASK_TIMED_OUT_CODE,
} from '@shared/tasks/retry-policy';

const ALMOST_ONE = 1 - Number.EPSILON;
const THREE_ATTEMPTS = { maxAttempts: 3 };

describe('nextAttemptDelayMs', () => {
  it('doubles the bound with each attempt, starting at the base delay', () => {
    expect(nextAttemptDelayMs(1, () => ALMOST_ONE)).toBe(RETRY_BASE_DELAY_MS - 1);
    expect(nextAttemptDelayMs(2, () => ALMOST_ONE)).toBe(2 * RETRY_BASE_DELAY_MS - 1);
    expect(nextAttemptDelayMs(3, () => ALMOST_ONE)).toBe(4 * RETRY_BASE_DELAY_MS - 1);
  });

  it('draws the delay uniformly below the bound (full jitter)', () => {
    expect(nextAttemptDelayMs(3, () => 0)).toBe(0);
    expect(nextAttemptDelayMs(3, () => 0.5)).toBe(2 * RETRY_BASE_DELAY_MS);
    expect(nextAttemptDelayMs(3, () => 0.25)).toBe(RETRY_BASE_DELAY_MS);
  });

  it('never waits longer than the cap, however late the attempt', () => {
    expect(nextAttemptDelayMs(7, () => ALMOST_ONE)).toBe(RETRY_MAX_DELAY_MS - 1);
    expect(nextAttemptDelayMs(10_000, () => 1)).toBe(RETRY_MAX_DELAY_MS);
    expect(nextAttemptDelayMs(10_000, () => 0.5)).toBe(RETRY_MAX_DELAY_MS / 2);
  });

  it('treats an attempt number below 1 or a fraction as the first attempt', () => {
    expect(nextAttemptDelayMs(0, () => 0.5)).toBe(RETRY_BASE_DELAY_MS / 2);
    expect(nextAttemptDelayMs(-3, () => 0.5)).toBe(RETRY_BASE_DELAY_MS / 2);
    expect(nextAttemptDelayMs(2.5, () => 0.5)).toBe(RETRY_BASE_DELAY_MS / 2);
  });

  it('clamps a random source that strays outside [0, 1]', () => {
    expect(nextAttemptDelayMs(1, () => -0.5)).toBe(0);
    expect(nextAttemptDelayMs(1, () => 7)).toBe(RETRY_BASE_DELAY_MS);
  });

  it('stays within its bounds with the real random source', () => {
    for (let attempt = 1; attempt <= 20; attempt += 1) {
      const delay = nextAttemptDelayMs(attempt);
      const bound = Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** (attempt - 1));

      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(bound);
      expect(Number.isInteger(delay)).toBe(true);
    }
  });
});

describe('shouldRetry', () => {
  const transient = new ServiceUnavailableError('The dataset store is throttled.', 1);

  it('retries a transient failure while attempts are left', () => {
    expect(shouldRetry(THREE_ATTEMPTS, 1, transient)).toBe(true);
    expect(shouldRetry(THREE_ATTEMPTS, 2, transient)).toBe(true);
  });

  it('stops once the type’s maximum of attempts is spent', () => {
    expect(shouldRetry(THREE_ATTEMPTS, 3, transient)).toBe(false);
    expect(shouldRetry(THREE_ATTEMPTS, 4, transient)).toBe(false);
    expect(shouldRetry({ maxAttempts: 1 }, 1, transient)).toBe(false);
  });

  it('retries an error without a code, such as a plain crash', () => {
    expect(shouldRetry(THREE_ATTEMPTS, 1, new Error('socket hang up'))).toBe(true);
    expect(shouldRetry(THREE_ATTEMPTS, 1, 'thrown string')).toBe(true);
  });

  it.each([
    ['dataAnalysis.parseFailed', new DataParseError(3, 'unterminated quote')],
    ['dataAnalysis.limitExceeded', new DataLimitError('MAX_DATASET_ROWS', 10, 'too many rows')],
    ['dataset.notFound', new DatasetNotFoundError('ref://dataset/missing')],
    ['dataset.invalidReference', new DatasetReferenceError('file:///etc/passwd')],
    [TASK_TIMED_OUT_CODE, { code: TASK_TIMED_OUT_CODE }],
  ])('never retries a permanent %s failure', (code, error) => {
    expect((error as { code: string }).code).toBe(code);
    expect(isPermanentTaskError(error)).toBe(true);
    expect(shouldRetry(THREE_ATTEMPTS, 1, error)).toBe(false);
  });

  it('does not take a code that merely starts alike for a permanent one', () => {
    expect(isPermanentTaskError({ code: 'datasetStore.throttled' })).toBe(false);
    expect(isPermanentTaskError({ code: 'SERVICE_UNAVAILABLE' })).toBe(false);
    expect(isPermanentTaskError({ code: 42 })).toBe(false);
  });
});
