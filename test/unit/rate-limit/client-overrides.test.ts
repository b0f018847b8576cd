import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import type { ClientRecord } from '@shared/identity/client-registry';
import {
  CLIENT_OVERRIDES_CACHE_SECONDS,
  createClientOverrides,
} from '@shared/rate-limit/client-overrides';
import { manualClock } from './memory-counter-store';

const record = (perMinute: number): ClientRecord => ({
  clientId: 'billing',
  scopes: [],
  status: 'active',
  rateLimits: { perMinute },
  certificateSubjects: [],
  secrets: [],
  createdAt: '2026-12-03T18:00:00.000Z',
  updatedAt: '2026-12-03T18:00:00.000Z',
});

const registry = () => {
  const state = { perMinute: 7, reads: 0, unavailable: false };

  return {
    state,
    get: async (): Promise<ClientRecord | undefined> => {
      state.reads += 1;
      if (state.unavailable) {
        throw new ServiceUnavailableError('throttled', 1);
      }

      return record(state.perMinute);
    },
  };
};

describe('client rate-limit overrides', () => {
  it('are read once per client and kept for a minute', async () => {
    const clients = registry();
    const clock = manualClock(0);
    const overrides = createClientOverrides(clients, { now: clock.now });

    const first = await Promise.all([
      overrides.limitsFor('billing'),
      overrides.limitsFor('billing'),
    ]);
    clients.state.perMinute = 9;
    clock.advance(CLIENT_OVERRIDES_CACHE_SECONDS * 1_000 - 1);
    const cached = await overrides.limitsFor('billing');
    clock.advance(1);
    const refreshed = await overrides.limitsFor('billing');

    expect(first).toEqual([{ perMinute: 7 }, { perMinute: 7 }]);
    expect(cached).toEqual({ perMinute: 7 });
    expect(refreshed).toEqual({ perMinute: 9 });
    expect(clients.state.reads).toBe(2);
  });

  it('fall back to the last known ones, with a metric, when the registry is down', async () => {
    const clients = registry();
    const clock = manualClock(0);
    const faults: string[] = [];
    const overrides = createClientOverrides(clients, {
      now: clock.now,
      onFault: (clientId) => faults.push(clientId),
    });

    await overrides.limitsFor('billing');
    clients.state.unavailable = true;
    clock.advance(CLIENT_OVERRIDES_CACHE_SECONDS * 1_000);
    const stale = await overrides.limitsFor('billing');
    const never = await overrides.limitsFor('unknown-client');

    expect(stale).toEqual({ perMinute: 7 });
    expect(never).toBeUndefined();
    expect(faults).toEqual(['billing', 'unknown-client']);
  });

  it('let other registry errors through', async () => {
    const overrides = createClientOverrides({
      get: async () => {
        throw new Error('malformed item');
      },
    });

    await expect(overrides.limitsFor('billing')).rejects.toThrow('malformed item');
  });
});
