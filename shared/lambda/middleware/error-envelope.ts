/**
 * The one place errors become responses. A `GatewayError` answers with its own status and
 * envelope; anything else is a generic INTERNAL for the client and a full log line, cause
 * chain included, for the operator.
 */
import { internalEnvelope, INTERNAL_STATUS, toEnvelope } from '@shared/errors/envelope';
import { isGatewayError, type GatewayError } from '@shared/errors/gateway-error';
import { oauthCodeOf } from '@shared/errors/oauth-error';
import { logger } from '@shared/logging/logger';
import { json } from '../responses';
import type { HttpMiddleware, HttpRequest } from '../types';

const requestFields = (request: HttpRequest): Record<string, unknown> => ({
  request_id: request.event.blux?.requestId ?? request.event.requestContext?.requestId,
  route: request.event.blux?.route.id,
});

/**
 * How a route words its errors: the BLUX envelope everywhere, except on the token endpoint,
 * whose clients are OAuth 2.0 libraries that parse RFC 6749 §5.2 bodies.
 */
export type ErrorFormat = 'envelope' | 'oauth';

/** RFC 6749 §5.2, with the envelope's audit id and timestamp as extension members. */
const oauthBody = (error: GatewayError): Record<string, unknown> => {
  const envelope = toEnvelope(error).error;

  return {
    error: oauthCodeOf(error),
    error_description: envelope.message,
    audit_id: envelope.audit_id,
    timestamp: envelope.timestamp,
  };
};

export const errorEnvelope = (format: ErrorFormat = 'envelope'): HttpMiddleware => ({
  onError: (request) => {
    const error = request.error;
    if (isGatewayError(error)) {
      if (error.status >= 500) {
        logger.error('request failed', { ...requestFields(request), error });
      }
      const body = format === 'oauth' ? oauthBody(error) : toEnvelope(error);
      request.response = json(error.status, body, error.headers);
      return;
    }
    logger.error('unhandled error', { ...requestFields(request), error });
    const envelope = internalEnvelope();
    request.response =
      format === 'oauth'
        ? json(INTERNAL_STATUS, {
            error: 'server_error',
            error_description: envelope.error.message,
            audit_id: null,
            timestamp: envelope.error.timestamp,
          })
        : json(INTERNAL_STATUS, envelope);
  },
});
