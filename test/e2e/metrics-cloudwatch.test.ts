/**
 * `GET /metrics` as it runs in AWS: no in-process registry, so the route reads the stage's
 * CloudWatch metrics. CloudWatch is a recorded stand-in over real HTTP; the gateway, its
 * authentication and the SDK client are the real ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPrometheusSink } from '@shared/metrics/prometheus-sink';
import type { LocalGateway } from '@local/runtime';
import { startCloudWatchServer, type CloudWatchServer } from '@test/fixtures/cloudwatch-server';
import { accessToken, registerTestClient } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';
import { familyOf, parsePrometheus, sampleValue } from '@test/fixtures/prometheus';

let gateway: LocalGateway;
let cloudWatch: CloudWatchServer;
let token: string;

const scrape = (): Promise<Response> =>
  fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });

beforeAll(async () => {
  gateway = await startTestGateway();
  const stage = gateway.stage;
  cloudWatch = await startCloudWatchServer({
    ListMetrics: {
      Metrics: [
        {
          Namespace: 'BLUX/Gateway',
          MetricName: 'Requests',
          Dimensions: [
            { Name: 'stage', Value: stage },
            { Name: 'route', Value: 'getHealth' },
            { Name: 'status_class', Value: '2xx' },
          ],
        },
        {
          Namespace: 'BLUX/Gateway',
          MetricName: 'Latency',
          Dimensions: [
            { Name: 'stage', Value: stage },
            { Name: 'route', Value: 'getHealth' },
          ],
        },
      ],
    },
    GetMetricData: {
      MetricDataResults: [
        {
          Id: 'm0_sum',
          Label: 'Requests',
          Values: [120],
          Timestamps: [1796331600],
          StatusCode: 'Complete',
        },
        {
          Id: 'm1_p50',
          Label: 'Latency',
          Values: [8],
          Timestamps: [1796331600],
          StatusCode: 'Complete',
        },
        {
          Id: 'm1_p90',
          Label: 'Latency',
          Values: [20],
          Timestamps: [1796331600],
          StatusCode: 'Complete',
        },
        {
          Id: 'm1_p99',
          Label: 'Latency',
          Values: [95],
          Timestamps: [1796331600],
          StatusCode: 'Complete',
        },
      ],
    },
  });
  process.env.AWS_ENDPOINT_URL_CLOUDWATCH = cloudWatch.endpoint;
  // What Lambda is: no process keeps a registry to render.
  installPrometheusSink(undefined);
  const secret = await registerTestClient(gateway, {
    clientId: 'scraper',
    scopes: ['metrics:read'],
  });
  token = await accessToken(gateway, 'scraper', secret);
});

afterAll(async () => {
  delete process.env.AWS_ENDPOINT_URL_CLOUDWATCH;
  await gateway.stop();
  await cloudWatch.close();
});

describe('GET /metrics without an in-process registry, as in AWS', () => {
  it('answers 503 with Retry-After while CloudWatch fails, and caches nothing', async () => {
    cloudWatch.failWith = 'InternalServiceError';
    try {
      const response = await scrape();
      const body = (await response.json()) as { error: { code: string } };

      expect(response.status).toBe(503);
      expect(body.error.code).toBe('SERVICE_UNAVAILABLE');
      expect(response.headers.get('retry-after')).toBe('30');
    } finally {
      cloudWatch.failWith = undefined;
      cloudWatch.calls.length = 0;
    }
  });

  it('renders the stage CloudWatch window as gauges a Prometheus parser reads', async () => {
    const response = await scrape();
    const text = await response.text();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(text);
    const requests = familyOf(families, 'blux_requests_last_5m');
    expect(requests.type).toBe('GAUGE');
    expect(sampleValue(requests, { stage: gateway.stage, route: 'getHealth' })).toBe(120);
    expect(
      sampleValue(familyOf(families, 'blux_request_duration_seconds_last_5m'), {
        quantile: '0.99',
      }),
    ).toBe(0.095);
    expect(cloudWatch.calls.map((call) => call.operation)).toEqual([
      'ListMetrics',
      'GetMetricData',
    ]);
    expect(cloudWatch.calls[0]?.input).toMatchObject({
      Namespace: 'BLUX/Gateway',
      Dimensions: [{ Name: 'stage', Value: gateway.stage }],
    });
  });

  it('answers a second scrape within a minute from its cache, without calling CloudWatch', async () => {
    const before = cloudWatch.calls.length;

    const response = await scrape();

    expect(response.status).toBe(200);
    expect(await response.text()).toContain('blux_requests_last_5m');
    expect(cloudWatch.calls.length).toBe(before);
  });
});
