import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { withConnectionsEndpoint } from '@local/connections-endpoint';
import { startLocalWebSocketApi, type LocalWebSocketApi } from '@local/websocket-server';

interface Invocation {
  readonly functionId: string;
  readonly event: Record<string, unknown> & {
    requestContext: Record<string, unknown>;
    body?: string;
  };
}

const IDLE_TIMEOUT_MS = 400;
let server: Server;
let api: LocalWebSocketApi;
let base: string;
let management: ApiGatewayManagementApiClient;
const invocations: Invocation[] = [];

beforeAll(async () => {
  server = createServer();
  api = startLocalWebSocketApi({
    server,
    authorizer: { id: 'authorize', handler: 'authorize' },
    logger: { error: () => undefined },
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    invoke: async (functionId, _handler, event) => {
      const invocation = { functionId, event } as Invocation;
      invocations.push(invocation);
      const headers = (invocation.event.headers ?? {}) as Record<string, string>;
      if (functionId === 'authorize') {
        if (headers['X-Test'] === 'deny') {
          return {
            principalId: 'x',
            policyDocument: { Statement: [{ Effect: 'Deny', Action: 'x' }] },
          };
        }
        if (headers['X-Test'] === 'throw') {
          throw new Error('Unauthorized');
        }

        return {
          principalId: 'service:test',
          policyDocument: { Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke' }] },
          context: { identity_id: 'service:test' },
        };
      }
      if (functionId === 'wsConnect' && headers['X-Test'] === 'connect-403') {
        return { statusCode: 403 };
      }
      if (functionId === 'wsDefault' && invocation.event.body === 'fail') {
        throw new Error('handler failed');
      }

      return { statusCode: 200 };
    },
  });
  const endpoint = withConnectionsEndpoint('events', api, async (_request, response) => {
    response.writeHead(404).end();
  });
  server.on('request', (request, response) => void endpoint(request, response));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  management = new ApiGatewayManagementApiClient({
    endpoint: `http://${base}/events`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  management.destroy();
  await api.close();
  await new Promise((done) => server.close(done));
});

const open = async (headers: Record<string, string> = {}) => {
  const socket = new WebSocket(`ws://${base}/v1/events`, { headers });
  const messages: string[] = [];
  socket.on('message', (data) => messages.push(String(data)));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const connect = invocations.filter((call) => call.functionId === 'wsConnect').at(-1);

  return { socket, messages, connectionId: String(connect?.event.requestContext.connectionId) };
};

const status = async (headers: Record<string, string>, path = '/v1/events'): Promise<number> =>
  new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${base}${path}`, { headers });
    // Ending a refused handshake makes `ws` report an abort; the status is all this wants.
    socket.on('error', () => undefined);
    socket.once('unexpected-response', (request, response) => {
      resolve(response.statusCode ?? 0);
      request.destroy();
    });
    socket.once('open', () => reject(new Error('the upgrade was accepted')));
  });

const waitFor = async <T>(probe: () => T | undefined, timeoutMs = 3_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('the local WebSocket API', () => {
  it('refuses as API Gateway does: 401 when the authorizer throws, 403 on a deny or a failing $connect, 404 elsewhere', async () => {
    expect(await status({ 'X-Test': 'throw' })).toBe(401);
    expect(await status({ 'X-Test': 'deny' })).toBe(403);
    expect(await status({ 'X-Test': 'connect-403' })).toBe(403);
    expect(await status({}, '/v1/other')).toBe(404);
  });

  it('runs $connect with the authorizer context and routes messages by type', async () => {
    const { socket, connectionId } = await open({ Authorization: 'Bearer t' });
    socket.send('{"type":"ping"}');
    socket.send('{"type":"nothing"}');

    const routed = await waitFor(() => {
      const calls = invocations.filter(
        (call) =>
          call.functionId !== 'authorize' &&
          call.event.requestContext.connectionId === connectionId,
      );
      return calls.length >= 3 ? calls : undefined;
    });

    expect(routed.map((call) => call.event.requestContext.routeKey)).toEqual([
      '$connect',
      'ping',
      '$default',
    ]);
    expect(routed[0]?.event.requestContext).toMatchObject({
      eventType: 'CONNECT',
      stage: 'events',
      authorizer: { identity_id: 'service:test', principalId: 'service:test' },
    });
    expect(routed[0]?.event.headers).toMatchObject({ Authorization: 'Bearer t' });
    expect(routed[1]?.event).toMatchObject({ body: '{"type":"ping"}', isBase64Encoded: false });
    socket.close();
  });

  it('tells the client of a failing handler as API Gateway does', async () => {
    const { socket, messages, connectionId } = await open();
    socket.send('fail');

    const reply = await waitFor(() => messages[0]);

    expect(JSON.parse(reply)).toMatchObject({ message: 'Internal server error', connectionId });
    socket.close();
  });

  it('posts, describes and closes connections for the real management client, 410 once gone', async () => {
    const { socket, messages, connectionId } = await open();

    await management.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('hello') }),
    );
    const described = await management.send(
      new GetConnectionCommand({ ConnectionId: connectionId }),
    );
    const tooLarge = await management
      .send(
        new PostToConnectionCommand({
          ConnectionId: connectionId,
          Data: Buffer.alloc(129 * 1024, 'x'),
        }),
      )
      .catch((error: unknown) => error);
    await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    const closeCode = await new Promise<number>((resolve) => socket.once('close', resolve));
    const gone = await management
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('x') }))
      .catch((error: unknown) => error);

    expect(await waitFor(() => messages[0])).toBe('hello');
    expect(described.ConnectedAt).toBeInstanceOf(Date);
    expect(described.Identity?.SourceIp).toBe('127.0.0.1');
    expect(tooLarge).toBeInstanceOf(PayloadTooLargeException);
    expect(closeCode).toBe(1000);
    expect(gone).toBeInstanceOf(GoneException);
    const disconnect = await waitFor(() =>
      invocations.find(
        (call) =>
          call.functionId === 'wsDisconnect' &&
          call.event.requestContext.connectionId === connectionId,
      ),
    );
    expect(disconnect.event.requestContext).toMatchObject({ eventType: 'DISCONNECT' });
  });

  it('closes an idle connection with 1001', async () => {
    const { socket } = await open();
    const startedAt = Date.now();

    const code = await new Promise<number>((resolve) => socket.once('close', resolve));

    expect(code).toBe(1001);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(IDLE_TIMEOUT_MS - 50);
  });
});
