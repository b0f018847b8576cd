import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '@shared/logging/logger';
import type { LocalGateway } from '@local/runtime';
import { captureOutput, type CapturedOutput } from '@test/fixtures/captured-output';
import { accessToken, registerTestClient, requestToken } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';

const CLIENT_ID = 'log-reader';
const REQUEST_ID = 'trace-0123456789';

let gateway: LocalGateway;
let secret: string;
let token: string;
let output: CapturedOutput;
let lines: Record<string, unknown>[];
let raw: string;

beforeAll(async () => {
  gateway = await startTestGateway();
  secret = await registerTestClient(gateway, {
    clientId: CLIENT_ID,
    scopes: ['identities:validate'],
  });
  token = await accessToken(gateway, CLIENT_ID, secret);

  logger.setLogLevel('INFO');
  output = captureOutput();
  try {
    await fetch(`${gateway.url}/v1/identities/validate`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'x-request-id': REQUEST_ID,
      },
      body: JSON.stringify({ token }),
    });
    await requestToken(gateway, {
      grant_type: 'client_credentials',
      client_id: CLIENT_ID,
      client_secret: `${secret}-wrong`,
    });
    await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${token}x` } });
  } finally {
    output.restore();
    logger.setLogLevel('SILENT');
  }
  lines = output.jsonLines();
  raw = output.lines().join('\n');
});

afterAll(async () => {
  await gateway.stop();
});

const requestLine = (route: string): Record<string, unknown> | undefined =>
  lines.find((line) => line.message === 'request' && line.route === route);

describe('the log lines of real requests through the local runtime', () => {
  it('keep the client request id and name the identity, status, latency and cold start', () => {
    const line = requestLine('validateIdentity');

    expect(line).toMatchObject({
      request_id: REQUEST_ID,
      identity: `service:${CLIENT_ID}`,
      status: 200,
      method: 'POST',
      path: '/v1/identities/validate',
      cold_start: true,
    });
    expect(line?.latency_ms).toEqual(expect.any(Number));
    // The client chose the request id; API Gateway's own and the invocation's are kept too.
    expect(line?.api_request_id).toEqual(expect.any(String));
    expect(line?.api_request_id).not.toBe(REQUEST_ID);
    expect(line?.function_request_id).toEqual(expect.any(String));
  });

  it('write one line per request, refusals included', () => {
    // The token endpoint had already issued the test's token: its function was warm.
    expect(requestLine('issueToken')).toMatchObject({
      status: 401,
      identity: 'anonymous',
      cold_start: false,
    });
    expect(requestLine('getMetrics')).toMatchObject({ status: 401, cold_start: true });
    expect(lines.filter((line) => line.message === 'request')).toHaveLength(3);
  });

  it('never hold the bearer token, the client secret or a whole event', () => {
    expect(raw.length).toBeGreaterThan(0);
    expect(raw).not.toContain(token);
    expect(raw).not.toContain(token.split('.')[1]);
    expect(raw).not.toContain(secret);
    expect(raw).not.toContain('requestContext');
    expect(raw).not.toContain('"headers"');
  });
});
