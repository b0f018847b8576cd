/**
 * The fault policy, against a server that answers every DynamoDB call as a throttled table
 * does: identified routes admit uncounted and log a metric line, the token endpoint refuses
 * with 503 rather than let a request through uncounted.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDynamoDbClient, DYNAMODB_MAX_ATTEMPTS } from '@shared/aws/dynamodb';
import type { RouteDeclaration } from '@shared/catalog/routes';
import type { Identity } from '@shared/identity/identity';
import { httpRoute, type PipelineSteps } from '@shared/lambda/http-route';
import { rateLimit, rateLimitHeaders } from '@shared/lambda/middleware/rate-limit';
import { json } from '@shared/lambda/responses';
import { logger } from '@shared/logging/logger';
import { DynamoDbRateCounterStore } from '@shared/rate-limit/dynamodb-rate-counter-store';
import { createIdentityRateLimits } from '@shared/rate-limit/identity-limits';
import { RATE_LIMIT_DEFAULTS } from '@shared/rate-limit/rate-limit-config';
import { createRateLimiter, RATE_LIMIT_METRICS } from '@shared/rate-limit/rate-limiter';
import { createTokenEndpointGuard } from '@shared/rate-limit/token-endpoint-guard';
import { httpEvent, jsonBody, lambdaContext } from '@test/fixtures/events';
import {
  startThrottlingDynamoDb,
  type ThrottlingDynamoDb,
} from '@test/fixtures/throttling-dynamodb';

let throttling: ThrottlingDynamoDb;
let client: DynamoDBClient;

beforeAll(async () => {
  throttling = await startThrottlingDynamoDb('ThrottlingException');
  client = createDynamoDbClient(throttling.endpoint);
});

afterAll(async () => {
  client.destroy();
  await throttling.stop();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const identity: Identity = {
  id: 'service:steady',
  kind: 'service',
  subject: 'steady',
  scopes: [],
  method: 'bearer',
  issuer: 'test',
};

const declaration = (access: RouteDeclaration['access']): RouteDeclaration => ({
  id: `faulty-${access}`,
  method: 'POST',
  path: '/faulty',
  handler: 'none',
  service: 'blux-guard',
  access,
  scopes: [],
  tables: { rateCounters: 'readWrite' },
});

const limiter = () =>
  createRateLimiter({ store: new DynamoDbRateCounterStore(client, 'blux-test-rate-counters') });

/** The fields of the warnings that carry the counter metric. */
const metricFields = (warn: { mock: { calls: unknown[][] } }): Record<string, unknown>[] =>
  warn.mock.calls
    .map((call) => (call[1] ?? {}) as Record<string, unknown>)
    .filter((fields) => fields.metric === RATE_LIMIT_METRICS.counterUnavailable);

describe('when the counter table throttles', () => {
  it('admits an identified caller uncounted, with its policies and a metric line', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const limits = createIdentityRateLimits({
      limiter: limiter(),
      overrides: { limitsFor: async () => undefined },
      settings: RATE_LIMIT_DEFAULTS,
    });
    const steps: PipelineSteps = {
      authentication: () => [
        {
          before: (request) => {
            request.event.blux.identity = identity;
          },
        },
      ],
      rateLimiting: () => [rateLimit(() => limits)],
      responseHeaders: () => [rateLimitHeaders()],
      audit: () => [],
    };
    const route = httpRoute(
      declaration('identified'),
      { handle: async () => json(200, { ok: 1 }) },
      steps,
    );
    const before = throttling.calls();

    const result = await route(httpEvent({ method: 'POST', path: '/faulty' }), lambdaContext());

    expect(result.statusCode).toBe(200);
    expect(result.headers?.['RateLimit-Policy']).toMatch(/^"service-minute";q=1000;w=60;.*"burst"/);
    expect(result.headers?.RateLimit).toBeUndefined();
    expect(throttling.calls() - before).toBe(2 * DYNAMODB_MAX_ATTEMPTS);
    expect(metricFields(warn)).toEqual([
      expect.objectContaining({ policy: 'service-minute', action: 'admit' }),
      expect.objectContaining({ policy: 'burst', action: 'admit' }),
    ]);
  });

  it('refuses a token request with 503 temporarily_unavailable and Retry-After', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const guard = createTokenEndpointGuard({ limiter: limiter(), settings: RATE_LIMIT_DEFAULTS });
    let granted = false;
    const route = httpRoute(declaration('client'), {
      errorFormat: 'oauth',
      handle: async ({ event }) => {
        await guard.admit({ clientId: 'steady', sourceIp: event.requestContext.http.sourceIp });
        granted = true;

        return json(200, {});
      },
    });

    const result = await route(httpEvent({ method: 'POST', path: '/faulty' }), lambdaContext());

    expect(result.statusCode).toBe(503);
    expect(result.headers?.['Retry-After']).toBe('1');
    expect(jsonBody(result)).toMatchObject({ error: 'temporarily_unavailable' });
    expect(granted).toBe(false);
    expect(metricFields(warn).map((fields) => fields.action)).toEqual(['refuse', 'refuse']);
  });

  it('answers a failed authentication as usual when the failure cannot be recorded', async () => {
    const warn = vi.spyOn(logger, 'warn');
    const guard = createTokenEndpointGuard({ limiter: limiter(), settings: RATE_LIMIT_DEFAULTS });

    await expect(guard.recordFailure('192.0.2.50')).resolves.toBeUndefined();
    expect(metricFields(warn)).toEqual([
      expect.objectContaining({ policy: 'token-source', action: 'skipped' }),
    ]);
  });
});
