import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDynamoDbClient,
  DYNAMODB_MAX_ATTEMPTS,
  withDynamoDbErrors,
} from '@shared/aws/dynamodb';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { findFreePort } from '@local/dynamodb-local';
import { httpEvent, jsonBody, lambdaContext } from '@test/fixtures/events';
import {
  startThrottlingDynamoDb,
  type ThrottlingDynamoDb,
} from '@test/fixtures/throttling-dynamodb';

let throttling: ThrottlingDynamoDb;

beforeAll(async () => {
  throttling = await startThrottlingDynamoDb('ProvisionedThroughputExceededException');
});

afterAll(async () => {
  await throttling.stop();
});

const getItem = new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } });

describe('a DynamoDB that throttles or is unreachable', () => {
  it('becomes SERVICE_UNAVAILABLE after the bounded retries when throttled', async () => {
    const client = createDynamoDbClient(throttling.endpoint);
    const before = throttling.calls();

    const attempt = withDynamoDbErrors(() => client.send(getItem));

    await expect(attempt).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(throttling.calls() - before).toBe(DYNAMODB_MAX_ATTEMPTS);
    client.destroy();
  });

  it('becomes SERVICE_UNAVAILABLE quickly when nothing listens', async () => {
    const client = createDynamoDbClient(`http://127.0.0.1:${await findFreePort()}`);
    const started = Date.now();

    await expect(withDynamoDbErrors(() => client.send(getItem))).rejects.toBeInstanceOf(
      ServiceUnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(8_000);
    client.destroy();
  });

  it('answers the client 503 with Retry-After through the pipeline, never 500', async () => {
    const client = createDynamoDbClient(throttling.endpoint);
    const route = httpRoute(
      {
        id: 'readSomething',
        method: 'GET',
        path: '/something',
        handler: 'none',
        service: 'blux-lite',
        access: 'public',
        scopes: [],
        tables: {},
      },
      {
        handle: async () => {
          await withDynamoDbErrors(() => client.send(getItem));

          return json(200, {});
        },
      },
    );

    const result = await route(httpEvent({ path: '/something' }), lambdaContext());

    expect(result.statusCode).toBe(503);
    expect(result.headers?.['Retry-After']).toBe('1');
    expect(jsonBody(result)).toMatchObject({ error: { code: 'SERVICE_UNAVAILABLE' } });
    client.destroy();
  });
});
