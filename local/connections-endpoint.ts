/**
 * The local stand-in for API Gateway's `@connections` management endpoint:
 *
 *   POST   /{stage}/@connections/{id}   send the body to the connection as one text message
 *   GET    /{stage}/@connections/{id}   when it connected, from where, when last active
 *   DELETE /{stage}/@connections/{id}   close it
 *
 * Answers are shaped as API Gateway's, so that the real `ApiGatewayManagementApiClient` reads
 * them as it does in AWS: an unknown or closed connection is 410 with `GoneException`, a body
 * over 128 KB is 413 with `PayloadTooLargeException`. API Gateway also demands a SigV4
 * signature with `execute-api:ManageConnections`; locally any caller on the machine may post,
 * as DynamoDB Local accepts any credentials.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** API Gateway's limit on one WebSocket message, the posts to `@connections` included. */
export const MAX_MESSAGE_BYTES = 128 * 1024;

/** What the endpoint needs to know of an open connection. */
export interface ManagedConnection {
  readonly connectedAt: Date;
  readonly sourceIp: string;
  readonly userAgent: string;
  lastActiveAt: Date;
  send(message: string): Promise<void>;
  close(): void;
}

export interface ConnectionRegistry {
  find(connectionId: string): ManagedConnection | undefined;
}

const PATH = /^\/([^/]+)\/@connections\/([^/]+)$/;

const answerError = (
  response: ServerResponse,
  status: number,
  errorType: string,
  message: string | null,
): void => {
  const body = JSON.stringify({ message });
  response.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-errortype': errorType,
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
};

const readBody = async (request: IncomingMessage): Promise<Buffer | undefined> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_MESSAGE_BYTES) {
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }

  return Buffer.concat(chunks);
};

const describe = (connection: ManagedConnection): string =>
  JSON.stringify({
    connectedAt: connection.connectedAt.toISOString(),
    identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
    lastActiveAt: connection.lastActiveAt.toISOString(),
  });

const serve = async (
  request: IncomingMessage,
  response: ServerResponse,
  connection: ManagedConnection | undefined,
): Promise<void> => {
  if (connection === undefined) {
    request.resume();
    answerError(response, 410, 'GoneException', null);
    return;
  }
  switch (request.method) {
    case 'POST': {
      const body = await readBody(request);
      if (body === undefined) {
        request.resume();
        answerError(response, 413, 'PayloadTooLargeException', 'Message too long');
        return;
      }
      await connection.send(body.toString('utf8'));
      response.writeHead(200, { 'content-length': 0 }).end();
      return;
    }
    case 'GET': {
      request.resume();
      const body = describe(connection);
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      response.end(body);
      return;
    }
    case 'DELETE':
      request.resume();
      connection.close();
      response.writeHead(204).end();
      return;
    default:
      request.resume();
      answerError(response, 403, 'ForbiddenException', 'Missing Authentication Token');
  }
};

/**
 * Serves the management endpoint of `stage` in front of another listener: requests to
 * `/{stage}/@connections/…` are answered here, every other request goes to `next`.
 */
export const withConnectionsEndpoint =
  <T>(
    stage: string,
    registry: ConnectionRegistry,
    next: (request: IncomingMessage, response: ServerResponse) => Promise<T>,
  ) =>
  async (request: IncomingMessage, response: ServerResponse): Promise<T | void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const match = PATH.exec(path);
    if (match === null || match[1] !== stage) {
      return next(request, response);
    }
    const connectionId = decodeURIComponent(match[2] ?? '');

    try {
      await serve(request, response, registry.find(connectionId));
    } catch {
      // The socket closed while the post was being sent: the connection is gone.
      if (!response.headersSent) {
        answerError(response, 410, 'GoneException', null);
      }
    }
  };
