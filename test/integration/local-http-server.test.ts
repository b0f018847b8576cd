import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteDeclaration } from '@shared/catalog/routes';
import { createHttpServer, createRequestListener } from '@local/http-server';

const route = (id: string, method: RouteDeclaration['method'], path: string): RouteDeclaration => ({
  id,
  method,
  path,
  handler: 'none',
  service: 'blux-lite',
  access: 'public',
  scopes: [],
  tables: {},
});

const routes = [route('getTask', 'GET', '/v1/tasks/{task_id}'), route('upload', 'POST', '/up')];
const fallback = route('fallback', null, '$default');
let server: Server;
let base: string;
let lastEvent: APIGatewayProxyEventV2 | undefined;
let nextResult: unknown;

beforeAll(async () => {
  const http = createHttpServer();
  http.serve(
    createRequestListener({
      routes: [...routes, fallback],
      logger: { error: () => undefined },
      invoke: async (_route, event) => {
        lastEvent = event as APIGatewayProxyEventV2;

        return nextResult;
      },
    }),
  );
  server = http.server;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((done) => server.close(done));
});

describe('the local HTTP API', () => {
  it('builds a payload 2.0 event from the request', async () => {
    nextResult = { statusCode: 204 };
    await fetch(`${base}/v1/tasks/tsk%2F1?status=running&status=failed&b=2`, {
      headers: { 'X-Custom': 'One', cookie: 'a=1; b=2' },
    });

    expect(lastEvent).toMatchObject({
      version: '2.0',
      routeKey: 'GET /v1/tasks/{task_id}',
      rawPath: '/v1/tasks/tsk%2F1',
      rawQueryString: 'status=running&status=failed&b=2',
      cookies: ['a=1', 'b=2'],
      pathParameters: { task_id: 'tsk/1' },
      queryStringParameters: { status: 'running,failed', b: '2' },
      isBase64Encoded: false,
      requestContext: {
        http: { method: 'GET', path: '/v1/tasks/tsk%2F1', sourceIp: '127.0.0.1' },
        routeKey: 'GET /v1/tasks/{task_id}',
        stage: '$default',
      },
    });
    expect(lastEvent?.headers['x-custom']).toBe('One');
    expect(lastEvent?.headers.cookie).toBeUndefined();
    expect(lastEvent?.requestContext.time).toMatch(
      /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/,
    );
  });

  it('passes a JSON body as text and a binary body base64-encoded', async () => {
    nextResult = { statusCode: 204 };
    await fetch(`${base}/up`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(lastEvent).toMatchObject({ body: '{"a":1}', isBase64Encoded: false });

    await fetch(`${base}/up`, {
      method: 'POST',
      body: new Uint8Array([0, 255, 1]),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(lastEvent).toMatchObject({ body: 'AP8B', isBase64Encoded: true });
  });

  it('sends an unmatched request to $default', async () => {
    nextResult = { statusCode: 404 };
    const response = await fetch(`${base}/up`);

    expect(response.status).toBe(404);
    expect(lastEvent?.routeKey).toBe('$default');
  });

  it('writes a structured result with its headers, cookies and base64 body', async () => {
    nextResult = {
      statusCode: 201,
      headers: { 'x-one': '1' },
      cookies: ['a=1; Path=/', 'b=2'],
      body: Buffer.from('binary!').toString('base64'),
      isBase64Encoded: true,
    };
    const response = await fetch(`${base}/up`, { method: 'POST' });

    expect(response.status).toBe(201);
    expect(response.headers.get('x-one')).toBe('1');
    expect(response.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect(await response.text()).toBe('binary!');
  });

  it('treats a result without statusCode as a 200 JSON body, as API Gateway does', async () => {
    nextResult = { hello: 'world' };
    const response = await fetch(`${base}/up`, { method: 'POST' });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ hello: 'world' });
  });
});
