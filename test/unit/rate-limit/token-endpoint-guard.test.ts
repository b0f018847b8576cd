import { describe, expect, it } from 'vitest';
import { RateLimitExceededError, ServiceUnavailableError } from '@shared/errors/gateway-error';
import { RATE_LIMIT_DEFAULTS } from '@shared/rate-limit/rate-limit-config';
import { createRateLimiter } from '@shared/rate-limit/rate-limiter';
import { createTokenEndpointGuard } from '@shared/rate-limit/token-endpoint-guard';
import { manualClock, MemoryCounterStore } from './memory-counter-store';

const setup = () => {
  const store = new MemoryCounterStore();
  const clock = manualClock(Date.UTC(2026, 11, 3, 18, 0, 10));
  const guard = createTokenEndpointGuard({
    limiter: createRateLimiter({ store, now: clock.now, onFault: () => undefined }),
    settings: RATE_LIMIT_DEFAULTS,
  });

  return { store, clock, guard };
};

const refusal = async (attempt: Promise<unknown>): Promise<RateLimitExceededError> => {
  const error = await attempt.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(RateLimitExceededError);

  return error as RateLimitExceededError;
};

describe('the token endpoint guard', () => {
  it('allows 20 token requests a minute per client id, whatever the address', async () => {
    const { guard } = setup();

    for (let index = 0; index < 20; index += 1) {
      await guard.admit({ clientId: 'billing', sourceIp: `198.51.100.${index}` });
    }
    const refused = await refusal(guard.admit({ clientId: 'billing', sourceIp: '198.51.100.99' }));
    await guard.admit({ clientId: 'other-client', sourceIp: '198.51.100.99' });

    expect(refused.details).toEqual({ limit: 20, reset_in: 50 });
  });

  it('allows 60 token requests a minute per source address, whatever the client id', async () => {
    const { guard } = setup();

    for (let index = 0; index < 60; index += 1) {
      await guard.admit({ clientId: `client-${index}`, sourceIp: '203.0.113.5' });
    }
    const refused = await refusal(guard.admit({ clientId: 'fresh', sourceIp: '203.0.113.5' }));

    expect(refused.details).toEqual({ limit: 60, reset_in: 50 });
  });

  it('counts an id that cannot exist against its address only', async () => {
    const { guard, store } = setup();

    await guard.admit({ clientId: 'NOT A VALID ID', sourceIp: '203.0.113.6' });

    expect(store.increments.map((increment) => increment.key.split('#')[0])).toEqual([
      'token-source',
    ]);
  });

  it('refuses an address after 10 failed authentications, even for a good client', async () => {
    const { guard, store } = setup();

    for (let index = 0; index < 10; index += 1) {
      await guard.admit({ clientId: `guess-${index}`, sourceIp: '203.0.113.7' });
      await guard.recordFailure('203.0.113.7');
    }
    const writes = store.increments.length;
    const refused = await refusal(guard.admit({ clientId: 'billing', sourceIp: '203.0.113.7' }));
    await guard.admit({ clientId: 'billing', sourceIp: '203.0.113.8' });

    expect(refused.details).toEqual({ limit: 10, reset_in: 50 });
    expect(refused.headers['Retry-After']).toBe('50');
    expect(store.increments.length).toBe(writes + 2);
  });

  it('refuses with 503 rather than admit uncounted when the counters are unreachable', async () => {
    const { guard, store } = setup();
    store.unavailable = true;

    await expect(
      guard.admit({ clientId: 'billing', sourceIp: '203.0.113.9' }),
    ).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(guard.recordFailure('203.0.113.9')).resolves.toBeUndefined();
  });
});
