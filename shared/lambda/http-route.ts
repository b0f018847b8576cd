/**
 * Builds the middy pipeline every HTTP handler runs, with the same order of concerns on every
 * route:
 *
 *   metrics flush → request id and log line → response headers → error envelope →
 *   header normalisation → body and query validation → authentication → rate limiting →
 *   handler → audit
 *
 * `before` hooks run in that order and `after`/`onError` hooks in reverse, so the error
 * envelope sees every failure, the response-header steps see every response, envelopes
 * included, the request-context step stamps, logs and counts every response, and the metrics
 * of the invocation are flushed last of all.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { findRoute, type RouteDeclaration, type RouteId } from '@shared/catalog/routes';
import type { Identity } from '@shared/identity/identity';
import type { z } from '@shared/validation/schema';
import { gatewayAuthenticator } from '@shared/identity/gateway-identity';
import { gatewayIdentityRateLimits } from '@shared/rate-limit/gateway-rate-limits';
import { auditRefusals } from './middleware/audit';
import { authentication } from './middleware/authentication';
import { bodyParser, type BodyOptions } from './middleware/body-parser';
import { errorEnvelope, type ErrorFormat } from './middleware/error-envelope';
import { headerNormalizer } from './middleware/header-normalizer';
import { rateLimit, rateLimitHeaders } from './middleware/rate-limit';
import { requestContext } from './middleware/request-context';
import { invocationMetrics } from './middleware/invocation-metrics';
import type { HttpEvent, HttpMiddleware, HttpResult } from './types';

/** What a route's handler receives: validated input and the request's identity in the pipeline. */
export interface RouteInput<TBody, TQuery> {
  readonly body: TBody;
  readonly query: TQuery;
  readonly pathParameters: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly requestId: string;
  readonly route: RouteDeclaration;
  /** The caller, on routes that authenticate one. */
  readonly identity: Identity | undefined;
  readonly event: HttpEvent;
  readonly context: Context;
}

export interface RouteDefinition<TBody, TQuery> extends Omit<BodyOptions, 'body' | 'query'> {
  readonly body?: z.ZodType<TBody>;
  readonly query?: z.ZodType<TQuery>;
  /** `oauth` only on the token endpoint; every other route answers with the envelope. */
  readonly errorFormat?: ErrorFormat;
  readonly handle: (input: RouteInput<TBody, TQuery>) => Promise<HttpResult>;
}

/**
 * The steps that later capabilities contribute for a route: authentication (before the rate
 * limit, so limits count identities), rate limiting, and audit (its `after`/`onError` run
 * first of all, so it records the handler's outcome before the envelope is built).
 */
export interface PipelineSteps {
  readonly authentication: (route: RouteDeclaration) => readonly HttpMiddleware[];
  readonly rateLimiting: (route: RouteDeclaration) => readonly HttpMiddleware[];
  /**
   * Steps that add headers to the finished response (the rate-limit headers): they sit between
   * the request context and the error envelope, so their `after`/`onError` see error
   * envelopes too. None when left out.
   */
  readonly responseHeaders?: (route: RouteDeclaration) => readonly HttpMiddleware[];
  readonly audit: (route: RouteDeclaration) => readonly HttpMiddleware[];
}

/** Whether the identity rate limits count calls of `route`. */
const isRateLimited = (route: RouteDeclaration): boolean =>
  route.access === 'identified' && route.rateLimit !== 'exempt';

export const DEFAULT_PIPELINE_STEPS: PipelineSteps = {
  authentication: (route) =>
    route.access === 'identified' ? [authentication(route, gatewayAuthenticator)] : [],
  rateLimiting: (route) => (isRateLimited(route) ? [rateLimit(gatewayIdentityRateLimits)] : []),
  responseHeaders: (route) => (isRateLimited(route) ? [rateLimitHeaders()] : []),
  audit: (route) => (route.access === 'public' ? [] : [auditRefusals(route)]),
};

/** Builds the Lambda handler for one declared route (by id, or a declaration in tests). */
export const httpRoute = <TBody = undefined, TQuery = undefined>(
  routeOrId: RouteId | RouteDeclaration,
  definition: RouteDefinition<TBody, TQuery>,
  steps: PipelineSteps = DEFAULT_PIPELINE_STEPS,
) => {
  const route = typeof routeOrId === 'string' ? findRoute(routeOrId) : routeOrId;
  const handle = async (event: HttpEvent, context: Context): Promise<HttpResult> =>
    definition.handle({
      body: event.blux.body as TBody,
      query: event.blux.query as TQuery,
      pathParameters: event.pathParameters ?? {},
      headers: event.headers,
      requestId: event.blux.requestId,
      route,
      identity: event.blux.identity,
      event,
      context,
    });
  const middlewares: HttpMiddleware[] = [
    invocationMetrics(),
    requestContext(route),
    ...(steps.responseHeaders?.(route) ?? []),
    errorEnvelope(definition.errorFormat),
    headerNormalizer(),
    bodyParser(definition),
    ...steps.authentication(route),
    ...steps.rateLimiting(route),
    ...steps.audit(route),
  ];

  return middy<HttpEvent, HttpResult, Error, Context>().use(middlewares).handler(handle);
};
