import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { physicalTableName } from '@shared/catalog/tables';
import type { StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import type { LocalGateway } from '@local/runtime';
import { startTestGateway } from '@test/fixtures/local-gateway';

const copier: StreamConsumerDeclaration = {
  id: 'testCopier',
  table: 'tasks',
  handler: 'test/fixtures/stream-copier.ts',
  batchSize: 4,
  maxBatchingWindowSeconds: 0,
  retryAttempts: 2,
  bisectBatchOnError: false,
  reportBatchItemFailures: false,
  startingPosition: 'TRIM_HORIZON',
  tables: { rateCounters: 'write' },
};

let gateway: LocalGateway;
let client: DynamoDBClient;

beforeAll(async () => {
  gateway = await startTestGateway({ extraStreamConsumers: [copier] });
  client = new DynamoDBClient({ endpoint: gateway.dynamoEndpoint });
});

afterAll(async () => {
  client.destroy();
  await gateway.stop();
});

const marker = async (key: string, eventName: string) => {
  const found = await client.send(
    new GetItemCommand({
      TableName: physicalTableName(gateway.stage, 'rateCounters'),
      Key: { pk: { S: `copied#${key}#${eventName}` } },
    }),
  );

  return found.Item;
};

describe('a stream consumer in the local runtime', () => {
  it('receives every write to its table as a Lambda stream event, in batches', async () => {
    const keys = ['t1', 't2', 't3', 't4', 't5', 't6'];
    for (const key of keys) {
      await client.send(
        new PutItemCommand({
          TableName: physicalTableName(gateway.stage, 'tasks'),
          Item: { pk: { S: key }, sk: { S: 'task' }, title: { S: `title of ${key}` } },
        }),
      );
    }

    await gateway.whenIdle();

    for (const key of keys) {
      const item = await marker(key, 'INSERT');
      expect(item?.event_source?.S).toBe('aws:dynamodb');
      expect(item?.new_title?.S).toBe(`title of ${key}`);
      expect(Number(item?.batch_size?.N)).toBeLessThanOrEqual(copier.batchSize);
    }
  });

  it('delivers a MODIFY when an item changes', async () => {
    await client.send(
      new PutItemCommand({
        TableName: physicalTableName(gateway.stage, 'tasks'),
        Item: { pk: { S: 't1' }, sk: { S: 'task' }, title: { S: 'renamed' } },
      }),
    );

    await gateway.whenIdle();

    expect((await marker('t1', 'MODIFY'))?.new_title?.S).toBe('renamed');
    expect(await marker('t1', 'REMOVE')).toBeUndefined();
  });
});
