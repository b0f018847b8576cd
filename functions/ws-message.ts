/**
 * Every message route of the WebSocket API (`subscribe`, `unsubscribe`, `ping`, `$default`):
 * one handler, because each message, malformed ones included, gets one reply on its own
 * connection, posted through `@connections` (see `shared/events/websocket-session.ts`).
 */
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { gatewayConnectionPoster } from '@shared/events/connection-poster';
import { gatewayConnectionStore } from '@shared/events/connection-store';
import { gatewayEventStore } from '@shared/events/event-store';
import { handleClientMessage } from '@shared/events/websocket-session';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';

export const handler = withInvocationMetrics(
  async (event: APIGatewayProxyWebsocketEventV2): Promise<{ statusCode: number }> => {
    await handleClientMessage(
      {
        store: gatewayConnectionStore(),
        poster: gatewayConnectionPoster(),
        events: gatewayEventStore(),
      },
      {
        connectionId: event.requestContext.connectionId,
        requestId: event.requestContext.requestId,
        body: event.body,
        isBase64Encoded: event.isBase64Encoded,
      },
    );

    return { statusCode: 200 };
  },
);
