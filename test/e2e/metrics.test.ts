import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '@shared/metrics/metric-catalog';
import type { LocalGateway } from '@local/runtime';
import { accessToken, registerTestClient } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';
import {
  familyOf,
  histogramSeries,
  parsePrometheus,
  sampleValue,
  type ParsedFamily,
} from '@test/fixtures/prometheus';

const HEALTH_CALLS = 3;
const UNKNOWN_PATH_CALLS = 2;
const CALLS_WITHOUT_TOKEN = 2;
/** Five calls against a limit of two a minute: at least one is refused, even across a minute. */
const LIMITED_CALLS = 5;
const LIMITED_PER_MINUTE = 2;
/** Tokens the test asks for: one per client. */
const TOKENS = 3;

let gateway: LocalGateway;
let readerToken: string;
let otherToken: string;
let forbidden: Response;
let limitedRefusals = 0;
let scrape: Response;
let text: string;
let families: ParsedFamily[];

const get = (path: string, token?: string): Promise<Response> =>
  fetch(`${gateway.url}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });

const scrapeMetrics = async (): Promise<{ text: string; families: ParsedFamily[] }> => {
  const response = await get('/metrics', readerToken);
  const body = await response.text();

  return { text: body, families: parsePrometheus(body) };
};

beforeAll(async () => {
  gateway = await startTestGateway();
  const readerSecret = await registerTestClient(gateway, {
    clientId: 'prometheus',
    scopes: ['metrics:read'],
  });
  const otherSecret = await registerTestClient(gateway, {
    clientId: 'not-a-scraper',
    scopes: ['tasks:read'],
  });
  const limitedSecret = await registerTestClient(gateway, {
    clientId: 'limited',
    scopes: ['identities:validate'],
    rateLimits: { perMinute: LIMITED_PER_MINUTE },
  });
  readerToken = await accessToken(gateway, 'prometheus', readerSecret);
  otherToken = await accessToken(gateway, 'not-a-scraper', otherSecret);
  const limitedToken = await accessToken(gateway, 'limited', limitedSecret);

  for (let call = 0; call < HEALTH_CALLS; call += 1) {
    expect((await get('/health')).status).toBe(200);
  }
  for (let call = 0; call < UNKNOWN_PATH_CALLS; call += 1) {
    expect((await get(`/no/such/path/${call}`)).status).toBe(404);
  }
  for (let call = 0; call < CALLS_WITHOUT_TOKEN; call += 1) {
    expect((await get('/metrics')).status).toBe(401);
  }
  for (let call = 0; call < LIMITED_CALLS; call += 1) {
    const response = await fetch(`${gateway.url}/v1/identities/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${limitedToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token: limitedToken }),
    });
    limitedRefusals += response.status === 429 ? 1 : 0;
  }
  forbidden = await get('/metrics', otherToken);
  scrape = await get('/metrics', readerToken);
  text = await scrape.text();
  families = parsePrometheus(text);
});

afterAll(async () => {
  await gateway.stop();
});

describe('GET /metrics in the local runtime', () => {
  it('answers Prometheus text format 0.0.4 to a caller with metrics:read', () => {
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('refuses a caller without metrics:read with 403 FORBIDDEN naming the scope', async () => {
    const body = (await forbidden.json()) as { error: { code: string; details: unknown } };

    expect(forbidden.status).toBe(403);
    expect(body.error.code).toBe('FORBIDDEN');
    expect(JSON.stringify(body.error.details)).toContain('metrics:read');
  });

  it('declares every catalog metric with HELP and TYPE, counters ending in _total', () => {
    for (const metric of METRICS) {
      const family = familyOf(families, metric.prometheus.name);

      expect(family.help, metric.name).toBe(metric.help);
      expect(family.type, metric.name).toBe(metric.prometheus.type.toUpperCase());
      if (family.type === 'COUNTER') {
        expect(family.name).toMatch(/_total$/);
      }
    }
    for (const metric of METRICS) {
      expect(text).toContain(`# TYPE ${metric.prometheus.name} ${metric.prometheus.type}\n`);
    }
  });

  it('counts the requests made, by route and status class', () => {
    const requests = familyOf(families, 'blux_requests_total');

    expect(sampleValue(requests, { route: 'getHealth', status_class: '2xx' })).toBe(HEALTH_CALLS);
    expect(sampleValue(requests, { route: 'notFound', status_class: '4xx' })).toBe(
      UNKNOWN_PATH_CALLS,
    );
    // The scrape itself is counted once its answer is made, so it is not in its own answer.
    expect(sampleValue(requests, { route: 'getMetrics', status_class: '4xx' })).toBe(
      CALLS_WITHOUT_TOKEN + 1,
    );
    expect(sampleValue(requests, { route: 'getMetrics', status_class: '2xx' })).toBe(0);
    expect(sampleValue(requests, { route: 'issueToken', status_class: '2xx' })).toBe(TOKENS);
    expect(sampleValue(requests, { route: 'validateIdentity', status_class: '4xx' })).toBe(
      limitedRefusals,
    );
    expect(sampleValue(requests, { stage: gateway.stage })).toBe(
      HEALTH_CALLS + UNKNOWN_PATH_CALLS + CALLS_WITHOUT_TOKEN + 1 + TOKENS + LIMITED_CALLS,
    );
  });

  it('counts refusals by reason, tokens issued and the audit entries they wrote', () => {
    expect(
      sampleValue(familyOf(families, 'blux_authentication_failures_total'), { reason: 'missing' }),
    ).toBe(CALLS_WITHOUT_TOKEN);
    expect(sampleValue(familyOf(families, 'blux_tokens_issued_total'), {})).toBe(TOKENS);
    const written = familyOf(families, 'blux_audit_entries_written_total');
    // Refusals (401, 403, 429) by the guard; tokens issued and validated by the registry.
    expect(sampleValue(written, { service: 'blux-guard' })).toBe(
      CALLS_WITHOUT_TOKEN + 1 + limitedRefusals,
    );
    expect(sampleValue(written, { service: 'blux-reg' })).toBe(
      TOKENS + LIMITED_CALLS - limitedRefusals,
    );
  });

  it('counts the requests refused for a spent rate limit by route', () => {
    expect(limitedRefusals).toBeGreaterThanOrEqual(1);
    expect(
      sampleValue(familyOf(families, 'blux_rate_limited_total'), { route: 'validateIdentity' }),
    ).toBe(limitedRefusals);
  });

  it('gives latency as a histogram in seconds whose buckets, sum and count agree', () => {
    const series = histogramSeries(text, 'blux_request_duration_seconds', { route: 'getHealth' });
    const counts = [...series.buckets.values()];

    expect(series.count).toBe(HEALTH_CALLS);
    expect(series.buckets.get('+Inf')).toBe(HEALTH_CALLS);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(series.sum).toBeGreaterThan(0);
    expect(series.sum).toBeLessThan(HEALTH_CALLS * 10);
  });

  it('counts one cold start per function that has run', () => {
    const coldStarts = familyOf(families, 'blux_cold_starts_total');

    expect(sampleValue(coldStarts, { function: 'blux-local-getHealth' })).toBe(1);
    expect(sampleValue(coldStarts, { function: 'blux-local-getMetrics' })).toBe(1);
  });

  it('counts the sealed audit entries once the sealer has caught up', async () => {
    await gateway.whenIdle();
    const later = await scrapeMetrics();

    const written = sampleValue(familyOf(later.families, 'blux_audit_entries_written_total'), {});
    const sealed = sampleValue(familyOf(later.families, 'blux_audit_entries_sealed_total'), {});
    expect(written).toBe(CALLS_WITHOUT_TOKEN + 1 + TOKENS + LIMITED_CALLS);
    expect(sealed).toBe(written);
    expect(
      sampleValue(familyOf(later.families, 'blux_requests_total'), {
        route: 'getMetrics',
        status_class: '2xx',
      }),
    ).toBe(1);
  });
});
