import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitExceededError } from '@shared/errors/gateway-error';
import { RATE_LIMIT_DEFAULTS } from '@shared/rate-limit/rate-limit-config';
import { createRateLimiter } from '@shared/rate-limit/rate-limiter';
import { createTokenEndpointGuard } from '@shared/rate-limit/token-endpoint-guard';
import { createCounterTable, type CounterTable } from './counter-table';

let table: CounterTable;

beforeAll(async () => {
  table = await createCounterTable('rltoken');
});

afterAll(() => {
  table.client.destroy();
});

const NOW_MS = Date.now();

/** A fresh guard is a fresh function instance: it shares the table, not the memory. */
const instance = () =>
  createTokenEndpointGuard({
    limiter: createRateLimiter({ store: table.store, now: () => NOW_MS }),
    settings: RATE_LIMIT_DEFAULTS,
  });

const outcome = (attempt: Promise<unknown>): Promise<'admitted' | number> =>
  attempt.then(
    () => 'admitted' as const,
    (error: unknown) => {
      if (error instanceof RateLimitExceededError) {
        return Number(error.details.limit);
      }
      throw error;
    },
  );

describe('the token endpoint guard on DynamoDB Local', () => {
  it('admits exactly 60 of 150 concurrent token requests from one address', async () => {
    const guard = instance();

    const outcomes = await Promise.all(
      Array.from({ length: 150 }, (_, index) =>
        outcome(guard.admit({ clientId: `client-${index}`, sourceIp: '198.51.100.20' })),
      ),
    );

    expect(outcomes.filter((result) => result === 'admitted')).toHaveLength(60);
    expect(new Set(outcomes.filter((result) => result !== 'admitted'))).toEqual(new Set([60]));
  });

  it('admits exactly 20 of 50 concurrent token requests for one client id', async () => {
    const guard = instance();

    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        outcome(guard.admit({ clientId: 'one-client', sourceIp: `198.51.100.${100 + index}` })),
      ),
    );

    expect(outcomes.filter((result) => result === 'admitted')).toHaveLength(20);
  });

  it('refuses an address in every instance once its failures are spent in one', async () => {
    const failing = instance();
    for (let index = 0; index < RATE_LIMIT_DEFAULTS.tokenFailuresPerSourcePerMinute; index += 1) {
      await failing.admit({ clientId: `guess-${index}`, sourceIp: '198.51.100.30' });
      await failing.recordFailure('198.51.100.30');
    }

    const elsewhere = await outcome(
      instance().admit({ clientId: 'real', sourceIp: '198.51.100.30' }),
    );
    const otherAddress = await outcome(
      instance().admit({ clientId: 'real', sourceIp: '198.51.100.31' }),
    );

    expect(elsewhere).toBe(RATE_LIMIT_DEFAULTS.tokenFailuresPerSourcePerMinute);
    expect(otherAddress).toBe('admitted');
  });
});
