/**
 * `$disconnect`: the connection is gone, by either side or by API Gateway's limits; its record
 * and subscriptions go with it. API Gateway calls this on a best-effort basis, so fan-out also
 * deletes connections that answer 410, and every record expires with the two-hour limit.
 */
import { gatewayConnectionStore } from '@shared/events/connection-store';
import { logger } from '@shared/logging/logger';
import { recordMetric } from '@shared/metrics/metrics';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';

export interface WebSocketDisconnectEvent {
  readonly requestContext: {
    readonly connectionId: string;
    readonly requestId: string;
    readonly disconnectStatusCode?: number;
  };
}

export const handler = withInvocationMetrics(
  async (event: WebSocketDisconnectEvent): Promise<{ statusCode: number }> => {
    const { connectionId, requestId, disconnectStatusCode } = event.requestContext;

    await gatewayConnectionStore().deleteConnection(connectionId);
    recordMetric('WebSocketDisconnections', 1, {});
    logger.info('websocket disconnected', {
      request_id: requestId,
      connection_id: connectionId,
      close_code: disconnectStatusCode,
    });

    return { statusCode: 200 };
  },
);
