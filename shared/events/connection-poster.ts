/**
 * Posts messages to WebSocket connections through API Gateway's `@connections` management
 * endpoint, with the real `ApiGatewayManagementApiClient`. In AWS the endpoint is the API's
 * stage URL; locally the runtime serves the same endpoint on its own port. Either way it comes
 * from `WEBSOCKET_MANAGEMENT_ENDPOINT`.
 *
 * The endpoint's answers become three outcomes the callers act on: a connection that is gone
 * (410, `GoneException`), a post that was throttled (429, `LimitExceededException`) and may be
 * retried, and anything else, which is rethrown.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE } from '@shared/catalog/websocket-routes';
import { ConfigurationError } from '@shared/config';

export interface ConnectionPoster {
  /**
   * Sends `message` on the connection. Throws {@link ConnectionGoneError} when the connection
   * no longer exists and {@link PostThrottledError} when API Gateway throttled the post.
   */
  post(connectionId: string, message: string): Promise<void>;
  /** Closes the connection; a connection already gone is not an error. */
  close(connectionId: string): Promise<void>;
}

/** The connection is closed or never existed: its records can go. */
export class ConnectionGoneError extends Error {
  override readonly name = 'ConnectionGoneError';
  readonly code = 'connections.gone';

  constructor(
    readonly connectionId: string,
    cause?: unknown,
  ) {
    super(`connection ${connectionId} is gone`, { cause });
  }
}

/** API Gateway throttled the post; it may succeed if tried again a little later. */
export class PostThrottledError extends Error {
  override readonly name = 'PostThrottledError';
  readonly code = 'connections.throttled';

  constructor(
    readonly connectionId: string,
    cause?: unknown,
  ) {
    super(`posting to connection ${connectionId} was throttled`, { cause });
  }
}

const SDK_MAX_ATTEMPTS = 1;
const POST_TIMEOUT_MS = 3_000;

const isThrottling = (error: unknown): boolean =>
  error instanceof LimitExceededException ||
  (error instanceof Error &&
    ['TooManyRequestsException', 'ThrottlingException'].includes(error.name));

/** A poster on the management endpoint at `endpoint` (the stage URL, `https://…/events`). */
export const createConnectionPoster = (endpoint: string): ConnectionPoster => {
  // Retries are the fan-out's own business (with backoff, counting what fails), not the SDK's.
  const client = new ApiGatewayManagementApiClient({
    endpoint,
    maxAttempts: SDK_MAX_ATTEMPTS,
    requestHandler: { requestTimeout: POST_TIMEOUT_MS },
  });

  return {
    post: async (connectionId, message) => {
      try {
        await client.send(
          new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(message) }),
        );
      } catch (error) {
        if (error instanceof GoneException) {
          throw new ConnectionGoneError(connectionId, error);
        }
        if (isThrottling(error)) {
          throw new PostThrottledError(connectionId, error);
        }
        throw error;
      }
    },
    close: async (connectionId) => {
      try {
        await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      } catch (error) {
        if (!(error instanceof GoneException)) {
          throw error;
        }
      }
    },
  };
};

/** The management endpoint the stack or the local runtime configured. */
export const managementEndpoint = (): string => {
  const endpoint = process.env[WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE];
  if (endpoint === undefined || endpoint === '') {
    throw new ConfigurationError(
      `config.missingVariable: ${WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE} is not set`,
    );
  }

  return endpoint;
};

let shared: ConnectionPoster | undefined;

/** The poster of the running function, on the configured management endpoint. */
export const gatewayConnectionPoster = (): ConnectionPoster => {
  shared ??= createConnectionPoster(managementEndpoint());

  return shared;
};
