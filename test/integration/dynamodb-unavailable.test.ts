import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/** A server that answers every DynamoDB call as a throttled table does. */
let throttling: Server;
let throttledCalls = 0;

beforeAll(async () => {
  throttling = createServer((request, response) => {
    throttledCalls += 1;
    request.resume();
    response.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
    response.end(
      JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        message: 'The level of configured provisioned throughput for the table was exceeded.',
      }),
    );
  });
  await new Promise<void>((done) => throttling.listen(0, '127.0.0.1', done));
});

afterAll(async () => {
  await new Promise((done) => throttling.close(done));
});

const getItem = new GetItemCommand({ TableName: 't', Key: { pk: { S: 'x' } } });

describe('a DynamoDB that throttles or is unreachable', () => {
  it('becomes SERVICE_UNAVAILABLE after the bounded retries when throttled', async () => {
    const port = (throttling.address() as AddressInfo).port;
    const client = createDynamoDbClient(`http://127.0.0.1:${port}`);
    throttledCalls = 0;

    const attempt = withDynamoDbErrors(() => client.send(getItem));

    await expect(attempt).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(throttledCalls).toBe(DYNAMODB_MAX_ATTEMPTS);
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
    const port = (throttling.address() as AddressInfo).port;
    const client = createDynamoDbClient(`http://127.0.0.1:${port}`);
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
