import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import type { Identity } from '@shared/identity/identity';
import { ExhaustedWindows } from '@shared/rate-limit/exhausted-windows';
import { refusingStatus } from '@shared/rate-limit/rate-decision';
import { RATE_LIMIT_DEFAULTS, type RateLimitSettings } from '@shared/rate-limit/rate-limit-config';
import {
  identityLimitChecks,
  tokenSourceCheck,
  type LimitCheck,
} from '@shared/rate-limit/rate-limit-policies';
import { createRateLimiter, type CounterFault } from '@shared/rate-limit/rate-limiter';
import { manualClock, MemoryCounterStore } from './memory-counter-store';

/** 18:00:10 UTC: ten seconds into a minute window. */
const T0 = Date.UTC(2026, 11, 3, 18, 0, 10);
const MINUTE_MS = 60_000;

const service = (clientId: string): Identity => ({
  id: `service:${clientId}`,
  kind: 'service',
  subject: clientId,
  scopes: [],
  method: 'bearer',
  issuer: 'http://gateway.test',
});

const user = (subject: string): Identity => ({
  ...service(subject),
  id: `user:${subject}`,
  kind: 'user',
});

const setup = (settings: Partial<RateLimitSettings> = {}) => {
  const store = new MemoryCounterStore();
  const clock = manualClock(T0);
  const faults: CounterFault[] = [];
  const limiter = createRateLimiter({
    store,
    now: clock.now,
    onFault: (fault) => faults.push(fault),
  });
  const limits = { ...RATE_LIMIT_DEFAULTS, ...settings };
  const request = (
    identity: Identity,
    options: { perMinute?: number; perSecond?: number; onBehalfOf?: string } = {},
  ) => limiter.check(identityLimitChecks(identity, limits, options, options.onBehalfOf), 'admit');

  return { store, clock, faults, limiter, request, limits };
};

const admittedOf = async (decisions: Promise<{ admitted: boolean }>[]): Promise<number> =>
  (await Promise.all(decisions)).filter((decision) => decision.admitted).length;

describe('the rate limiter on fixed windows', () => {
  it('admits the limit in a window, counting down, then refuses until it resets', async () => {
    const { clock, request } = setup();
    const remaining: (number | undefined)[] = [];

    for (let index = 0; index < 5; index += 1) {
      const decision = await request(service('billing'), { perMinute: 5 });
      expect(decision.admitted).toBe(true);
      remaining.push(decision.statuses[0]?.remaining);
    }
    const refused = await request(service('billing'), { perMinute: 5 });
    clock.set(Date.UTC(2026, 11, 3, 18, 0, 59, 999));
    const lastMoment = await request(service('billing'), { perMinute: 5 });
    clock.set(Date.UTC(2026, 11, 3, 18, 1, 0));
    const nextWindow = await request(service('billing'), { perMinute: 5 });

    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    expect(refused.admitted).toBe(false);
    expect(refusingStatus(refused)).toMatchObject({
      check: { policy: 'service-minute', limit: 5 },
      resetAtMs: Date.UTC(2026, 11, 3, 18, 1, 0),
    });
    expect(lastMoment.admitted).toBe(false);
    expect(nextWindow.admitted).toBe(true);
    expect(nextWindow.statuses[0]?.remaining).toBe(4);
  });

  it('lets twice the limit through across a boundary, the stated worst case', async () => {
    const { clock, request } = setup();

    clock.set(Date.UTC(2026, 11, 3, 18, 0, 59, 500));
    const before = await admittedOf(
      Array.from({ length: 8 }, () => request(service('edge'), { perMinute: 5 })),
    );
    clock.set(Date.UTC(2026, 11, 3, 18, 1, 0, 0));
    const after = await admittedOf(
      Array.from({ length: 8 }, () => request(service('edge'), { perMinute: 5 })),
    );

    expect(before).toBe(5);
    expect(after).toBe(5);
  });

  it('holds an identity to its burst per second inside its minute limit', async () => {
    const { clock, request } = setup({ servicePerMinute: 120 });
    const admittedPerSecond: number[] = [];

    for (let second = 0; second < 3; second += 1) {
      clock.set(T0 + second * 1_000);
      admittedPerSecond.push(
        await admittedOf(Array.from({ length: 60 }, () => request(service('busy')))),
      );
    }
    clock.set(T0 + 3_000);
    const spent = await request(service('busy'));

    // 50 a second, until the 120 a minute are gone; refused requests keep the minute units
    // they took, which is why the third second admits fewer than 120 - 100.
    expect(admittedPerSecond[0]).toBe(50);
    expect(admittedPerSecond[1]).toBe(50);
    expect(admittedPerSecond[2]).toBe(0);
    expect(refusingStatus(spent)?.check.policy).toBe('service-minute');
  });

  it('reports the burst refusal when only the second is spent', async () => {
    const { request } = setup();

    await admittedOf(Array.from({ length: 50 }, () => request(service('burst'))));
    const refused = await request(service('burst'));

    expect(refused.admitted).toBe(false);
    expect(refusingStatus(refused)).toMatchObject({
      check: { policy: 'burst', limit: 50, windowSeconds: 1 },
      resetAtMs: T0 + 1_000,
    });
  });

  it('keeps the counters of two identities apart', async () => {
    const { request } = setup();

    const first = await admittedOf(
      Array.from({ length: 8 }, () => request(service('one'), { perMinute: 5 })),
    );
    const second = await admittedOf(
      Array.from({ length: 8 }, () => request(service('two'), { perMinute: 5 })),
    );
    const aUser = await admittedOf(Array.from({ length: 8 }, () => request(user('one'))));

    expect([first, second, aUser]).toEqual([5, 5, 8]);
  });

  it('holds a service acting for a user to both limits, on the user’s own counter', async () => {
    const { request } = setup({ userPerMinute: 3 });
    const forAlice = { onBehalfOf: 'user:alice' };

    const admitted = await admittedOf(
      Array.from({ length: 3 }, () => request(service('crm'), forAlice)),
    );
    const overUser = await request(service('crm'), forAlice);
    const serviceAlone = await request(service('crm'));
    const aliceHerself = await request(user('alice'));
    const forBob = await request(service('crm'), { onBehalfOf: 'user:bob' });

    expect(admitted).toBe(3);
    expect(overUser.admitted).toBe(false);
    expect(refusingStatus(overUser)?.check).toMatchObject({
      policy: 'user-minute',
      subject: 'user:alice',
      limit: 3,
    });
    expect(serviceAlone.admitted).toBe(true);
    expect(aliceHerself.admitted).toBe(false);
    expect(forBob.admitted).toBe(true);
    // Three for Alice, one alone, one for Bob: the refusal for Alice came from the memory of
    // her spent window, before any write, so it took nothing from the service's budget.
    expect(forBob.statuses[0]).toMatchObject({
      check: { policy: 'service-minute' },
      remaining: 1_000 - 5,
    });
  });

  it('applies the user limit to a user identity and ignores client overrides there', async () => {
    const { request } = setup({ userPerMinute: 2 });

    const admitted = await admittedOf(
      Array.from({ length: 4 }, () => request(user('carol'), { perMinute: 100 })),
    );

    expect(admitted).toBe(2);
  });
});

describe('the memory of spent windows', () => {
  it('refuses a request whose window is known spent without any write', async () => {
    const { store, clock, request } = setup();

    for (let index = 0; index < 5; index += 1) {
      await request(service('spent'), { perMinute: 5 });
    }
    const writesWhenSpent = store.increments.length;
    const refusals = await Promise.all(
      Array.from({ length: 20 }, () => request(service('spent'), { perMinute: 5 })),
    );
    const writesAfterRefusals = store.increments.length;
    clock.set(T0 + MINUTE_MS);
    await request(service('spent'), { perMinute: 5 });

    expect(writesWhenSpent).toBe(10);
    expect(refusals.every((decision) => !decision.admitted)).toBe(true);
    expect(writesAfterRefusals).toBe(writesWhenSpent);
    expect(store.increments.length).toBe(writesWhenSpent + 2);
  });

  it('learns a window spent elsewhere from one refused write, then writes no more', async () => {
    const store = new MemoryCounterStore();
    const clock = manualClock(T0);
    const instance = () =>
      createRateLimiter({ store, now: clock.now, exhausted: new ExhaustedWindows() });
    const checks: LimitCheck[] = [
      { policy: 'service-minute', windowSeconds: 60, subject: 'service:shared', limit: 3 },
    ];
    const first = instance();
    const second = instance();

    for (let index = 0; index < 3; index += 1) {
      await first.check(checks, 'admit');
    }
    const writesBefore = store.increments.length;
    const refusedOnce = await second.check(checks, 'admit');
    const refusedAgain = await second.check(checks, 'admit');

    expect(refusedOnce.admitted).toBe(false);
    expect(refusedAgain.admitted).toBe(false);
    expect(store.increments.length).toBe(writesBefore + 1);
  });
});

describe('sharded counters', () => {
  const hot: LimitCheck = {
    policy: 'burst',
    windowSeconds: 1,
    subject: 'service:hot',
    limit: 1_000,
  };

  it('split a hot counter over shard keys and never admit more than its limit', async () => {
    const { store, limiter } = setup();

    let admitted = 0;
    for (let index = 0; index < 1_500; index += 1) {
      admitted += (await limiter.check([hot], 'admit')).admitted ? 1 : 0;
    }
    const keys = new Set(store.increments.map((increment) => increment.key));
    const shardLimits = new Set(store.increments.map((increment) => increment.limit));

    expect(admitted).toBe(1_000);
    expect([...keys].sort()).toEqual(
      [0, 1, 2, 3].map((shard) => `burst#service:hot#${T0 / 1_000}#${shard}`),
    );
    expect([...shardLimits]).toEqual([250]);
  });

  it('stop admitting under concurrency at the limit, whatever the shards draw', async () => {
    const { limiter } = setup();

    const admitted = await admittedOf(
      Array.from({ length: 3_000 }, () => limiter.check([hot], 'admit')),
    );

    expect(admitted).toBeLessThanOrEqual(1_000);
    expect(admitted).toBeGreaterThan(900);
  });
});

describe('the fault policy', () => {
  it('admits uncounted under "admit" when the store is down, reporting each counter', async () => {
    const { store, faults, request } = setup();
    store.unavailable = true;

    const decision = await request(service('calm'));

    expect(decision.admitted).toBe(true);
    expect(decision.statuses.map((status) => status.remaining)).toEqual([undefined, undefined]);
    expect(faults.map((fault) => [fault.policy, fault.action])).toEqual([
      ['service-minute', 'admit'],
      ['burst', 'admit'],
    ]);
    expect(faults[0]?.error).toBeInstanceOf(ServiceUnavailableError);
  });

  it('answers 503 under "refuse" when the store is unreachable', async () => {
    const { store, faults, limiter, limits } = setup();
    store.unavailable = true;

    const attempt = limiter.check([tokenSourceCheck('198.51.100.7', limits)], 'refuse');

    await expect(attempt).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(faults).toEqual([expect.objectContaining({ policy: 'token-source', action: 'refuse' })]);
  });

  it('still refuses a window it knows is spent while the store is unreachable', async () => {
    const { store, request } = setup();
    for (let index = 0; index < 2; index += 1) {
      await request(service('known'), { perMinute: 2 });
    }
    store.unavailable = true;
    const writes = store.increments.length;

    const decision = await request(service('known'), { perMinute: 2 });

    expect(decision.admitted).toBe(false);
    expect(store.increments.length).toBe(writes);
  });
});

describe('failed authentications on a counter', () => {
  it('refuses the source once its failures reach the limit, without another write', async () => {
    const { store, limiter, limits } = setup({ tokenFailuresPerSourcePerMinute: 2 });
    const source = tokenSourceCheck('203.0.113.9', limits);

    await limiter.recordFailure(source);
    const afterOne = await limiter.check([source], 'refuse');
    await limiter.recordFailure(source);
    const writes = store.increments.length;
    const afterTwo = await limiter.check([source], 'refuse');

    expect(afterOne.admitted).toBe(true);
    expect(afterTwo.admitted).toBe(false);
    expect(refusingStatus(afterTwo)?.refusedBy).toBe('failures');
    expect(store.increments.length).toBe(writes);
  });

  it('learns a failure tally spent elsewhere from the refused write', async () => {
    const store = new MemoryCounterStore();
    const clock = manualClock(T0);
    const limits = { ...RATE_LIMIT_DEFAULTS, tokenFailuresPerSourcePerMinute: 1 };
    const source = tokenSourceCheck('203.0.113.10', limits);
    const elsewhere = createRateLimiter({ store, now: clock.now });
    const here = createRateLimiter({ store, now: clock.now });

    await elsewhere.recordFailure(source);
    const refused = await here.check([source], 'refuse');

    expect(refusingStatus(refused)?.refusedBy).toBe('failures');
  });

  it('logs, and does not throw, when a failure cannot be recorded', async () => {
    const { store, faults, limiter, limits } = setup();
    store.unavailable = true;

    await limiter.recordFailure(tokenSourceCheck('203.0.113.11', limits));

    expect(faults).toEqual([
      expect.objectContaining({ policy: 'token-source', action: 'skipped' }),
    ]);
  });
});
