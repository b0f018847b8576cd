/**
 * Builds the handler of a streaming route: the same middy pipeline as `http-route.ts`, in the
 * same order, with Lambda response streaming (`streamifyResponse`) instead of a buffered
 * result. The steps run as on any route, and an error before the stream starts (no token, a
 * missing scope, bad input) leaves as the usual envelope with its status. A successful handler
 * answers a status, headers and a `Readable` body, which Lambda streams as it is written.
 *
 * Two steps come first that buffered routes do not need: the REST API's payload 1.0 event is
 * read as the 2.0 event every middleware expects, and a browser's `?access_token=` (an
 * `EventSource` cannot set headers) becomes the `Authorization` header, as RFC 6750 §2.3 allows.
 */
import type { Readable } from 'node:stream';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import {
  findStreamingRoute,
  type StreamingRouteDeclaration,
  type StreamingRouteId,
} from '@shared/catalog/streaming-routes';
import { gatewayAuthenticator } from '@shared/identity/gateway-identity';
import type { Identity } from '@shared/identity/identity';
import { gatewayIdentityRateLimits } from '@shared/rate-limit/gateway-rate-limits';
import type { z } from '@shared/validation/schema';
import { auditRefusals } from './middleware/audit';
import { authentication } from './middleware/authentication';
import { bodyParser } from './middleware/body-parser';
import { errorEnvelope } from './middleware/error-envelope';
import { headerNormalizer } from './middleware/header-normalizer';
import { invocationMetrics } from './middleware/invocation-metrics';
import { rateLimit, rateLimitHeaders } from './middleware/rate-limit';
import { requestContext } from './middleware/request-context';
import { asHttpApiEvent } from './rest-proxy-event';
import type { HttpEvent, HttpMiddleware, HttpResult } from './types';

/** The query parameter that carries a bearer token where no header can. */
export const ACCESS_TOKEN_PARAMETER = 'access_token';

export interface StreamingInput<TQuery> {
  readonly query: TQuery;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly requestId: string;
  readonly route: StreamingRouteDeclaration;
  readonly identity: Identity;
  readonly context: Context;
}

/** What a streaming handler answers: the stream's status and headers, and the stream. */
export interface StreamingResult {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readable;
}

export interface StreamingRouteDefinition<TQuery> {
  readonly query?: z.ZodType<TQuery>;
  readonly handle: (input: StreamingInput<TQuery>) => Promise<StreamingResult>;
}

/** Reads a REST API event as payload 2.0, in place, before any other step looks at it. */
const restProxyEvent = (): HttpMiddleware => ({
  before: (request) => {
    request.event = asHttpApiEvent(request.event as unknown as APIGatewayProxyEvent) as HttpEvent;
  },
});

/**
 * Moves `?access_token=` into `Authorization` when the request has no such header, and drops
 * it from the query either way, so that no later step logs or validates it.
 */
const accessTokenFromQuery = (): HttpMiddleware => ({
  before: (request) => {
    const event = request.event;
    const token = event.queryStringParameters?.[ACCESS_TOKEN_PARAMETER];
    if (token === undefined) {
      return;
    }
    event.headers.authorization ??= `Bearer ${token}`;
    const query = { ...event.queryStringParameters };
    delete query[ACCESS_TOKEN_PARAMETER];
    event.queryStringParameters = query;
    const search = new URLSearchParams(event.rawQueryString);
    search.delete(ACCESS_TOKEN_PARAMETER);
    event.rawQueryString = search.toString();
  },
});

/** The Lambda handler of one declared streaming route. */
export const streamingRoute = <TQuery = undefined>(
  id: StreamingRouteId,
  definition: StreamingRouteDefinition<TQuery>,
) => {
  const route = findStreamingRoute(id);
  const handle = async (event: HttpEvent, context: Context): Promise<StreamingResult> =>
    definition.handle({
      query: event.blux.query as TQuery,
      headers: event.headers,
      requestId: event.blux.requestId,
      route,
      // The authentication step has run: a request without an identity never gets here.
      identity: event.blux.identity as Identity,
      context,
    });
  const middlewares: HttpMiddleware[] = [
    invocationMetrics(),
    restProxyEvent(),
    requestContext(route),
    rateLimitHeaders(),
    errorEnvelope(),
    headerNormalizer(),
    accessTokenFromQuery(),
    bodyParser({ query: definition.query }),
    authentication(route, gatewayAuthenticator),
    rateLimit(gatewayIdentityRateLimits),
    auditRefusals(route),
  ];

  // The pipeline's steps read and write buffered results (the envelope of an error); only the
  // handler's own answer carries a stream, which middy pipes into Lambda's response stream.
  const streamingHandle = handle as unknown as (
    event: HttpEvent,
    context: Context,
  ) => Promise<HttpResult>;

  return middy<HttpEvent, HttpResult, Error, Context>({ streamifyResponse: true })
    .use(middlewares)
    .handler(streamingHandle);
};
