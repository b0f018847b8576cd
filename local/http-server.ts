/**
 * The local stand-in for API Gateway's HTTP API: reads each request, picks the route as API
 * Gateway would (or `$default`), invokes the very handler Lambda would, and writes its result.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { createRouteMatcher } from '@shared/catalog/route-matcher';
import type { RouteDeclaration } from '@shared/catalog/routes';
import type { StreamingRouteDeclaration } from '@shared/catalog/streaming-routes';
import { internalEnvelope, toEnvelope } from '@shared/errors/envelope';
import {
  GatewayError,
  PayloadTooLargeError,
  ServiceUnavailableError,
} from '@shared/errors/gateway-error';
import { checkPeerCertificate } from './client-certificate';
import { newRequestId, toHttpApiEvent, writeHttpApiResult } from './http-api-event';
import { toRestProxyEvent } from './streaming';

/** API Gateway's own limit on a request payload. */
export const API_GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

export type RouteInvoker = (route: RouteDeclaration, event: unknown) => Promise<unknown>;

export interface LocalLogger {
  error(message: string, fields: Record<string, unknown>): void;
}

/**
 * Routes whose function streams its response. In AWS each is a REST API method in STREAM mode
 * on the same custom domain; here they are served on the same port, ahead of the HTTP API's.
 */
export interface StreamingRoutes {
  readonly routes: readonly StreamingRouteDeclaration[];
  /** Calls the route's function with its REST API event; resolves when the response is over. */
  readonly invoke: (
    route: StreamingRouteDeclaration,
    event: APIGatewayProxyEvent,
    response: ServerResponse,
  ) => Promise<void>;
}

export interface HttpServerOptions {
  readonly routes: readonly RouteDeclaration[];
  readonly invoke: RouteInvoker;
  readonly logger: LocalLogger;
  readonly streaming?: StreamingRoutes;
}

const readBody = async (request: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > API_GATEWAY_MAX_PAYLOAD_BYTES) {
      throw new PayloadTooLargeError(size, API_GATEWAY_MAX_PAYLOAD_BYTES);
    }
    chunks.push(chunk as Buffer);
  }

  return Buffer.concat(chunks);
};

/** What the runtime answers itself, where API Gateway would answer before any function runs. */
const writeError = (response: ServerResponse, error: GatewayError, requestId: string): void => {
  writeHttpApiResult(
    response,
    {
      statusCode: error.status,
      headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...error.headers },
      body: JSON.stringify(toEnvelope(error)),
    },
    requestId,
  );
};

const internalError = (response: ServerResponse, requestId: string): void => {
  writeHttpApiResult(
    response,
    {
      statusCode: 500,
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify(internalEnvelope()),
    },
    requestId,
  );
};

/**
 * Serves a request to a streaming route. A function that fails before writing anything gets
 * API Gateway's bare 500; one that fails mid-stream has its response cut.
 */
const serveStreaming = async (
  streaming: StreamingRoutes,
  route: StreamingRouteDeclaration,
  input: { request: IncomingMessage; response: ServerResponse; requestId: string },
  logger: LocalLogger,
  clientCert: Parameters<typeof toRestProxyEvent>[0]['clientCert'],
): Promise<void> => {
  const { request, response, requestId } = input;
  try {
    const body = await readBody(request);
    const event = toRestProxyEvent({
      request,
      body,
      route,
      requestId,
      now: new Date(),
      ...(clientCert === undefined ? {} : { clientCert }),
    });
    await streaming.invoke(route, event, response);
  } catch (error) {
    if (error instanceof PayloadTooLargeError) {
      writeError(response, error, requestId);
      return;
    }
    logger.error('streaming handler failed', { request_id: requestId, route: route.id, error });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    internalError(response, requestId);
  }
};

/** The request listener; usable on an HTTP or an HTTPS server. */
export const createRequestListener = (options: HttpServerOptions) => {
  const matcher = createRouteMatcher(options.routes);

  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const requestId = newRequestId();
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const match = matcher.match(request.method ?? 'GET', path);
    const peer = checkPeerCertificate(request.socket);
    if (peer.kind === 'refused') {
      // API Gateway refuses a request whose certificate the truststore does not vouch for.
      request.resume();
      const refusal = new GatewayError(
        'FORBIDDEN',
        'A client certificate from a trusted CA is required.',
        { details: { reason: peer.reason } },
      );
      writeError(response, refusal, requestId);
      return;
    }
    const streamingRoute = options.streaming?.routes.find(
      (candidate) => candidate.method === request.method && candidate.path === path,
    );
    if (options.streaming !== undefined && streamingRoute !== undefined) {
      await serveStreaming(
        options.streaming,
        streamingRoute,
        { request, response, requestId },
        options.logger,
        peer.kind === 'verified' ? peer.certificate : undefined,
      );
      return;
    }
    try {
      if (match === undefined) {
        throw new Error('httpServer.noDefaultRoute: the catalog declares no $default route');
      }
      const body = await readBody(request);
      const event = toHttpApiEvent({
        ...match,
        request,
        body,
        requestId,
        now: new Date(),
        ...(peer.kind === 'verified' ? { clientCert: peer.certificate } : {}),
      });
      writeHttpApiResult(response, await options.invoke(match.route, event), requestId);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        writeError(response, error, requestId);
        return;
      }
      // What Lambda and API Gateway do when a function fails: a bare 500, logged here.
      options.logger.error('handler failed', { request_id: requestId, path, error });
      internalError(response, requestId);
    }
  };
};

export type RequestListener = ReturnType<typeof createRequestListener>;

/**
 * A server that can listen before its routes are loaded, so that a port already in use is
 * reported at once; until `serve` is called it answers 503 with `Retry-After`.
 */
export const createHttpServer = (): {
  server: Server;
  serve: (listener: RequestListener) => void;
} => {
  let ready: RequestListener | undefined;
  const server = createServer((request, response) => {
    if (ready !== undefined) {
      void ready(request, response);
      return;
    }
    request.resume();
    writeError(
      response,
      new ServiceUnavailableError('The gateway is starting.', 1),
      newRequestId(),
    );
  });

  return {
    server,
    serve: (listener) => {
      ready = listener;
    },
  };
};
