/**
 * The local stand-in for Lambda response streaming behind a REST API method in STREAM mode.
 *
 * - `installLambdaStreamingGlobals` gives the process the `awslambda` global that Lambda's
 *   Node.js runtime provides: `streamifyResponse` marks a handler as streaming, and
 *   `HttpResponseStream.from` writes the HTTP prelude (status, headers, cookies as JSON, then
 *   eight NUL bytes) in front of the body, as the runtime does. It must run before a streaming
 *   handler module loads, since middy calls `streamifyResponse` at import.
 * - `toRestProxyEvent` turns a Node request into the REST API's proxy event (payload 1.0).
 * - `invokeStreamingHandler` calls a handler with a response stream that reads the prelude and
 *   then passes every chunk to the client as it is written, without buffering, and ends or
 *   cuts the response as API Gateway does: at the end of the stream, when the function fails or
 *   runs out of time, and it stops the function's stream when the client goes away.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { APIGatewayEventClientCertificate, APIGatewayProxyEvent, Context } from 'aws-lambda';
import type { StreamingRouteDeclaration } from '@shared/catalog/streaming-routes';
import { loadHandler } from './handlers';
import { requestTime } from './http-api-event';
import type { StreamingRoutes } from './http-server';
import { createLambdaContext } from './lambda-context';

/** What Lambda's runtime calls the content type of a stream that starts with a prelude. */
export const HTTP_INTEGRATION_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

/** The runtime's own mark on a handler wrapped by `streamifyResponse`. */
export const STREAMING_HANDLER_MARK = Symbol.for('aws.lambda.runtime.handler.streaming');

/** Lambda's longest invocation, the longest a streamed response can last. */
export const LOCAL_STREAMING_TIMEOUT_MS = 900_000;

const PRELUDE_DELIMITER = Buffer.alloc(8);
const DEFAULT_STREAM_CONTENT_TYPE = 'application/octet-stream';

/** A response stream as Lambda hands it to a streaming handler. */
export interface LambdaResponseStream extends Writable {
  setContentType(contentType: string): void;
}

export type StreamingHandler = (
  event: unknown,
  responseStream: LambdaResponseStream,
  context: Context,
) => Promise<unknown>;

interface HttpPrelude {
  readonly statusCode?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly cookies?: readonly string[];
}

interface LambdaStreamingGlobals {
  streamifyResponse(handler: StreamingHandler): StreamingHandler;
  HttpResponseStream: {
    from(stream: LambdaResponseStream, prelude: HttpPrelude): LambdaResponseStream;
  };
}

/** Provides what `awslambda` lacks of the streaming API, which a real runtime already has. */
export const installLambdaStreamingGlobals = (): void => {
  // Other libraries (the SDK's invoke store) may have made the object already, for their own
  // members: add to it rather than replace it.
  const scope = globalThis as { awslambda?: Partial<LambdaStreamingGlobals> };
  const lambda = (scope.awslambda ??= {});
  lambda.streamifyResponse ??= (handler) =>
    Object.assign(handler, { [STREAMING_HANDLER_MARK]: 'response' });
  lambda.HttpResponseStream ??= {
    from: (stream, prelude) => {
      stream.setContentType(HTTP_INTEGRATION_CONTENT_TYPE);
      stream.write(JSON.stringify(prelude));
      stream.write(PRELUDE_DELIMITER);

      return stream;
    },
  };
};

/** Whether a loaded handler was wrapped by `streamifyResponse`. */
export const isStreamingHandler = (handler: unknown): handler is StreamingHandler =>
  typeof handler === 'function' &&
  (handler as unknown as Record<symbol, unknown>)[STREAMING_HANDLER_MARK] === 'response';

/**
 * A response stream over a Node response: the head is written once the prelude is complete (or
 * at the first byte of a stream without one), every later chunk goes out as it comes.
 */
class LocalResponseStream extends Writable implements LambdaResponseStream {
  private contentType = DEFAULT_STREAM_CONTENT_TYPE;
  private pending: Buffer = Buffer.alloc(0);
  private headWritten = false;

  constructor(
    private readonly response: ServerResponse,
    private readonly requestId: string,
  ) {
    super();
  }

  setContentType(contentType: string): void {
    this.contentType = contentType;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error) => void): void {
    if (this.headWritten) {
      this.response.write(chunk, () => done());
      return;
    }
    if (this.contentType !== HTTP_INTEGRATION_CONTENT_TYPE) {
      this.writeHead({ headers: { 'content-type': this.contentType } });
      this.response.write(chunk, () => done());
      return;
    }
    this.pending = Buffer.concat([this.pending, chunk]);
    const end = this.pending.indexOf(PRELUDE_DELIMITER);
    if (end < 0) {
      done();
      return;
    }
    try {
      this.writeHead(JSON.parse(this.pending.subarray(0, end).toString('utf8')) as HttpPrelude);
    } catch (error) {
      done(error as Error);
      return;
    }
    const rest = this.pending.subarray(end + PRELUDE_DELIMITER.length);
    this.pending = Buffer.alloc(0);
    this.response.write(rest, () => done());
  }

  override _final(done: (error?: Error) => void): void {
    if (!this.headWritten) {
      this.writeHead({ headers: { 'content-type': this.contentType } });
    }
    this.response.end(() => done());
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    // A stream that stops before its end cuts the response, as API Gateway does.
    if (!this.response.writableEnded) {
      this.response.destroy();
    }
    done(error);
  }

  private writeHead(prelude: HttpPrelude): void {
    this.headWritten = true;
    this.response.statusCode = prelude.statusCode ?? 200;
    for (const [name, value] of Object.entries(prelude.headers ?? {})) {
      this.response.setHeader(name, value);
    }
    if (prelude.cookies !== undefined && prelude.cookies.length > 0) {
      this.response.setHeader('set-cookie', [...prelude.cookies]);
    }
    this.response.setHeader('x-amzn-requestid', this.requestId);
    // Each frame must leave at once: no Nagle delay on the socket, and the head goes now.
    this.response.socket?.setNoDelay(true);
    this.response.flushHeaders();
  }
}

export interface RestEventInput {
  readonly request: IncomingMessage;
  readonly body: Buffer;
  readonly route: StreamingRouteDeclaration;
  readonly requestId: string;
  readonly now: Date;
  readonly clientCert?: APIGatewayEventClientCertificate;
}

const multiValues = (entries: Iterable<[string, string]>): Record<string, string[]> => {
  const values: Record<string, string[]> = {};
  for (const [name, value] of entries) {
    (values[name] ??= []).push(value);
  }

  return values;
};

const lastValues = (multi: Record<string, string[]>): Record<string, string> =>
  Object.fromEntries(Object.entries(multi).map(([name, list]) => [name, list.at(-1) ?? '']));

/** The REST API's Lambda proxy event (payload 1.0) for a request to a streaming route. */
export const toRestProxyEvent = (input: RestEventInput): APIGatewayProxyEvent => {
  const { request, route, now } = input;
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headerPairs: Array<[string, string]> = [];
  for (const [name, values] of Object.entries(request.headersDistinct)) {
    for (const value of values ?? []) {
      headerPairs.push([name, value]);
    }
  }
  const multiHeaders = multiValues(headerPairs);
  const multiQuery = multiValues(url.searchParams.entries());
  const hasQuery = Object.keys(multiQuery).length > 0;
  const host = request.headers.host ?? 'localhost';

  return {
    resource: route.path,
    path: url.pathname,
    httpMethod: request.method ?? 'GET',
    headers: lastValues(multiHeaders),
    multiValueHeaders: multiHeaders,
    queryStringParameters: hasQuery ? lastValues(multiQuery) : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      accountId: 'offline',
      apiId: 'local',
      authorizer: null,
      domainName: host,
      httpMethod: request.method ?? 'GET',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: input.clientCert ?? null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
        user: null,
        userAgent: request.headers['user-agent'] ?? null,
        userArn: null,
      },
      path: url.pathname,
      protocol: `HTTP/${request.httpVersion}`,
      requestId: input.requestId,
      requestTime: requestTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: route.path,
      stage: 'live',
    },
    body: input.body.length === 0 ? null : input.body.toString('base64'),
    isBase64Encoded: input.body.length > 0,
  };
};

/**
 * Invokes a streaming handler for one request and resolves when the response is over: ended by
 * the handler, cut because it ran out of time, or closed by the client, which is no failure. A
 * failure of the handler is rethrown, for the caller to answer with a 500 if nothing was sent
 * yet, and to log.
 */
export const invokeStreamingHandler = async (
  handler: StreamingHandler,
  functionName: string,
  event: APIGatewayProxyEvent,
  response: ServerResponse,
  timeoutMs: number = LOCAL_STREAMING_TIMEOUT_MS,
): Promise<void> => {
  const context = createLambdaContext(functionName, timeoutMs);
  const stream = new LocalResponseStream(response, event.requestContext.requestId ?? randomUUID());
  let clientClosed = false;
  const onClose = (): void => {
    if (!stream.destroyed && !stream.writableFinished) {
      clientClosed = true;
      stream.destroy(new Error('streaming.clientClosed: the client closed the connection'));
    }
  };
  response.once('close', onClose);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), context.getRemainingTimeInMillis());
  });

  try {
    const outcome = await Promise.race([handler(event, stream, context), timedOut]);
    if (outcome === 'timeout') {
      stream.destroy(new Error(`streaming.timeout: ${functionName} ran out of time`));
    }
  } catch (error) {
    if (!clientClosed) {
      throw error;
    }
  } finally {
    clearTimeout(timer);
    response.off('close', onClose);
  }
};

/**
 * Loads the functions of the streaming routes, as Lambda would, behind the dispatch the local
 * HTTP server calls. The `awslambda` global is put in place first, since the modules use it
 * as they load.
 */
export const loadStreamingRoutes = async (
  routes: readonly StreamingRouteDeclaration[],
  timeoutMs: number = LOCAL_STREAMING_TIMEOUT_MS,
): Promise<StreamingRoutes> => {
  installLambdaStreamingGlobals();
  const handlers = new Map<string, StreamingHandler>();
  for (const route of routes) {
    const handler = await loadHandler(route.handler);
    if (!isStreamingHandler(handler)) {
      throw new Error(
        `streaming.notStreaming: ${route.handler} is not wrapped by streamifyResponse`,
      );
    }
    handlers.set(route.id, handler);
  }

  return {
    routes,
    invoke: async (route, event, response) => {
      const handler = handlers.get(route.id);
      if (handler === undefined) {
        throw new Error(`streaming.noHandler: ${route.id}`);
      }

      await invokeStreamingHandler(handler, `blux-local-${route.id}`, event, response, timeoutMs);
    },
  };
};
