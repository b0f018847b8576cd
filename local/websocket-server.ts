/**
 * The local stand-in for API Gateway's WebSocket API, on the HTTP server's own port at
 * `/v1/events`. It runs the very handler modules Lambda runs, with API-Gateway-shaped events:
 *
 * - an upgrade request runs the REQUEST authorizer; a thrown `Unauthorized` refuses it with
 *   401, a policy that does not allow refuses it with 403, and then `$connect` runs with the
 *   authorizer's context; a `$connect` answering other than 2xx refuses the upgrade with its
 *   status. Only then is the WebSocket handshake completed, with the subprotocol `$connect`
 *   chose, if any;
 * - each text message goes to the route its `type` names, or `$default` (binary messages
 *   arrive base64-encoded, on `$default`); a handler that fails makes the client receive
 *   API Gateway's `{"message": "Internal server error", …}`;
 * - a close runs `$disconnect`; so does a close through the management endpoint
 *   (`local/connections-endpoint.ts`), which posts to connections by id;
 * - API Gateway's quotas: a frame over 32 KB or a message over 128 KB closes the connection
 *   with 1009 (Message too big); ten minutes without traffic, or two hours in all, close it
 *   with 1001 (Going away).
 *
 * Messages of one connection are handled one after another, in order. API Gateway gives no
 * such promise (it may invoke the handler for two messages at once); clients must not rely on
 * it, and the handlers do not.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayAuthorizerResult } from 'aws-lambda';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  selectWebSocketRoute,
  WEBSOCKET_PATH,
  WEBSOCKET_ROUTES,
  WEBSOCKET_STAGE_NAME,
  type WebSocketRouteDeclaration,
} from '@shared/catalog/websocket-routes';
import { MAX_MESSAGE_BYTES, type ManagedConnection } from './connections-endpoint';
import type { LocalLogger } from './http-server';
import { newRequestId, requestTime } from './http-api-event';

/** API Gateway's limit on one WebSocket frame. */
export const MAX_FRAME_BYTES = 32 * 1024;

/** API Gateway closes a connection idle this long. */
export const IDLE_TIMEOUT_MS = 10 * 60 * 1_000;

/** API Gateway closes every connection after this long. */
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1_000;

/** RFC 6455 close codes API Gateway uses. */
export const CLOSE_CODES = { normal: 1000, goingAway: 1001, messageTooBig: 1009 } as const;

const MESSAGE_TOO_BIG = 'Message too big';

/** Runs a handler as Lambda would; the runtime passes its own `invokeHandler`. */
export type WebSocketInvoker = (
  functionId: string,
  handlerModule: string,
  event: unknown,
) => Promise<unknown>;

export interface LocalWebSocketApiOptions {
  readonly server: Server;
  readonly invoke: WebSocketInvoker;
  readonly authorizer: { readonly id: string; readonly handler: string };
  readonly routes?: readonly WebSocketRouteDeclaration[];
  readonly stage?: string;
  readonly logger: LocalLogger;
  /** Quota overrides, for tests; API Gateway's by default. */
  readonly idleTimeoutMs?: number;
  readonly maxConnectionMs?: number;
}

export interface LocalWebSocketApi {
  /** The open connections, by id, for the management endpoint. */
  find(connectionId: string): ManagedConnection | undefined;
  readonly openConnections: number;
  /** Resolves once every handler invocation started so far has finished. */
  whenIdle(): Promise<void>;
  /** Closes every connection without running `$disconnect`, as a stopped stage would. */
  close(): Promise<void>;
}

interface OpenConnection extends ManagedConnection {
  readonly connectionId: string;
  readonly authorizer: Record<string, unknown>;
  queue: Promise<void>;
  refused: boolean;
}

/** An id in the shape of API Gateway's connection ids: 14 characters and `=`. */
const newConnectionId = (): string =>
  randomBytes(10).toString('base64').replace(/[+/]/g, 'A').slice(0, 14) + '=';

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
};

/** Refuses an upgrade with a plain HTTP answer, as API Gateway does, and drops the socket. */
const refuseUpgrade = (socket: Duplex, status: number): void => {
  const text = STATUS_TEXT[status] ?? 'Forbidden';
  const body = JSON.stringify({ message: text });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
};

const singleValues = (
  values: Record<string, string | string[] | undefined>,
): Record<string, string> => {
  const single: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined) {
      single[name] = Array.isArray(value) ? value.join(',') : value;
    }
  }

  return single;
};

/** Header names as the client sent them, which is what WebSocket events carry. */
const rawHeaders = (request: IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {};
  for (let index = 0; index < request.rawHeaders.length; index += 2) {
    const name = request.rawHeaders[index] ?? '';
    const value = request.rawHeaders[index + 1] ?? '';
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }

  return headers;
};

const queryOf = (request: IncomingMessage): Record<string, string> | undefined => {
  const search = new URL(request.url ?? '/', 'http://localhost').searchParams;
  const query = singleValues(Object.fromEntries(search));

  return Object.keys(query).length === 0 ? undefined : query;
};

const isAllowed = (result: APIGatewayAuthorizerResult | undefined): boolean => {
  const statements = result?.policyDocument?.Statement ?? [];

  return (
    statements.length > 0 &&
    statements.every((statement) => statement.Effect === 'Allow') &&
    statements.some((statement) => 'Action' in statement)
  );
};

const isSuccess = (result: unknown): boolean => {
  const status = (result as { statusCode?: unknown } | null)?.statusCode;

  return status === undefined || (typeof status === 'number' && status >= 200 && status < 300);
};

/**
 * Watches the frames a client sends and calls `onTooBig` for one whose payload exceeds
 * `MAX_FRAME_BYTES`. It reads only headers (2 to 14 bytes a frame) and counts payload bytes
 * past, so it costs next to nothing; the `ws` library parses the same bytes for messages.
 */
const frameSizeGuard = (onTooBig: () => void): ((chunk: Buffer) => void) => {
  let header = Buffer.alloc(0);
  let skipping = 0;

  return (chunk) => {
    let rest = chunk;
    while (rest.length > 0) {
      if (skipping > 0) {
        const skipped = Math.min(skipping, rest.length);
        skipping -= skipped;
        rest = rest.subarray(skipped);
        continue;
      }
      header = Buffer.concat([header, rest]);
      rest = Buffer.alloc(0);
      const second = header[1];
      if (second === undefined) {
        return;
      }
      const shortLength = second & 0x7f;
      const lengthBytes = shortLength === 126 ? 2 : shortLength === 127 ? 8 : 0;
      const maskBytes = (second & 0x80) === 0 ? 0 : 4;
      const headerBytes = 2 + lengthBytes + maskBytes;
      if (header.length < headerBytes) {
        return;
      }
      const length =
        lengthBytes === 0
          ? shortLength
          : lengthBytes === 2
            ? header.readUInt16BE(2)
            : Number(header.readBigUInt64BE(2));
      if (length > MAX_FRAME_BYTES) {
        onTooBig();
        return;
      }
      rest = header.subarray(headerBytes);
      header = Buffer.alloc(0);
      skipping = length;
    }
  };
};

/** Starts answering WebSocket upgrades at `/v1/events` on `options.server`. */
export const startLocalWebSocketApi = (options: LocalWebSocketApiOptions): LocalWebSocketApi => {
  const stage = options.stage ?? WEBSOCKET_STAGE_NAME;
  const routes = options.routes ?? WEBSOCKET_ROUTES;
  const connections = new Map<string, OpenConnection>();
  const running = new Set<Promise<unknown>>();
  const protocols = new WeakMap<IncomingMessage, string>();
  const idleTimeoutMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const maxConnectionMs = options.maxConnectionMs ?? MAX_CONNECTION_MS;
  let stopping = false;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols: (_offered, request) => protocols.get(request) ?? false,
  });

  const track = <T>(work: Promise<T>): Promise<T> => {
    running.add(work);
    void work.finally(() => running.delete(work)).catch(() => undefined);

    return work;
  };

  const routeFor = (routeKey: string): WebSocketRouteDeclaration | undefined =>
    routes.find((route) => route.routeKey === routeKey);

  const requestContext = (
    connectionId: string,
    routeKey: string,
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
    request: { host: string; sourceIp: string; userAgent: string; connectedAt: number },
  ) => {
    const now = new Date();

    return {
      routeKey,
      eventType,
      extendedRequestId: newRequestId(),
      requestTime: requestTime(now),
      messageDirection: 'IN',
      stage,
      connectedAt: request.connectedAt,
      requestTimeEpoch: now.getTime(),
      identity: { sourceIp: request.sourceIp, userAgent: request.userAgent },
      requestId: newRequestId(),
      domainName: request.host,
      connectionId,
      apiId: 'local',
    };
  };

  const invokeRoute = async (routeKey: string, event: unknown): Promise<unknown> => {
    const route = routeFor(routeKey) ?? routeFor('$default');
    if (route === undefined) {
      throw new Error(`websocketServer.noRoute: no route ${routeKey} and no $default`);
    }

    return options.invoke(route.id, route.handler, event);
  };

  const disconnect = (connection: OpenConnection, code: number, reason: string): void => {
    connections.delete(connection.connectionId);
    const route = routeFor('$disconnect');
    if (stopping || route === undefined) {
      return;
    }
    const context = requestContext(connection.connectionId, '$disconnect', 'DISCONNECT', {
      host: 'localhost',
      sourceIp: connection.sourceIp,
      userAgent: connection.userAgent,
      connectedAt: connection.connectedAt.getTime(),
    });
    const event = {
      headers: {},
      requestContext: {
        ...context,
        disconnectStatusCode: code,
        disconnectReason: reason,
        authorizer: connection.authorizer,
      },
      isBase64Encoded: false,
    };
    void track(options.invoke(route.id, route.handler, event)).catch((error: unknown) => {
      options.logger.error('$disconnect failed', { connection_id: connection.connectionId, error });
    });
  };

  const handleMessage = async (
    connection: OpenConnection,
    socket: WebSocket,
    data: RawData,
    isBinary: boolean,
  ): Promise<void> => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const body = isBinary ? bytes.toString('base64') : bytes.toString('utf8');
    const route = isBinary ? routeFor('$default') : selectWebSocketRoute(body);
    const context = requestContext(
      connection.connectionId,
      route?.routeKey ?? '$default',
      'MESSAGE',
      {
        host: 'localhost',
        sourceIp: connection.sourceIp,
        userAgent: connection.userAgent,
        connectedAt: connection.connectedAt.getTime(),
      },
    );
    const event = {
      requestContext: { ...context, messageId: newRequestId(), authorizer: connection.authorizer },
      body,
      isBase64Encoded: isBinary,
    };
    try {
      await invokeRoute(context.routeKey, event);
    } catch (error) {
      options.logger.error('websocket message handler failed', {
        connection_id: connection.connectionId,
        route: context.routeKey,
        error,
      });
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(
          JSON.stringify({
            message: 'Internal server error',
            connectionId: connection.connectionId,
            requestId: context.requestId,
          }),
        );
      }
    }
  };

  const open = (
    socket: WebSocket,
    rawSocket: Duplex,
    connectionId: string,
    details: { sourceIp: string; userAgent: string; connectedAt: number },
    authorizer: Record<string, unknown>,
  ): void => {
    const closeWith = (code: number, reason: string): void => {
      if (socket.readyState === WebSocket.OPEN) {
        socket.close(code, reason);
      }
    };
    let idle: NodeJS.Timeout | undefined;
    const touch = (): void => {
      connection.lastActiveAt = new Date();
      clearTimeout(idle);
      idle = setTimeout(() => closeWith(CLOSE_CODES.goingAway, 'Going away'), idleTimeoutMs);
      idle.unref();
    };
    const lifetime = setTimeout(
      () => closeWith(CLOSE_CODES.goingAway, 'Going away'),
      maxConnectionMs,
    );
    lifetime.unref();
    const connection: OpenConnection = {
      connectionId,
      authorizer,
      connectedAt: new Date(details.connectedAt),
      sourceIp: details.sourceIp,
      userAgent: details.userAgent,
      lastActiveAt: new Date(),
      queue: Promise.resolve(),
      refused: false,
      send: async (message) =>
        new Promise<void>((resolve, reject) => {
          if (socket.readyState !== WebSocket.OPEN) {
            reject(new Error('websocketServer.closed: the connection is closed'));
            return;
          }
          touch();
          socket.send(message, { binary: false }, (error) => (error ? reject(error) : resolve()));
        }),
      close: () => closeWith(CLOSE_CODES.normal, 'Closed by the management endpoint'),
    };
    connections.set(connectionId, connection);
    touch();

    // Ahead of `ws`'s own listener, so an oversized frame is caught before it becomes a message.
    rawSocket.prependListener(
      'data',
      frameSizeGuard(() => {
        connection.refused = true;
        closeWith(CLOSE_CODES.messageTooBig, MESSAGE_TOO_BIG);
      }),
    );
    socket.on('message', (data, isBinary) => {
      if (connection.refused) {
        return;
      }
      touch();
      connection.queue = connection.queue.then(() =>
        track(handleMessage(connection, socket, data, isBinary)),
      );
    });
    // `ws` closes with 1009 itself when a message exceeds `maxPayload`, and reports it here.
    socket.on('error', () => undefined);
    socket.on('close', (code, reason) => {
      clearTimeout(idle);
      clearTimeout(lifetime);
      disconnect(connection, code, reason.toString('utf8'));
    });
  };

  const upgrade = async (request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const connectionId = newConnectionId();
    const headers = rawHeaders(request);
    const queryStringParameters = queryOf(request);
    const details = {
      host: request.headers.host ?? 'localhost',
      sourceIp: request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      userAgent: request.headers['user-agent'] ?? '',
      connectedAt: Date.now(),
    };
    const context = requestContext(connectionId, '$connect', 'CONNECT', details);
    const common = {
      headers,
      multiValueHeaders: Object.fromEntries(
        Object.entries(headers).map(([name, value]) => [name, value.split(',')]),
      ),
      ...(queryStringParameters === undefined ? {} : { queryStringParameters }),
    };

    let authorization: APIGatewayAuthorizerResult;
    try {
      authorization = (await options.invoke(options.authorizer.id, options.authorizer.handler, {
        type: 'REQUEST',
        methodArn: `arn:aws:execute-api:us-east-1:000000000000:local/${stage}/$connect`,
        ...common,
        stageVariables: {},
        requestContext: context,
      })) as APIGatewayAuthorizerResult;
    } catch (error) {
      const unauthorized = error instanceof Error && error.message === 'Unauthorized';
      if (!unauthorized) {
        options.logger.error('websocket authorizer failed', { error });
      }
      refuseUpgrade(socket, unauthorized ? 401 : 500);
      return;
    }
    if (!isAllowed(authorization)) {
      refuseUpgrade(socket, 403);
      return;
    }
    const authorizer = { ...(authorization.context ?? {}), principalId: authorization.principalId };

    let connected: unknown;
    try {
      connected = await invokeRoute('$connect', {
        ...common,
        requestContext: { ...context, authorizer },
        isBase64Encoded: false,
      });
    } catch (error) {
      options.logger.error('$connect failed', { connection_id: connectionId, error });
      refuseUpgrade(socket, 500);
      return;
    }
    if (!isSuccess(connected)) {
      refuseUpgrade(socket, (connected as { statusCode: number }).statusCode);
      return;
    }
    const protocol = (connected as { headers?: Record<string, string> } | null)?.headers?.[
      'Sec-WebSocket-Protocol'
    ];
    if (protocol !== undefined) {
      protocols.set(request, protocol);
    }
    if (stopping || socket.destroyed) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) =>
      open(ws, socket, connectionId, details, authorizer),
    );
  };

  options.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== WEBSOCKET_PATH || stopping) {
      refuseUpgrade(socket, 404);
      return;
    }
    void track(upgrade(request, socket, head)).catch((error: unknown) => {
      options.logger.error('websocket upgrade failed', { error });
      socket.destroy();
    });
  });

  return {
    find: (connectionId) => connections.get(connectionId),
    get openConnections() {
      return connections.size;
    },
    whenIdle: async () => {
      while (running.size > 0) {
        await Promise.allSettled([...running]);
      }
    },
    close: async () => {
      stopping = true;
      for (const client of wss.clients) {
        client.terminate();
      }
      connections.clear();
      await Promise.allSettled([...running]);
      await new Promise<void>((done) => wss.close(() => done()));
    },
  };
};
