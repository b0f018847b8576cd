/**
 * The audit step: every request refused for authentication, scope or rate limit leaves an
 * audit entry, and the error envelope carries its `audit_id`. It is the innermost step, so its
 * `onError` runs before the envelope is built. A handler that audits its own outcome (the token
 * endpoint) sets `auditId` on its errors, and the step leaves those alone.
 */
import { recordAudit } from '@shared/audit/record-audit';
import type { RouteDeclaration } from '@shared/catalog/routes';
import { isGatewayError, type ErrorCode } from '@shared/errors/gateway-error';
import { logger } from '@shared/logging/logger';
import type { HttpMiddleware } from '../types';

const REFUSALS: Partial<Record<ErrorCode, string>> = {
  UNAUTHORIZED: 'auth.refused',
  FORBIDDEN: 'auth.forbidden',
  RATE_LIMIT_EXCEEDED: 'rate_limit.exceeded',
};

const MAX_AUDITED_PATH_CHARS = 200;

export const auditRefusals = (route: RouteDeclaration): HttpMiddleware => ({
  onError: async (request) => {
    const error = request.error;
    const operation = isGatewayError(error) ? REFUSALS[error.code] : undefined;
    if (!isGatewayError(error) || operation === undefined || error.auditId !== undefined) {
      return;
    }
    const event = request.event;
    const reason = error.details.reason;
    try {
      error.auditId = await recordAudit({
        service: 'blux-guard',
        operation,
        identity: event.blux?.identity?.id ?? 'anonymous',
        outcome: 'refused',
        requestId: event.blux?.requestId ?? event.requestContext.requestId,
        resource: { type: 'route', id: route.id },
        details: {
          reason: typeof reason === 'string' ? reason : error.code.toLowerCase(),
          method: event.requestContext.http.method,
          path: event.rawPath.slice(0, MAX_AUDITED_PATH_CHARS),
          source_ip: event.requestContext.http.sourceIp,
        },
      });
    } catch (auditError) {
      // The refusal stands either way; a lost entry is an operator's problem, said loudly.
      logger.error('audit entry for a refusal could not be written', {
        request_id: event.blux?.requestId,
        route: route.id,
        error: auditError,
      });
    }
  },
});
