/**
 * First in, last out: gives the request its id, and once a response exists (success or error
 * envelope) stamps `X-Request-Id` on it, writes the one log line per request and counts the
 * request's metrics (`Requests`, `Latency`, and `ColdStarts` on a process's first request).
 *
 * The log line names the route by its catalog id, the identity by its id (never its token),
 * and the path without its query string, which is the caller's to fill.
 */
import type { Context } from 'aws-lambda';
import { logger } from '@shared/logging/logger';
import type { RouteDeclaration } from '@shared/catalog/routes';
import { statusClassOf } from '@shared/metrics/metric-catalog';
import { recordMetric } from '@shared/metrics/metrics';
import { takeColdStart } from '@shared/metrics/metrics-invocation';
import type { HttpEvent, HttpMiddleware, HttpRequest } from '../types';

/** A client's own request id is kept when it is this well-formed; otherwise API Gateway's. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export const REQUEST_ID_HEADER = 'X-Request-Id';

export const pickRequestId = (event: HttpEvent): string => {
  const offered = event.headers?.['x-request-id'];

  return offered !== undefined && CLIENT_REQUEST_ID.test(offered)
    ? offered
    : event.requestContext.requestId;
};

/** Cold starts are told apart per function; a context without a name counts as one function. */
const functionNameOf = (context: Context | undefined): string =>
  context?.functionName ?? process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'unknown';

const coldStarts = new WeakMap<HttpEvent, boolean>();

const finish = (request: HttpRequest): void => {
  const state = request.event.blux;
  const response = request.response;
  if (response === undefined || response === null || state === undefined) {
    return;
  }

  const status = response.statusCode ?? 200;
  const latencyMs = Date.now() - state.startedAtMs;
  response.headers = { ...response.headers, [REQUEST_ID_HEADER]: state.requestId };
  recordMetric('Requests', 1, { route: state.route.id, status_class: statusClassOf(status) });
  recordMetric('Latency', latencyMs, { route: state.route.id });
  logger.info('request', {
    request_id: state.requestId,
    // API Gateway's own id (the access log's requestId), for when the client chose request_id.
    api_request_id: request.event.requestContext.requestId,
    function_request_id: request.context?.awsRequestId,
    route: state.route.id,
    method: request.event.requestContext.http.method,
    path: request.event.rawPath,
    identity: state.identity?.id ?? 'anonymous',
    status,
    latency_ms: latencyMs,
    cold_start: coldStarts.get(request.event) ?? false,
  });
};

export const requestContext = (route: RouteDeclaration): HttpMiddleware => ({
  before: (request) => {
    request.event.blux = {
      requestId: pickRequestId(request.event),
      route,
      startedAtMs: Date.now(),
    };
    coldStarts.set(request.event, takeColdStart(functionNameOf(request.context)));
  },
  after: finish,
  onError: finish,
});
