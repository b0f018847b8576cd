import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RouteDeclaration } from '@shared/catalog/routes';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { createEmfSink, type EmfDocument } from '@shared/metrics/emf-sink';
import { METRIC_NAMESPACE } from '@shared/metrics/metric-catalog';
import { recordMetric } from '@shared/metrics/metrics';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';
import { captureOutput, type CapturedOutput } from '@test/fixtures/captured-output';
import { httpEvent, lambdaContext } from '@test/fixtures/events';

const NOW_MS = Date.UTC(2026, 11, 3, 21);

const emfDocuments = (lines: readonly Record<string, unknown>[]): EmfDocument[] =>
  lines.filter((line): line is EmfDocument => typeof line._aws === 'object');

/** The one document whose metrics include `name`; fails unless exactly one. */
const documentWith = (documents: readonly EmfDocument[], name: string): EmfDocument => {
  const found = documents.filter((document) =>
    document._aws.CloudWatchMetrics.some((set) => set.Metrics.some((m) => m.Name === name)),
  );
  expect(found, name).toHaveLength(1);

  return found[0] as EmfDocument;
};

let output: CapturedOutput;

beforeEach(() => {
  output = captureOutput();
});

afterEach(() => {
  output.restore();
});

describe('the EMF sink', () => {
  it('writes one document per dimension set, counts summed, under the namespace', async () => {
    const sink = createEmfSink({ stage: 'dev', now: () => NOW_MS });
    sink.record('Requests', 1, { route: 'getHealth', status_class: '2xx' });
    sink.record('Requests', 1, { route: 'getHealth', status_class: '2xx' });
    sink.record('Requests', 1, { route: 'getHealth', status_class: '4xx' });
    sink.record('TokensIssued', 1, {});
    await sink.flush?.();

    const documents = emfDocuments(output.jsonLines());
    expect(documents).toHaveLength(3);
    const ok = documents.find((document) => document.status_class === '2xx');
    expect(ok).toEqual({
      _aws: {
        Timestamp: NOW_MS,
        CloudWatchMetrics: [
          {
            Namespace: METRIC_NAMESPACE,
            Dimensions: [['stage', 'route', 'status_class']],
            Metrics: [{ Name: 'Requests', Unit: 'Count' }],
          },
        ],
      },
      stage: 'dev',
      route: 'getHealth',
      status_class: '2xx',
      Requests: 2,
    });
    expect(documentWith(documents, 'TokensIssued')).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Dimensions: [['stage']] }] },
      TokensIssued: 1,
    });
  });

  it('keeps durations as values in milliseconds, at most 100 to a document', async () => {
    const sink = createEmfSink({ stage: 'prod', now: () => NOW_MS });
    for (let index = 0; index < 150; index += 1) {
      sink.record('Latency', index, { route: 'getHealth' });
    }
    await sink.flush?.();

    const documents = emfDocuments(output.jsonLines());
    expect(documents.map((document) => (document.Latency as number[]).length)).toEqual([100, 50]);
    expect(documents[0]?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([
      { Name: 'Latency', Unit: 'Milliseconds' },
    ]);
    expect(documents.flatMap((document) => document.Latency as number[])).toEqual(
      Array.from({ length: 150 }, (_, index) => index),
    );
  });

  it('drops undeclared dimensions, fills missing ones and reports unknown metrics once', async () => {
    const unknown: string[] = [];
    const sink = createEmfSink({ stage: 'dev', onUnknownMetric: (name) => unknown.push(name) });
    sink.record('RateLimited', 1, { route: 'listAuditEntries', client_id: 'billing' });
    sink.record('AuthenticationFailures', 1, {});
    sink.record('Requestz', 1, {});
    sink.record('Requestz', 1, {});
    await sink.flush?.();

    const documents = emfDocuments(output.jsonLines());
    expect(documentWith(documents, 'RateLimited')).not.toHaveProperty('client_id');
    expect(documentWith(documents, 'AuthenticationFailures')).toMatchObject({ reason: 'none' });
    expect(unknown).toEqual(['Requestz']);
  });

  it('writes nothing on a flush with nothing recorded, and nothing twice', async () => {
    const sink = createEmfSink({ stage: 'dev' });
    sink.record('TokensIssued', 1, {});
    await sink.flush?.();
    await sink.flush?.();

    expect(emfDocuments(output.jsonLines())).toHaveLength(1);
  });
});

describe('an HTTP route in Lambda', () => {
  const route: RouteDeclaration = {
    id: 'echo',
    method: 'GET',
    path: '/echo',
    handler: 'test/fixtures/none.ts',
    service: 'blux-lite',
    access: 'public',
    scopes: [],
    tables: {},
  };
  const echo = httpRoute(route, { handle: async () => json(200, { ok: true }) });

  it('flushes its request, latency and cold start as EMF at the end of each invocation', async () => {
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'blux-test-echo';
    process.env.BLUX_STAGE = 'staging';
    try {
      await echo(httpEvent({ path: '/echo' }), lambdaContext('blux-test-echo'));
      const first = emfDocuments(output.jsonLines());
      await echo(httpEvent({ path: '/echo' }), lambdaContext('blux-test-echo'));
      const both = emfDocuments(output.jsonLines());

      expect(documentWith(first, 'Requests')).toMatchObject({
        stage: 'staging',
        route: 'echo',
        status_class: '2xx',
        Requests: 1,
      });
      expect(documentWith(first, 'Latency').Latency).toEqual([expect.any(Number)]);
      expect(documentWith(first, 'ColdStarts')).toMatchObject({
        function: 'blux-test-echo',
        ColdStarts: 1,
      });
      const second = both.slice(first.length);
      const names = second.flatMap((document) =>
        document._aws.CloudWatchMetrics.flatMap((set) => set.Metrics.map((m) => m.Name)),
      );
      expect(names.sort()).toEqual(['Latency', 'Requests']);
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      delete process.env.BLUX_STAGE;
    }
  });
});

describe('a stream consumer wrapped for metrics in Lambda', () => {
  it('flushes what it counted even when it throws, with its cold start once', async () => {
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'blux-test-consumer';
    // The sink is registered once per process, as in Lambda, with the stage of the first use.
    process.env.BLUX_STAGE = 'staging';
    const consumer = withInvocationMetrics(async (event: { fail: boolean }) => {
      recordMetric('AuditEntriesSealed', 4);
      if (event.fail) {
        throw new Error('batch failed');
      }
    });
    try {
      await expect(consumer({ fail: true }, lambdaContext('blux-test-consumer'))).rejects.toThrow(
        'batch failed',
      );
      await consumer({ fail: false }, lambdaContext('blux-test-consumer'));

      const documents = emfDocuments(output.jsonLines());
      const sealed = documents.filter((document) => 'AuditEntriesSealed' in document);
      const coldStarts = documents.filter((document) => 'ColdStarts' in document);
      expect(sealed.map((document) => document.AuditEntriesSealed)).toEqual([4, 4]);
      expect(coldStarts).toHaveLength(1);
      expect(coldStarts[0]).toMatchObject({ function: 'blux-test-consumer', stage: 'staging' });
    } finally {
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      delete process.env.BLUX_STAGE;
    }
  });
});
