import { describe, expect, it } from 'vitest';
import type { RouteDeclaration } from '@shared/catalog/routes';
import { NotFoundError } from '@shared/errors/gateway-error';
import type { Identity } from '@shared/identity/identity';
import { DEFAULT_PIPELINE_STEPS, httpRoute, type PipelineSteps } from '@shared/lambda/http-route';
import { rateLimit, rateLimitHeaders } from '@shared/lambda/middleware/rate-limit';
import { json } from '@shared/lambda/responses';
import type { HttpMiddleware } from '@shared/lambda/types';
import { createIdentityRateLimits } from '@shared/rate-limit/identity-limits';
import { RATE_LIMIT_DEFAULTS } from '@shared/rate-limit/rate-limit-config';
import { createRateLimiter } from '@shared/rate-limit/rate-limiter';
import { httpEvent, jsonBody, lambdaContext } from '@test/fixtures/events';
import { manualClock, MemoryCounterStore } from './memory-counter-store';

const T0 = Date.UTC(2026, 11, 3, 18, 0, 10);

const route: RouteDeclaration = {
  id: 'limited',
  method: 'GET',
  path: '/limited',
  handler: 'none',
  service: 'blux-lite',
  access: 'identified',
  scopes: [],
  tables: { rateCounters: 'readWrite' },
};

/** Stands in for authentication: the caller is whoever `x-test-identity` names. */
const testIdentity = (): HttpMiddleware => ({
  before: (request) => {
    const id = request.event.headers['x-test-identity'];
    if (id === undefined) {
      return;
    }
    const [kind, subject] = id.split(':') as ['service' | 'user', string];
    const identity: Identity = { id, kind, subject, scopes: [], method: 'bearer', issuer: 'test' };
    request.event.blux.identity = identity;
  },
});

const setup = (perMinute = 3) => {
  const store = new MemoryCounterStore();
  const clock = manualClock(T0);
  const limits = createIdentityRateLimits({
    limiter: createRateLimiter({ store, now: clock.now, onFault: () => undefined }),
    overrides: {
      limitsFor: async (clientId) => (clientId === 'small' ? { perMinute } : undefined),
    },
    settings: { ...RATE_LIMIT_DEFAULTS, userPerMinute: 2 },
  });
  const steps: PipelineSteps = {
    authentication: () => [testIdentity()],
    rateLimiting: () => [rateLimit(() => limits)],
    responseHeaders: () => [rateLimitHeaders()],
    audit: () => [],
  };
  const calls = { handled: 0 };
  const handler = httpRoute(
    route,
    {
      handle: async ({ headers }) => {
        calls.handled += 1;
        if (headers['x-fail'] !== undefined) {
          throw new NotFoundError('No such thing.');
        }

        return json(200, { ok: true });
      },
    },
    steps,
  );
  const call = (headers: Record<string, string>) =>
    handler(httpEvent({ path: '/limited', headers }), lambdaContext());

  return { store, clock, calls, call };
};

describe('the rate-limiting step', () => {
  it('stamps every admitted response with the rate-limit headers, counting down', async () => {
    const { call } = setup();

    const first = await call({ 'x-test-identity': 'service:small' });
    const second = await call({ 'x-test-identity': 'service:small' });

    expect(first.statusCode).toBe(200);
    expect(first.headers).toMatchObject({
      'X-RateLimit-Limit': '3',
      'X-RateLimit-Remaining': '2',
      'X-RateLimit-Reset': String(Date.UTC(2026, 11, 3, 18, 1, 0) / 1_000),
      'RateLimit-Policy': expect.stringMatching(/^"service-minute";q=3;w=60;pk=:[^:]+:, "burst"/),
      RateLimit: expect.stringMatching(/^"service-minute";r=2;t=50;pk=/),
      'X-Request-Id': expect.any(String),
    });
    expect(second.headers?.['X-RateLimit-Remaining']).toBe('1');
  });

  it('stamps error responses of admitted requests too', async () => {
    const { call } = setup();

    const result = await call({ 'x-test-identity': 'service:small', 'x-fail': 'yes' });

    expect(result.statusCode).toBe(404);
    expect(result.headers?.['X-RateLimit-Remaining']).toBe('2');
    expect(result.headers?.RateLimit).toBeDefined();
  });

  it('refuses over the limit with the 429 envelope and Retry-After, handler not run', async () => {
    const { call, calls } = setup();
    for (let index = 0; index < 3; index += 1) {
      await call({ 'x-test-identity': 'service:small' });
    }

    const refused = await call({ 'x-test-identity': 'service:small' });

    expect(calls.handled).toBe(3);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers).toMatchObject({
      'Retry-After': '50',
      'X-RateLimit-Limit': '3',
      'X-RateLimit-Remaining': '0',
      'Content-Type': 'application/json',
    });
    expect(jsonBody(refused)).toMatchObject({
      error: { code: 'RATE_LIMIT_EXCEEDED', details: { limit: 3, reset_in: 50 }, audit_id: null },
    });
  });

  it('counts a service acting for a user against that user as well', async () => {
    const { call } = setup();
    const forAlice = { 'x-test-identity': 'service:crm', 'x-on-behalf-of': 'user:alice' };

    await call(forAlice);
    await call(forAlice);
    const third = await call(forAlice);
    const aliceHerself = await call({ 'x-test-identity': 'user:alice' });

    expect(third.statusCode).toBe(429);
    expect(third.headers?.['RateLimit-Policy']).toContain(
      `"user-minute";q=2;w=60;pk=:${Buffer.from('user:alice').toString('base64')}:`,
    );
    expect(aliceHerself.statusCode).toBe(429);
  });

  it('ignores X-On-Behalf-Of from a user: nobody spends another user’s budget', async () => {
    const { call } = setup();
    const fromMallory = { 'x-test-identity': 'user:mallory', 'x-on-behalf-of': 'user:alice' };

    const results = await Promise.all([call(fromMallory), call(fromMallory)]);
    const alice = await call({ 'x-test-identity': 'user:alice' });

    expect(results.map((result) => result.statusCode)).toEqual([200, 200]);
    expect(alice.headers?.['X-RateLimit-Remaining']).toBe('1');
  });

  it('refuses a malformed X-On-Behalf-Of from a service with 400 naming the header', async () => {
    const { call, calls } = setup();

    const result = await call({ 'x-test-identity': 'service:crm', 'x-on-behalf-of': 'alice' });

    expect(result.statusCode).toBe(400);
    expect(jsonBody(result)).toMatchObject({
      error: {
        code: 'VALIDATION_FAILED',
        details: { fields: [{ field: 'headers.x-on-behalf-of' }] },
      },
    });
    expect(calls.handled).toBe(0);
  });

  it('lets a request without an identity through uncounted and unstamped', async () => {
    const { call, store } = setup();

    const result = await call({});

    expect(result.statusCode).toBe(200);
    expect(result.headers?.['RateLimit-Policy']).toBeUndefined();
    expect(store.increments).toEqual([]);
  });
});

describe('the default pipeline', () => {
  const publicRoute: RouteDeclaration = { ...route, id: 'open', access: 'public' };
  const tokenRoute: RouteDeclaration = { ...route, id: 'token', access: 'client' };

  it('limits identified routes only: not health, metrics or the token endpoint', () => {
    expect(DEFAULT_PIPELINE_STEPS.rateLimiting(route)).toHaveLength(1);
    expect(DEFAULT_PIPELINE_STEPS.responseHeaders?.(route)).toHaveLength(1);
    for (const other of [publicRoute, tokenRoute]) {
      expect(DEFAULT_PIPELINE_STEPS.rateLimiting(other)).toEqual([]);
      expect(DEFAULT_PIPELINE_STEPS.responseHeaders?.(other)).toEqual([]);
    }
  });
});
