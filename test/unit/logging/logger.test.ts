import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RouteDeclaration } from '@shared/catalog/routes';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { configuredLogLevel, logger, REDACTED, redactLogValue } from '@shared/logging/logger';
import { captureOutput, type CapturedOutput } from '@test/fixtures/captured-output';
import { httpEvent, lambdaContext } from '@test/fixtures/events';

/** Shaped like a JWT, so the scrubber must find it wherever it hides. */
const FAKE_JWT =
  'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJzZXJ2aWNlOmJpbGxpbmcifQ.c2lnbmF0dXJl';

const failingRoute: RouteDeclaration = {
  id: 'explode',
  method: 'POST',
  path: '/explode',
  handler: 'test/fixtures/none.ts',
  service: 'blux-lite',
  access: 'public',
  scopes: [],
  tables: {},
};

const explode = httpRoute(failingRoute, {
  handle: async () => {
    const root = new Error(`the store refused ${FAKE_JWT}`);

    throw new Error('the work failed', { cause: new Error('the adapter failed', { cause: root }) });
  },
});

const echo = httpRoute(
  { ...failingRoute, id: 'echo', path: '/echo' },
  { handle: async () => json(200, { ok: true }) },
);

let output: CapturedOutput;

beforeEach(() => {
  logger.setLogLevel('INFO');
  output = captureOutput();
});

afterEach(() => {
  output.restore();
  logger.setLogLevel('SILENT');
});

describe('redactLogValue', () => {
  it('replaces credentials under their usual names, whatever their case', () => {
    expect(redactLogValue('Authorization', 'Bearer abc')).toBe(REDACTED);
    expect(redactLogValue('client_secret', 's3cret')).toBe(REDACTED);
    expect(redactLogValue('token', FAKE_JWT)).toBe(REDACTED);
    expect(redactLogValue('token_id', 'jti-1')).toBe('jti-1');
  });

  it('cuts JWTs and HTTP credentials out of any string', () => {
    const scrubbed = redactLogValue('message', `got ${FAKE_JWT} and Basic dXNlcjpwYXNz here`);

    expect(scrubbed).toBe(`got [redacted jwt] and Basic ${REDACTED} here`);
  });

  it('summarises a whole Lambda event instead of logging it', () => {
    expect(redactLogValue('event', httpEvent({ path: '/x' }))).toBe('[event omitted: GET /x]');
    expect(redactLogValue('event', { Records: [{}, {}] })).toBe('[event omitted: 2 records]');
  });

  it('spells out an AggregateError with each of its errors', () => {
    const fields = redactLogValue(
      'error',
      new AggregateError([new Error('chain 3'), new Error('chain 9')], 'sealing failures'),
    ) as { errors: { message: string }[] };

    expect(fields.errors.map((error) => error.message)).toEqual(['chain 3', 'chain 9']);
  });

  it('reads the level from configuration, INFO for anything unknown', () => {
    expect(configuredLogLevel('warn')).toBe('WARN');
    expect(configuredLogLevel('SILENT')).toBe('SILENT');
    expect(configuredLogLevel('loud')).toBe('INFO');
    expect(configuredLogLevel(undefined)).toBe('INFO');
  });
});

describe('the log lines of a request', () => {
  it('log an unhandled error with its whole cause chain and no JWT', async () => {
    const result = await explode(httpEvent({ method: 'POST', path: '/explode' }), lambdaContext());

    const line = output.jsonLines().find((entry) => entry.message === 'unhandled error');
    expect(result.statusCode).toBe(500);
    const error = line?.error as { message: string; cause: { message: string; cause: object } };
    expect(error.message).toBe('the work failed');
    expect(error.cause.message).toBe('the adapter failed');
    expect(error.cause.cause).toMatchObject({ message: 'the store refused [redacted jwt]' });
    expect(output.lines().join('\n')).not.toContain(FAKE_JWT);
  });

  it('write one request line with id, route, identity, status, latency and cold start', async () => {
    await echo(
      httpEvent({
        method: 'POST',
        path: '/echo',
        headers: { 'x-request-id': 'client-chosen-id-1', authorization: `Bearer ${FAKE_JWT}` },
      }),
      lambdaContext('echo-function'),
    );
    await echo(httpEvent({ method: 'POST', path: '/echo' }), lambdaContext('echo-function'));

    const lines = output.jsonLines().filter((entry) => entry.message === 'request');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      request_id: 'client-chosen-id-1',
      route: 'echo',
      method: 'POST',
      path: '/echo',
      identity: 'anonymous',
      status: 200,
      cold_start: true,
    });
    expect(typeof lines[0]?.latency_ms).toBe('number');
    expect(lines[1]).toMatchObject({ request_id: 'test-request-id=', cold_start: false });
    expect(output.lines().join('\n')).not.toContain(FAKE_JWT);
  });
});
