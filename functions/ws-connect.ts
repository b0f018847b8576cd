/**
 * `$connect`: runs once the authorizer has let a connection in, and stores it with the
 * identity the authorizer found. A client that offered the `bearer` subprotocol (its token
 * travelling in `Sec-WebSocket-Protocol`) gets it accepted, as a browser requires.
 */
import { gatewayConnectionStore } from '@shared/events/connection-store';
import { acceptedSubprotocol, type HeaderMap } from '@shared/events/websocket-token';
import { logger } from '@shared/logging/logger';
import { recordMetric } from '@shared/metrics/metrics';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';
import type { WebSocketAuthorizerContext } from './ws-authorize';

export interface WebSocketConnectEvent {
  readonly headers?: HeaderMap;
  readonly requestContext: {
    readonly connectionId: string;
    readonly connectedAt: number;
    readonly requestId: string;
    readonly authorizer?: Partial<WebSocketAuthorizerContext> | null;
  };
}

export interface WebSocketConnectResult {
  readonly statusCode: number;
  readonly headers?: Record<string, string>;
}

const connect = async (event: WebSocketConnectEvent): Promise<WebSocketConnectResult> => {
  const { connectionId, connectedAt, requestId, authorizer } = event.requestContext;
  const identityId = authorizer?.identity_id;
  if (identityId === undefined || identityId === '') {
    // Only a misconfigured API lets a connection reach here without its authorizer.
    logger.error('websocket connect without authorizer context', { request_id: requestId });
    return { statusCode: 401 };
  }

  // Context values may arrive as strings; 0 stands for credentials that do not expire.
  const credentialsExpireAt = Number(authorizer?.expires_at ?? 0);
  await gatewayConnectionStore().saveConnection({
    connectionId,
    identityId,
    scopes: (authorizer?.scopes ?? '').split(' ').filter((scope) => scope !== ''),
    connectedAt,
    ...(credentialsExpireAt > 0 ? { credentialsExpireAt } : {}),
  });
  recordMetric('WebSocketConnections', 1, { outcome: 'accepted' });
  logger.info('websocket connected', { request_id: requestId, connection_id: connectionId });
  const protocol = acceptedSubprotocol(event.headers);

  return {
    statusCode: 200,
    ...(protocol === undefined ? {} : { headers: { 'Sec-WebSocket-Protocol': protocol } }),
  };
};

export const handler = withInvocationMetrics(connect);
