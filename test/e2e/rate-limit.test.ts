/**
 * Rate limits through the local gateway over real HTTP: an identified route counting a
 * client's own small limit down, the health route left uncounted, and the token endpoint's
 * per-client and per-address limits (made small for this file through their variables).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '@local/runtime';
import { RATE_LIMIT_VARIABLES } from '@shared/rate-limit/rate-limit-config';
import {
  accessToken,
  registerTestClient,
  requestToken,
  useAdminClient,
} from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';

const CLIENT_LIMIT_PER_MINUTE = 5;
const TOKENS_PER_CLIENT_PER_MINUTE = 4;
const FAILURES_PER_SOURCE_PER_MINUTE = 3;

const overrides = {
  [RATE_LIMIT_VARIABLES.tokenPerClientPerMinute]: String(TOKENS_PER_CLIENT_PER_MINUTE),
  [RATE_LIMIT_VARIABLES.tokenFailuresPerSourcePerMinute]: String(FAILURES_PER_SOURCE_PER_MINUTE),
};

let gateway: LocalGateway;

beforeAll(async () => {
  // Read by the handlers on their first request, in this same process.
  Object.assign(process.env, overrides);
  useAdminClient();
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.stop();
  for (const name of Object.keys(overrides)) {
    delete process.env[name];
  }
});

/**
 * Waits for a new minute when this one is nearly over, so that a test counting a minute
 * window's budget never sees it reset halfway.
 */
const freshMinute = async (): Promise<void> => {
  const intoMinuteMs = Date.now() % 60_000;
  if (intoMinuteMs > 45_000) {
    await new Promise((done) => setTimeout(done, 60_000 - intoMinuteMs + 50));
  }
};

const validate = (token: string) =>
  fetch(`${gateway.url}/v1/identities/validate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ token }),
  });

describe('an identified route', () => {
  it('counts Remaining down to 0 over L requests and answers L + 1 with 429', async () => {
    const secret = await registerTestClient(gateway, {
      clientId: 'e2e-limited',
      scopes: ['identities:validate'],
      rateLimits: { perMinute: CLIENT_LIMIT_PER_MINUTE },
    });
    const token = await accessToken(gateway, 'e2e-limited', secret);
    await freshMinute();

    const replies: Response[] = [];
    for (let index = 0; index < CLIENT_LIMIT_PER_MINUTE; index += 1) {
      replies.push(await validate(token));
    }
    const refused = await validate(token);
    const body = (await refused.json()) as {
      error: { code: string; details: { limit: number; reset_in: number } };
    };
    const nextMinute = Math.ceil(Date.now() / 60_000) * 60;

    expect(replies.map((reply) => reply.status)).toEqual(replies.map(() => 200));
    expect(replies.map((reply) => reply.headers.get('x-ratelimit-remaining'))).toEqual([
      '4',
      '3',
      '2',
      '1',
      '0',
    ]);
    for (const reply of replies) {
      expect(reply.headers.get('x-ratelimit-limit')).toBe(String(CLIENT_LIMIT_PER_MINUTE));
      expect(reply.headers.get('x-ratelimit-reset')).toBe(String(nextMinute));
      expect(reply.headers.get('ratelimit-policy')).toMatch(
        /^"service-minute";q=5;w=60;pk=:[A-Za-z0-9+/=]+:, "burst";q=50;w=1;pk=:/,
      );
    }
    expect(replies[0]?.headers.get('ratelimit')).toMatch(/^"service-minute";r=4;t=\d+;pk=:/);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(body.error).toMatchObject({
      code: 'RATE_LIMIT_EXCEEDED',
      details: { limit: CLIENT_LIMIT_PER_MINUTE, reset_in: retryAfter },
    });
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('x-request-id')).not.toBeNull();
  });
});

describe('the health route', () => {
  it('is not counted and carries no rate-limit headers', async () => {
    const replies = await Promise.all(
      Array.from({ length: 3 }, () => fetch(`${gateway.url}/health`)),
    );

    for (const reply of replies) {
      expect(reply.headers.get('x-ratelimit-limit')).toBeNull();
      expect(reply.headers.get('ratelimit-policy')).toBeNull();
    }
  });
});

describe('POST /v1/auth/token', () => {
  it('refuses a client past its token requests a minute: 429 temporarily_unavailable', async () => {
    const secret = await registerTestClient(gateway, { clientId: 'e2e-token-limited' });
    const credentials = {
      grant_type: 'client_credentials',
      client_id: 'e2e-token-limited',
      client_secret: secret,
    };
    await freshMinute();

    const statuses: number[] = [];
    for (let index = 0; index < TOKENS_PER_CLIENT_PER_MINUTE; index += 1) {
      statuses.push((await requestToken(gateway, credentials)).status);
    }
    const refused = await requestToken(gateway, credentials);

    expect(statuses).toEqual(statuses.map(() => 200));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  // Last in the file: it spends this address's failure budget for the rest of the minute.
  it('refuses an address after repeated failures, even with good credentials', async () => {
    const secret = await registerTestClient(gateway, { clientId: 'e2e-after-failures' });
    await freshMinute();

    const failures: number[] = [];
    for (let index = 0; index < FAILURES_PER_SOURCE_PER_MINUTE; index += 1) {
      const reply = await requestToken(gateway, {
        grant_type: 'client_credentials',
        client_id: `e2e-nobody-${index}`,
        client_secret: 'w'.repeat(40),
      });
      failures.push(reply.status);
    }
    const good = await requestToken(gateway, {
      grant_type: 'client_credentials',
      client_id: 'e2e-after-failures',
      client_secret: secret,
    });

    expect(failures).toEqual(failures.map(() => 401));
    expect(good.status).toBe(429);
    expect(good.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(good.headers.get('retry-after')).not.toBeNull();
  });
});
