import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, routeKey } from '@shared/catalog/routes';
import type { LocalGateway } from '@local/runtime';
import { startTestGateway } from '@test/fixtures/local-gateway';

let gateway: LocalGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.stop();
});

const call = (path: string, init?: RequestInit) => fetch(`${gateway.url}${path}`, init);

describe('the local gateway over HTTP', () => {
  it('serves every declared route with its own handler', () => {
    expect([...gateway.routeKeys].sort()).toEqual(ROUTES.map(routeKey).sort());
  });

  it('answers GET /health with every service healthy, from real table checks', async () => {
    const response = await call('/health');
    const body = (await response.json()) as Record<string, unknown>;

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(body).toMatchObject({
      status: 'healthy',
      services: { 'blux-lite': 'healthy', 'blux-guard': 'healthy', 'blux-reg': 'healthy' },
    });
    const checks = body.checks as Record<string, { name: string; status: string }[]>;
    expect(checks['blux-reg']?.map((check) => check.name)).toEqual(['table:clients', 'token-keys']);
    expect(Number.isNaN(Date.parse(String(body.timestamp)))).toBe(false);
  });

  it('answers an unknown path with the NOT_FOUND envelope', async () => {
    const response = await call('/v1/nowhere?x=1');
    const body = (await response.json()) as { error: Record<string, unknown> };

    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(body.error).toMatchObject({
      code: 'NOT_FOUND',
      details: { method: 'GET', path: '/v1/nowhere' },
      audit_id: null,
    });
  });

  it('answers a known path with another method with 405 and Allow', async () => {
    const response = await call('/health', { method: 'DELETE' });
    const body = (await response.json()) as { error: Record<string, unknown> };

    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
    expect(body.error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('gives every response an X-Request-Id, keeping a well-formed one from the client', async () => {
    const own = await call('/health', { headers: { 'X-Request-Id': 'trace-0001-abcd' } });
    const generated = await call('/nowhere');

    expect(own.headers.get('x-request-id')).toBe('trace-0001-abcd');
    expect(generated.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9+/=]{10,}$/);
  });

  it('refuses a body larger than API Gateway accepts with the envelope', async () => {
    const response = await call('/v1/nowhere', {
      method: 'POST',
      body: Buffer.alloc(10 * 1024 * 1024 + 1, 97),
      headers: { 'content-type': 'application/octet-stream' },
    });
    const body = (await response.json()) as { error: Record<string, unknown> };

    expect(response.status).toBe(413);
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});
