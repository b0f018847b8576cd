/**
 * The one DynamoDB client every handler shares, and the translation of its failures into the
 * gateway's errors. Retries are bounded so that a throttled or unreachable table answers the
 * client with 503 within the function's time, instead of hanging until API Gateway gives up.
 */
import { DynamoDBClient, DynamoDBServiceException } from '@aws-sdk/client-dynamodb';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { dynamoDbEndpoint } from '@shared/config';
import { isNetworkError } from './network-errors';

export const DYNAMODB_MAX_ATTEMPTS = 3;
export const DYNAMODB_CONNECTION_TIMEOUT_MS = 1_000;
export const DYNAMODB_REQUEST_TIMEOUT_MS = 3_000;
export const DYNAMODB_RETRY_AFTER_SECONDS = 1;

let shared: DynamoDBClient | undefined;

/** The process-wide client, created on first use so that tests can set the endpoint first. */
export const dynamoDb = (): DynamoDBClient => {
  shared ??= createDynamoDbClient(dynamoDbEndpoint());

  return shared;
};

export const createDynamoDbClient = (endpoint?: string): DynamoDBClient =>
  new DynamoDBClient({
    ...(endpoint === undefined ? {} : { endpoint }),
    maxAttempts: DYNAMODB_MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: DYNAMODB_CONNECTION_TIMEOUT_MS,
      requestTimeout: DYNAMODB_REQUEST_TIMEOUT_MS,
    },
  });

/** Replaces the shared client; for tests that point handlers at a failing endpoint. */
export const setDynamoDbClient = (client: DynamoDBClient | undefined): void => {
  shared = client;
};

const THROTTLING_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);

/** Whether a DynamoDB failure means "try again later" rather than a fault in our request. */
export const isTransientDynamoDbError = (error: unknown): boolean => {
  if (!(error instanceof Error)) {
    return false;
  }
  if (THROTTLING_NAMES.has(error.name) || error.name === 'TimeoutError') {
    return true;
  }
  if (error instanceof DynamoDBServiceException) {
    return error.$fault === 'server' && error.$metadata.httpStatusCode !== 400;
  }
  return isNetworkError(error);
};

/**
 * Runs one DynamoDB call and turns throttling and connection failures, after the client's own
 * bounded retries, into `ServiceUnavailableError`. Anything else is rethrown unchanged for the
 * adapter to translate (a failed condition becomes a conflict) or to surface as INTERNAL.
 */
export const withDynamoDbErrors = async <T>(call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (error) {
    if (isTransientDynamoDbError(error)) {
      throw new ServiceUnavailableError(
        'The gateway database is unavailable.',
        DYNAMODB_RETRY_AFTER_SECONDS,
        error,
      );
    }
    throw error;
  }
};
