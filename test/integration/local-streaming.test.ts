import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamingRouteDeclaration } from '@shared/catalog/streaming-routes';
import { createHttpServer, createRequestListener } from '@local/http-server';
import {
  installLambdaStreamingGlobals,
  invokeStreamingHandler,
  isStreamingHandler,
  type LambdaResponseStream,
  type StreamingHandler,
} from '@local/streaming';

/** What `awslambda` offers a handler, as the Lambda runtime (or the emulation) provides it. */
interface StreamingApi {
  streamifyResponse(handler: StreamingHandler): StreamingHandler;
  HttpResponseStream: {
    from(stream: LambdaResponseStream, prelude: object): LambdaResponseStream;
  };
}

const ROUTE: StreamingRouteDeclaration = {
  id: 'streamTest',
  method: 'GET',
  path: '/stream',
  handler: 'none',
  service: 'blux-lite',
  access: 'public',
  scopes: [],
  tables: {},
  mediaType: 'text/plain',
  maxStreamSeconds: 60,
};

let server: Server;
let base: string;
let api: StreamingApi;
let current: StreamingHandler;
let lastEvent: APIGatewayProxyEvent | undefined;
const logged: unknown[] = [];

beforeAll(async () => {
  installLambdaStreamingGlobals();
  api = (globalThis as unknown as { awslambda: StreamingApi }).awslambda;
  const http = createHttpServer();
  http.serve(
    createRequestListener({
      routes: [],
      logger: { error: (_message, fields) => logged.push(fields) },
      invoke: async () => ({ statusCode: 404 }),
      streaming: {
        routes: [ROUTE],
        invoke: async (_route, event, response) => {
          lastEvent = event;
          await invokeStreamingHandler(current, 'stream-test', event, response, 5_000);
        },
      },
    }),
  );
  server = http.server;
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

const later = async (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

describe('the local Lambda response streaming', () => {
  it('marks a handler wrapped by streamifyResponse, as the runtime does', () => {
    const handler = api.streamifyResponse(async () => undefined);

    expect(isStreamingHandler(handler)).toBe(true);
    expect(isStreamingHandler(async () => undefined)).toBe(false);
  });

  it('sends the prelude as status and headers, then each chunk as it is written', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    current = api.streamifyResponse(async (_event, stream) => {
      const body = api.HttpResponseStream.from(stream, {
        statusCode: 201,
        headers: { 'content-type': 'text/plain', 'x-one': '1' },
      });
      body.write('first\n');
      await held;
      body.end('second\n');
    });

    const response = await fetch(`${base}/stream?a=1&a=2`, { headers: { 'x-test': 'yes' } });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    release();
    const second = await reader.read();

    expect(response.status).toBe(201);
    expect(response.headers.get('x-one')).toBe('1');
    expect(response.headers.get('content-type')).toBe('text/plain');
    // The first chunk arrived while the handler was still holding the second back.
    expect(new TextDecoder().decode(first.value)).toBe('first\n');
    expect(new TextDecoder().decode(second.value)).toBe('second\n');
    expect(lastEvent).toMatchObject({
      resource: '/stream',
      path: '/stream',
      httpMethod: 'GET',
      multiValueQueryStringParameters: { a: ['1', '2'] },
      headers: { 'x-test': 'yes' },
      requestContext: { stage: 'live', resourcePath: '/stream' },
    });
  });

  it('answers a bare 500 when the function fails before writing, and logs it', async () => {
    current = api.streamifyResponse(async () => {
      throw new Error('boom');
    });
    logged.length = 0;

    const response = await fetch(`${base}/stream`);
    const body = (await response.json()) as { error: { code: string } };

    expect(response.status).toBe(500);
    expect(body.error.code).toBe('INTERNAL');
    expect(logged).toHaveLength(1);
  });

  it('stops the function stream when the client goes away', async () => {
    let closed: (value: string) => void = () => undefined;
    const observed = new Promise<string>((resolve) => {
      closed = resolve;
    });
    current = api.streamifyResponse(async (_event, stream) => {
      const body = api.HttpResponseStream.from(stream, { statusCode: 200, headers: {} });
      body.on('error', (error: Error) => closed(error.message));
      body.write('tick\n');
      await new Promise((resolve) => body.on('close', resolve));
    });
    const controller = new AbortController();

    const response = await fetch(`${base}/stream`, { signal: controller.signal });
    await (response.body as ReadableStream<Uint8Array>).getReader().read();
    controller.abort();
    const reason = await Promise.race([observed, later(2_000).then(() => 'still open')]);

    expect(reason).toMatch(/streaming\.clientClosed/);
  });
});
