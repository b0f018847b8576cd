import { describe, expect, it } from 'vitest';
import {
  declaredDimensions,
  metricDeclaration,
  METRICS,
  statusClassOf,
} from '@shared/metrics/metric-catalog';

/** What the other parts of the gateway count, written out so that a rename must be confirmed. */
const EXPECTED_DIMENSIONS: Record<string, readonly string[]> = {
  Requests: ['route', 'status_class'],
  Latency: ['route'],
  ColdStarts: ['function'],
  AuthenticationFailures: ['reason'],
  RateLimited: ['route'],
  TokensIssued: [],
  AuditEntriesWritten: ['service'],
  AuditEntriesSealed: [],
  TasksCreated: ['type'],
  TasksCompleted: ['type'],
  TasksFailed: ['type'],
  TasksCancelled: ['type'],
  TaskRetries: ['type'],
  TaskDuration: ['type'],
  EventsPublished: ['channel'],
  WebSocketConnections: ['outcome'],
  WebSocketDisconnections: [],
  WebSocketMessages: ['type'],
  FanOutDeliveries: ['channel'],
  FanOutGone: ['channel'],
  FanOutFailures: ['channel'],
  SseStreams: [],
};

describe('the metric catalog', () => {
  it('declares every metric the gateway counts, with its dimensions, and no other', () => {
    expect(Object.fromEntries(METRICS.map((metric) => [metric.name, metric.dimensions]))).toEqual(
      EXPECTED_DIMENSIONS,
    );
  });

  it('names counters *_total and durations *_seconds histograms, each name once', () => {
    const names = METRICS.map((metric) => metric.prometheus.name);

    expect(new Set(names).size).toBe(names.length);
    for (const metric of METRICS) {
      expect(metric.prometheus.name, metric.name).toMatch(/^blux_[a-z_]+$/);
      if (metric.unit === 'Count') {
        expect(metric.prometheus).toMatchObject({
          type: 'counter',
          name: expect.stringMatching(/_total$/),
        });
      } else {
        expect(metric.prometheus).toMatchObject({
          type: 'histogram',
          name: expect.stringMatching(/_seconds$/),
        });
      }
    }
  });

  it('keeps exactly the declared dimensions, filling a missing one with none', () => {
    const rateLimited = metricDeclaration('RateLimited');
    if (rateLimited === undefined) {
      throw new Error('RateLimited is not declared');
    }

    expect(declaredDimensions(rateLimited, { route: 'x', client_id: 'billing' })).toEqual({
      route: 'x',
    });
    expect(declaredDimensions(rateLimited, {})).toEqual({ route: 'none' });
    expect(metricDeclaration('NoSuchMetric')).toBeUndefined();
  });

  it('classes statuses by their hundreds', () => {
    expect([200, 204, 404, 429, 500, 503].map(statusClassOf)).toEqual([
      '2xx',
      '2xx',
      '4xx',
      '4xx',
      '5xx',
      '5xx',
    ]);
  });
});
