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
  readonly client: ClientDetails;
  /** The messages in hand, one after another. */
  queue: Promise<void>;
  /** Set once a frame broke the quota: nothing more is routed. */
  refused: boolean;
}

/** What API Gateway tells every handler about the client of a connection. */
interface ClientDetails {
  readonly host: string;
  readonly sourceIp: string;
  readonly userAgent: string;
  /** Epoch milliseconds. */
  readonly connectedAt: number;
}

type EventType = 'CONNECT' | 'MESSAGE' | 'DISCONNECT';

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

/** The `requestContext` of a WebSocket event, as API Gateway builds it. */
const requestContext = (
  stage: string,
  connectionId: string,
  routeKey: string,
  eventType: EventType,
  client: ClientDetails,
) => {
  const now = new Date();

  return {
    routeKey,
    eventType,
    extendedRequestId: newRequestId(),
    requestTime: requestTime(now),
    messageDirection: 'IN',
    stage,
    connectedAt: client.connectedAt,
    requestTimeEpoch: now.getTime(),
    identity: { sourceIp: client.sourceIp, userAgent: client.userAgent },
    requestId: newRequestId(),
    domainName: client.host,
    connectionId,
    apiId: 'local',
  };
};

const clientOf = (request: IncomingMessage): ClientDetails => ({
  host: request.headers.host ?? 'localhost',
  sourceIp: request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
  userAgent: request.headers['user-agent'] ?? '',
  connectedAt: Date.now(),
});

/** Headers and query string as `$connect` and its authorizer receive them. */
const connectRequestFields = (request: IncomingMessage) => {
  const headers = rawHeaders(request);
  const queryStringParameters = queryOf(request);

  return {
    headers,
    multiValueHeaders: Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [name, value.split(',')]),
    ),
    ...(queryStringParameters === undefined ? {} : { queryStringParameters }),
  };
};

/** API Gateway's idle timeout and connection lifetime, both closing with 1001. */
const watchQuotas = (
  closeWith: (code: number, reason: string) => void,
  idleTimeoutMs: number,
  maxConnectionMs: number,
): { touch: () => void; clear: () => void } => {
  const goAway = (): void => closeWith(CLOSE_CODES.goingAway, 'Going away');
  const lifetime = setTimeout(goAway, maxConnectionMs);
  lifetime.unref();
  let idle: NodeJS.Timeout | undefined;
  const touch = (): void => {
    clearTimeout(idle);
    idle = setTimeout(goAway, idleTimeoutMs);
    idle.unref();
  };
  touch();

  return {
    touch,
    clear: () => {
      clearTimeout(idle);
      clearTimeout(lifetime);
    },
  };
};

/** The WebSocket API of one HTTP server; see the file comment. */
class LocalWebSocketApiServer implements LocalWebSocketApi {
  private readonly stage: string;
  private readonly routes: readonly WebSocketRouteDeclaration[];
  private readonly connections = new Map<string, OpenConnection>();
  private readonly running = new Set<Promise<unknown>>();
  private readonly protocols = new WeakMap<IncomingMessage, string>();
  private readonly wss: WebSocketServer;
  private stopping = false;

  constructor(private readonly options: LocalWebSocketApiOptions) {
    this.stage = options.stage ?? WEBSOCKET_STAGE_NAME;
    this.routes = options.routes ?? WEBSOCKET_ROUTES;
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_MESSAGE_BYTES,
      handleProtocols: (_offered, request) => this.protocols.get(request) ?? false,
    });
    options.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(request, socket, head);
    });
  }

  get openConnections(): number {
    return this.connections.size;
  }

  find(connectionId: string): ManagedConnection | undefined {
    return this.connections.get(connectionId);
  }

  async whenIdle(): Promise<void> {
    while (this.running.size > 0) {
      await Promise.allSettled([...this.running]);
    }
  }

  async close(): Promise<void> {
    this.stopping = true;
    for (const client of this.wss.clients) {
      client.terminate();
    }
    this.connections.clear();

    await Promise.allSettled([...this.running]);
    await new Promise<void>((done) => this.wss.close(() => done()));
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    void work.finally(() => this.running.delete(work)).catch(() => undefined);

    return work;
  }

  private routeFor(routeKey: string): WebSocketRouteDeclaration | undefined {
    return this.routes.find((route) => route.routeKey === routeKey);
  }

  private async invokeRoute(routeKey: string, event: unknown): Promise<unknown> {
    const route = this.routeFor(routeKey) ?? this.routeFor('$default');
    if (route === undefined) {
      throw new Error(`websocketServer.noRoute: no route ${routeKey} and no $default`);
    }

    return this.options.invoke(route.id, route.handler, event);
  }

  private onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== WEBSOCKET_PATH || this.stopping) {
      refuseUpgrade(socket, 404);
      return;
    }

    void this.track(this.upgrade(request, socket, head)).catch((error: unknown) => {
      this.options.logger.error('websocket upgrade failed', { error });
      socket.destroy();
    });
  }

  /** The authorizer, then `$connect`, then the handshake: a refusal at any step ends it. */
  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const connectionId = newConnectionId();
    const client = clientOf(request);
    const fields = connectRequestFields(request);
    const context = requestContext(this.stage, connectionId, '$connect', 'CONNECT', client);

    const authorizer = await this.authorize(fields, context);
    if (typeof authorizer === 'number') {
      refuseUpgrade(socket, authorizer);
      return;
    }
    const connected = await this.runConnect(fields, { ...context, authorizer });
    if (typeof connected === 'number') {
      refuseUpgrade(socket, connected);
      return;
    }
    if (connected.protocol !== undefined) {
      this.protocols.set(request, connected.protocol);
    }
    if (this.stopping || socket.destroyed) {
      socket.destroy();
      return;
    }

    this.wss.handleUpgrade(request, socket, head, (ws) => {
      this.open(ws, socket, { connectionId, authorizer, client });
    });
  }

  /** The authorizer's context, or the status that refuses the upgrade. */
  private async authorize(
    fields: ReturnType<typeof connectRequestFields>,
    context: ReturnType<typeof requestContext>,
  ): Promise<Record<string, unknown> | number> {
    const { authorizer } = this.options;
    let result: APIGatewayAuthorizerResult;
    try {
      result = (await this.options.invoke(authorizer.id, authorizer.handler, {
        type: 'REQUEST',
        methodArn: `arn:aws:execute-api:us-east-1:000000000000:local/${this.stage}/$connect`,
        ...fields,
        stageVariables: {},
        requestContext: context,
      })) as APIGatewayAuthorizerResult;
    } catch (error) {
      // API Gateway answers an authorizer's `Unauthorized` with 401, any other failure with 500.
      if (error instanceof Error && error.message === 'Unauthorized') {
        return 401;
      }
      this.options.logger.error('websocket authorizer failed', { error });

      return 500;
    }

    return isAllowed(result) ? { ...(result.context ?? {}), principalId: result.principalId } : 403;
  }

  /** Runs `$connect`: the subprotocol it accepts, or the status that refuses the upgrade. */
  private async runConnect(
    fields: ReturnType<typeof connectRequestFields>,
    context: Record<string, unknown> & { connectionId: string },
  ): Promise<{ protocol?: string } | number> {
    let result: unknown;
    try {
      result = await this.invokeRoute('$connect', {
        ...fields,
        requestContext: context,
        isBase64Encoded: false,
      });
    } catch (error) {
      this.options.logger.error('$connect failed', { connection_id: context.connectionId, error });

      return 500;
    }
    if (!isSuccess(result)) {
      return (result as { statusCode: number }).statusCode;
    }
    const headers = (result as { headers?: Record<string, string> } | null)?.headers;

    return { protocol: headers?.['Sec-WebSocket-Protocol'] };
  }

  private open(
    socket: WebSocket,
    rawSocket: Duplex,
    opened: Pick<OpenConnection, 'connectionId' | 'authorizer' | 'client'>,
  ): void {
    const closeWith = (code: number, reason: string): void => {
      if (socket.readyState === WebSocket.OPEN) {
        socket.close(code, reason);
      }
    };
    const timers = watchQuotas(
      closeWith,
      this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS,
      this.options.maxConnectionMs ?? MAX_CONNECTION_MS,
    );
    const connection = this.register(socket, opened, closeWith, timers.touch);

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
      connection.lastActiveAt = new Date();
      timers.touch();
      connection.queue = connection.queue.then(async () =>
        this.track(this.handleMessage(connection, socket, data, isBinary)),
      );
    });
    // `ws` closes with 1009 itself when a message exceeds `maxPayload`, and reports it here.
    socket.on('error', () => undefined);
    socket.on('close', (code, reason) => {
      timers.clear();
      this.disconnect(connection, code, reason.toString('utf8'));
    });
  }

  private register(
    socket: WebSocket,
    opened: Pick<OpenConnection, 'connectionId' | 'authorizer' | 'client'>,
    closeWith: (code: number, reason: string) => void,
    onActivity: () => void,
  ): OpenConnection {
    const connection: OpenConnection = {
      ...opened,
      connectedAt: new Date(opened.client.connectedAt),
      sourceIp: opened.client.sourceIp,
      userAgent: opened.client.userAgent,
      lastActiveAt: new Date(),
      queue: Promise.resolve(),
      refused: false,
      send: async (message) =>
        new Promise<void>((resolve, reject) => {
          if (socket.readyState !== WebSocket.OPEN) {
            reject(new Error('websocketServer.closed: the connection is closed'));
            return;
          }
          connection.lastActiveAt = new Date();
          onActivity();
          socket.send(message, { binary: false }, (error) => (error ? reject(error) : resolve()));
        }),
      close: () => closeWith(CLOSE_CODES.normal, 'Closed by the management endpoint'),
    };
    this.connections.set(opened.connectionId, connection);

    return connection;
  }

  private async handleMessage(
    connection: OpenConnection,
    socket: WebSocket,
    data: RawData,
    isBinary: boolean,
  ): Promise<void> {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    const body = isBinary ? bytes.toString('base64') : bytes.toString('utf8');
    const routeKey = isBinary ? '$default' : selectWebSocketRoute(body).routeKey;
    const context = requestContext(
      this.stage,
      connection.connectionId,
      routeKey,
      'MESSAGE',
      connection.client,
    );
    const event = {
      requestContext: { ...context, messageId: newRequestId(), authorizer: connection.authorizer },
      body,
      isBase64Encoded: isBinary,
    };

    try {
      await this.invokeRoute(routeKey, event);
    } catch (error) {
      this.options.logger.error('websocket message handler failed', {
        connection_id: connection.connectionId,
        route: routeKey,
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
  }

  private disconnect(connection: OpenConnection, code: number, reason: string): void {
    this.connections.delete(connection.connectionId);
    const route = this.routeFor('$disconnect');
    if (this.stopping || route === undefined) {
      return;
    }
    const context = requestContext(
      this.stage,
      connection.connectionId,
      '$disconnect',
      'DISCONNECT',
      connection.client,
    );
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

    void this.track(this.options.invoke(route.id, route.handler, event)).catch((error: unknown) => {
      this.options.logger.error('$disconnect failed', {
        connection_id: connection.connectionId,
        error,
      });
    });
  }
}

/** Starts answering WebSocket upgrades at `/v1/events` on `options.server`. */
export const startLocalWebSocketApi = (options: LocalWebSocketApiOptions): LocalWebSocketApi =>
  new LocalWebSocketApiServer(options);
