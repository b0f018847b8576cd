/**
 * The Lambda REQUEST authorizer of the WebSocket API's `$connect`. It finds the bearer token
 * where `shared/events/websocket-token.ts` says a client may put it, verifies it with the same
 * authenticator every HTTP route uses, and lets the connection in with the identity as context.
 *
 * A connection without a valid token is refused before `$connect` runs, so nothing is stored
 * for it: the authorizer throws `Unauthorized`, which API Gateway (and the local runtime)
 * answers with 401 and no upgrade. The refusal is audited as `auth.refused`, as on HTTP routes.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { recordAudit } from '@shared/audit/record-audit';
import { WEBSOCKET_AUTHORIZER, WEBSOCKET_PATH } from '@shared/catalog/websocket-routes';
import { UnauthorizedError } from '@shared/errors/gateway-error';
import { gatewayAuthenticator } from '@shared/identity/gateway-identity';
import type { Identity } from '@shared/identity/identity';
import { logger } from '@shared/logging/logger';
import { recordMetric } from '@shared/metrics/metrics';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';
import { connectAuthorization } from '@shared/events/websocket-token';

/** What `$connect` and the message routes read from `requestContext.authorizer`. */
export interface WebSocketAuthorizerContext {
  readonly identity_id: string;
  readonly identity_kind: string;
  /** The identity's scopes, space-separated: authorizer context values must be scalars. */
  readonly scopes: string;
  /** Epoch seconds, 0 when the credentials do not expire. */
  readonly expires_at: number;
}

/** The message API Gateway maps to a 401 when an authorizer throws it. */
const UNAUTHORIZED = 'Unauthorized';

const auditRefusal = async (
  event: APIGatewayRequestAuthorizerEvent,
  error: UnauthorizedError,
): Promise<void> => {
  try {
    await recordAudit({
      service: 'blux-guard',
      operation: 'auth.refused',
      identity: 'anonymous',
      outcome: 'refused',
      requestId: event.requestContext.requestId,
      resource: { type: 'route', id: 'wsConnect' },
      details: {
        reason: error.reason,
        method: 'GET',
        path: WEBSOCKET_PATH,
        source_ip: event.requestContext.identity.sourceIp,
      },
    });
  } catch (auditError) {
    logger.error('audit entry for a refused connection could not be written', {
      request_id: event.requestContext.requestId,
      error: auditError,
    });
  }
};

const allow = (
  event: APIGatewayRequestAuthorizerEvent,
  identity: Identity,
): APIGatewayAuthorizerResult => ({
  principalId: identity.id,
  policyDocument: {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
  },
  context: {
    identity_id: identity.id,
    identity_kind: identity.kind,
    scopes: identity.scopes.join(' '),
    expires_at: identity.expiresAt ?? 0,
  } satisfies WebSocketAuthorizerContext,
});

const authorize = async (
  event: APIGatewayRequestAuthorizerEvent,
): Promise<APIGatewayAuthorizerResult> => {
  try {
    const authorization = connectAuthorization(event);
    const identity = await gatewayAuthenticator().authenticate({ authorization });

    return allow(event, identity);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) {
      throw error;
    }
    recordMetric('WebSocketConnections', 1, { outcome: 'refused' });
    await auditRefusal(event, error);
    logger.info('websocket connection refused', {
      request_id: event.requestContext.requestId,
      route: WEBSOCKET_AUTHORIZER.id,
      reason: error.reason,
    });

    throw new Error(UNAUTHORIZED);
  }
};

export const handler = withInvocationMetrics(authorize);
