/**
 * The one place errors become responses. A `GatewayError` answers with its own status and
 * envelope; anything else is a generic INTERNAL for the client and a full log line, cause
 * chain included, for the operator.
 */
import { internalEnvelope, INTERNAL_STATUS, toEnvelope } from '@shared/errors/envelope';
import { isGatewayError } from '@shared/errors/gateway-error';
import { logger } from '@shared/logging/logger';
import { json } from '../responses';
import type { HttpMiddleware, HttpRequest } from '../types';

const requestFields = (request: HttpRequest): Record<string, unknown> => ({
  request_id: request.event.blux?.requestId ?? request.event.requestContext?.requestId,
  route: request.event.blux?.route.id,
});

export const errorEnvelope = (): HttpMiddleware => ({
  onError: (request) => {
    const error = request.error;
    if (isGatewayError(error)) {
      if (error.status >= 500) {
        logger.error('request failed', { ...requestFields(request), error });
      }
      request.response = json(error.status, toEnvelope(error), error.headers);
      return;
    }
    logger.error('unhandled error', { ...requestFields(request), error });
    request.response = json(INTERNAL_STATUS, internalEnvelope());
  },
});
