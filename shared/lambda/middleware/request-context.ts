/**
 * First in, last out: gives the request its id, and once a response exists (success or error
 * envelope) stamps `X-Request-Id` on it and writes the one log line per request.
 */
import { logger } from '@shared/logging/logger';
import type { RouteDeclaration } from '@shared/catalog/routes';
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

const finish = (request: HttpRequest): void => {
  const state = request.event.blux;
  const response = request.response;
  if (response === undefined || response === null || state === undefined) {
    return;
  }
  response.headers = { ...response.headers, [REQUEST_ID_HEADER]: state.requestId };
  logger.info('request', {
    request_id: state.requestId,
    route: state.route.id,
    method: request.event.requestContext.http.method,
    path: request.event.rawPath,
    status: response.statusCode,
    latency_ms: Date.now() - state.startedAtMs,
  });
};

export const requestContext = (route: RouteDeclaration): HttpMiddleware => ({
  before: (request) => {
    request.event.blux = {
      requestId: pickRequestId(request.event),
      route,
      startedAtMs: Date.now(),
    };
  },
  after: finish,
  onError: finish,
});
