import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, describe, expect, inject, it, vi } from 'vitest';
import type { StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import { LOCAL_AWS_ENV } from '@local/dynamodb-local';
import {
  STREAM_POLLER_ERROR_CODES,
  StreamPollerError,
  startStreamPoller,
  type StreamBatchFailure,
  type StreamPoller,
  type StreamPollerOptions,
} from '@local/stream-poller';

const endpoint = inject('dynamoEndpoint');
const clientConfig = {
  endpoint,
  region: LOCAL_AWS_ENV.AWS_REGION,
  credentials: {
    accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
    secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
  },
};
const dynamo = new DynamoDBClient(clientConfig);
const streams = new DynamoDBStreamsClient(clientConfig);

// Not DynamoDB Local's own `ddblocal`, so the test sees that the poller sets the region.
const REGION = 'eu-central-1';
const RUN_ID = randomUUID().slice(0, 8);
const POLLER_MODULE = fileURLToPath(new URL('../../local/stream-poller.ts', import.meta.url));
const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const tablesCreated: string[] = [];
const pollersStarted: StreamPoller[] = [];

afterEach(async () => {
  await Promise.all(pollersStarted.splice(0).map((poller) => poller.stop()));
});

afterAll(async () => {
  for (const tableName of tablesCreated) {
    await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  }
  dynamo.destroy();
  streams.destroy();
});

interface StreamTable {
  readonly tableName: string;
  readonly streamArn: string;
}

const createStreamTable = async (): Promise<StreamTable> => {
  const tableName = `stream-poller-${RUN_ID}-${tablesCreated.length}`;
  const created = await dynamo.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' },
    }),
  );
  tablesCreated.push(tableName);
  const streamArn = created.TableDescription?.LatestStreamArn;
  if (streamArn === undefined) throw new Error(`table ${tableName} has no stream`);

  return { tableName, streamArn };
};

const put = async (
  table: StreamTable,
  pk: string,
  attributes: Record<string, AttributeValue> = {},
): Promise<void> => {
  await dynamo.send(
    new PutItemCommand({ TableName: table.tableName, Item: { pk: { S: pk }, ...attributes } }),
  );
};

const putAll = async (table: StreamTable, keys: readonly string[]): Promise<void> => {
  for (const key of keys) {
    await put(table, key);
  }
};

/**
 * Reads the stream directly until it holds `count` records, so that a poller started next
 * finds all of them at its first read, whatever the stream's propagation delay.
 */
const untilStreamHolds = async (table: StreamTable, count: number): Promise<void> => {
  const described = await streams.send(new DescribeStreamCommand({ StreamArn: table.streamArn }));
  const shardId = described.StreamDescription?.Shards?.[0]?.ShardId;
  const opened = await streams.send(
    new GetShardIteratorCommand({
      StreamArn: table.streamArn,
      ShardId: shardId,
      ShardIteratorType: 'TRIM_HORIZON',
    }),
  );
  let iterator = opened.ShardIterator;
  let seen = 0;

  await vi.waitFor(
    async () => {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      iterator = page.NextShardIterator;
      seen += page.Records?.length ?? 0;
      expect(seen).toBeGreaterThanOrEqual(count);
    },
    { timeout: 5_000, interval: 20 },
  );
};

const consumer = (
  overrides: Partial<StreamConsumerDeclaration> = {},
): StreamConsumerDeclaration => ({
  id: 'streamPollerTest',
  table: 'tasks',
  handler: 'test/integration/stream-poller.test.ts',
  batchSize: 100,
  maxBatchingWindowSeconds: 0,
  retryAttempts: 0,
  bisectBatchOnError: false,
  reportBatchItemFailures: false,
  startingPosition: 'TRIM_HORIZON',
  tables: {},
  ...overrides,
});

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly details: Record<string, unknown>;
}

interface Harness {
  readonly poller: StreamPoller;
  /** The records of every invocation, failed ones included, in invocation order. */
  readonly invocations: DynamoDBRecord[][];
  readonly failures: StreamBatchFailure[];
  readonly logs: LogLine[];
}

type TestHandler = (event: DynamoDBStreamEvent, invocation: number) => Promise<unknown>;

const startHarness = (
  table: StreamTable,
  declaration: StreamConsumerDeclaration,
  handler: TestHandler = async () => undefined,
  extra: Partial<StreamPollerOptions> = {},
): Harness => {
  const invocations: DynamoDBRecord[][] = [];
  const failures: StreamBatchFailure[] = [];
  const logs: LogLine[] = [];
  const log =
    (level: LogLine['level']) =>
    (message: string, details: Record<string, unknown>): void => {
      logs.push({ level, message, details });
    };
  const poller = startStreamPoller({
    client: streams,
    streamArn: table.streamArn,
    consumer: declaration,
    region: REGION,
    retryDelayMs: 5,
    invoke: async (event) => {
      invocations.push(event.Records);
      return handler(event, invocations.length);
    },
    onFailure: (failure) => {
      failures.push(failure);
    },
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    ...extra,
  });
  pollersStarted.push(poller);

  return { poller, invocations, failures, logs };
};

const keyOf = (record: DynamoDBRecord): string | undefined => record.dynamodb?.Keys?.pk?.S;

const keysOf = (records: readonly DynamoDBRecord[]): (string | undefined)[] => records.map(keyOf);

const sequenceOf = (record: DynamoDBRecord | undefined): string => {
  const sequenceNumber = record?.dynamodb?.SequenceNumber;
  if (sequenceNumber === undefined) throw new Error('record without a sequence number');

  return sequenceNumber;
};

const failBatch = (invocation: number): never => {
  throw new Error(`handler failure on invocation ${invocation}`);
};

const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

describe('the DynamoDB stream poller', () => {
  it('delivers records in write order, shaped as Lambda delivers them', async () => {
    const table = await createStreamTable();
    const startedAtSeconds = Math.floor(Date.now() / 1_000);
    const harness = startHarness(table, consumer());

    await put(table, 'a', { v: { N: '1' }, blob: { B: Uint8Array.from([1, 2, 3]) } });
    await dynamo.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { pk: { S: 'a' } },
        UpdateExpression: 'SET v = :v',
        ExpressionAttributeValues: { ':v': { N: '2' } },
      }),
    );
    await put(table, 'b', { tags: { SS: ['x', 'y'] }, nested: { M: { ok: { BOOL: true } } } });
    await dynamo.send(
      new DeleteItemCommand({ TableName: table.tableName, Key: { pk: { S: 'b' } } }),
    );
    await harness.poller.whenIdle();
    const records = harness.invocations.flat();

    expect(records.map((record) => [record.eventName, keyOf(record)])).toEqual([
      ['INSERT', 'a'],
      ['MODIFY', 'a'],
      ['INSERT', 'b'],
      ['REMOVE', 'b'],
    ]);
    for (const record of records) {
      expect(Object.keys(record).sort()).toEqual([
        'awsRegion',
        'dynamodb',
        'eventID',
        'eventName',
        'eventSource',
        'eventSourceARN',
        'eventVersion',
      ]);
      expect(record).toMatchObject({
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: REGION,
        eventSourceARN: table.streamArn,
      });
      expect(record.eventID).toMatch(/\S/);
      expect(record.dynamodb?.StreamViewType).toBe('NEW_AND_OLD_IMAGES');
      expect(record.dynamodb?.SizeBytes).toBeGreaterThan(0);
      const createdAt = record.dynamodb?.ApproximateCreationDateTime;
      expect(Number.isInteger(createdAt)).toBe(true);
      // DynamoDB Local rounds the creation time down to the minute.
      expect(createdAt).toBeGreaterThanOrEqual(startedAtSeconds - 60);
      expect(createdAt).toBeLessThanOrEqual(Math.ceil(Date.now() / 1_000));
    }
    expect(new Set(records.map((record) => record.eventID)).size).toBe(4);
    const sequence = records.map((record) => BigInt(sequenceOf(record)));
    expect(sequence).toEqual([...sequence].sort((left, right) => (left < right ? -1 : 1)));
    expect(new Set(sequence).size).toBe(4);
    const [insertA, modifyA, insertB, removeB] = records.map((record) => record.dynamodb);
    expect(insertA?.Keys).toEqual({ pk: { S: 'a' } });
    expect(insertA?.NewImage).toEqual({ pk: { S: 'a' }, v: { N: '1' }, blob: { B: 'AQID' } });
    expect(insertA).not.toHaveProperty('OldImage');
    expect(modifyA?.OldImage).toEqual({ pk: { S: 'a' }, v: { N: '1' }, blob: { B: 'AQID' } });
    expect(modifyA?.NewImage).toEqual({ pk: { S: 'a' }, v: { N: '2' }, blob: { B: 'AQID' } });
    expect(insertB?.NewImage).toEqual({
      pk: { S: 'b' },
      tags: { SS: ['x', 'y'] },
      nested: { M: { ok: { BOOL: true } } },
    });
    expect(removeB?.OldImage).toEqual(insertB?.NewImage);
    expect(removeB).not.toHaveProperty('NewImage');
    expect(harness.failures).toEqual([]);
  });

  it('delivers an empty map and an empty list as they were written', async () => {
    const table = await createStreamTable();
    const harness = startHarness(table, consumer());

    await put(table, 'empty', { details: { M: {} }, trail: { L: [] } });
    await harness.poller.whenIdle();

    expect(harness.invocations.flat().map((record) => record.dynamodb?.NewImage)).toEqual([
      { pk: { S: 'empty' }, details: { M: {} }, trail: { L: [] } },
    ]);
    expect(harness.failures).toEqual([]);
  });

  it('resolves whenIdle once the handler has returned for a record written just before', async () => {
    const table = await createStreamTable();
    const completed: (string | undefined)[] = [];
    // Slower than a poll: whenIdle must wait for the handler to return, not just to be called.
    const handler: TestHandler = async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      completed.push(...keysOf(event.Records));
    };
    const harness = startHarness(table, consumer(), handler);
    await harness.poller.whenIdle();

    for (const key of ['r0', 'r1', 'r2', 'r3', 'r4']) {
      await put(table, key);
      await harness.poller.whenIdle();
      expect(completed.at(-1)).toBe(key);
    }
    expect(completed).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });

  it('invokes with at most batchSize records, keeping their order', async () => {
    const table = await createStreamTable();
    const keys = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
    await putAll(table, keys);
    await untilStreamHolds(table, keys.length);

    const harness = startHarness(table, consumer({ batchSize: 3 }));
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([
      ['r0', 'r1', 'r2'],
      ['r3', 'r4', 'r5'],
      ['r6', 'r7'],
    ]);
  });

  it('waits up to maxBatchingWindowSeconds to fill a batch before invoking', async () => {
    const table = await createStreamTable();
    const harness = startHarness(table, consumer({ batchSize: 10, maxBatchingWindowSeconds: 2 }));
    await harness.poller.whenIdle();

    // Written one by one, these reach the stream over several polls, yet make one batch.
    await putAll(table, ['w0', 'w1', 'w2', 'w3']);
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([['w0', 'w1', 'w2', 'w3']]);
  });

  it('invokes the same batch again after failures, then delivers each record once', async () => {
    const table = await createStreamTable();
    const keys = ['r0', 'r1', 'r2'];
    await putAll(table, keys);
    await untilStreamHolds(table, keys.length);
    const handler: TestHandler = async (_event, invocation) =>
      invocation <= 2 ? failBatch(invocation) : undefined;

    const harness = startHarness(table, consumer({ retryAttempts: 5 }), handler);
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([keys, keys, keys]);
    const [first, ...retries] = harness.invocations.map((records) => records.map(sequenceOf));
    for (const retry of retries) {
      expect(retry).toEqual(first);
    }
    expect(harness.failures).toEqual([]);
  });

  it('sends a batch to onFailure after retryAttempts + 1 invocations, then moves on', async () => {
    const table = await createStreamTable();
    await putAll(table, ['bad-0', 'bad-1']);
    await untilStreamHolds(table, 2);
    const handler: TestHandler = async (event, invocation) =>
      event.Records.some((record) => keyOf(record)?.startsWith('bad'))
        ? failBatch(invocation)
        : undefined;

    const harness = startHarness(table, consumer({ retryAttempts: 2 }), handler);
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([
      ['bad-0', 'bad-1'],
      ['bad-0', 'bad-1'],
      ['bad-0', 'bad-1'],
    ]);
    expect(harness.failures).toHaveLength(1);
    const [failure] = harness.failures;
    const [bad0, bad1] = harness.invocations[0] ?? [];
    expect(failure).toMatchObject({
      version: '1.0',
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
      responseContext: { functionError: 'Unhandled' },
      DDBStreamBatchInfo: {
        shardId: expect.stringMatching(/^shardId-/),
        startSequenceNumber: sequenceOf(bad0),
        endSequenceNumber: sequenceOf(bad1),
        approximateArrivalOfFirstRecord: expect.stringMatching(ISO_SECONDS),
        approximateArrivalOfLastRecord: expect.stringMatching(ISO_SECONDS),
        batchSize: 2,
        streamArn: table.streamArn,
      },
    });
    expect(keysOf(failure?.payload.Records ?? [])).toEqual(['bad-0', 'bad-1']);
    expect(String(failure?.error)).toContain('handler failure on invocation 3');

    await putAll(table, ['good-0', 'good-1']);
    await harness.poller.whenIdle();

    // Written one after the other, they may come in one batch or two.
    expect(harness.invocations.slice(3).flat().map(keyOf)).toEqual(['good-0', 'good-1']);
    expect(harness.failures).toHaveLength(1);
  });

  it('bisects a failing batch so that only the poison record reaches onFailure', async () => {
    const table = await createStreamTable();
    const keys = ['r0', 'r1', 'r2', 'r3', 'r4', 'poison', 'r6', 'r7'];
    await putAll(table, keys);
    await untilStreamHolds(table, keys.length);
    const handler: TestHandler = async (event, invocation) =>
      event.Records.some((record) => keyOf(record) === 'poison')
        ? failBatch(invocation)
        : undefined;

    const harness = startHarness(
      table,
      consumer({ batchSize: 8, bisectBatchOnError: true, retryAttempts: 1 }),
      handler,
    );
    await harness.poller.whenIdle();

    // Halving spends no retry; the lone poison record then gets its one retry.
    expect(harness.invocations.map(keysOf)).toEqual([
      keys,
      ['r0', 'r1', 'r2', 'r3'],
      ['r4', 'poison', 'r6', 'r7'],
      ['r4', 'poison'],
      ['r4'],
      ['poison'],
      ['poison'],
      ['r6', 'r7'],
    ]);
    expect(harness.failures).toHaveLength(1);
    const poison = harness.invocations[0]?.[5];
    expect(harness.failures[0]?.DDBStreamBatchInfo).toMatchObject({
      batchSize: 1,
      startSequenceNumber: sequenceOf(poison),
      endSequenceNumber: sequenceOf(poison),
    });
    expect(keysOf(harness.failures[0]?.payload.Records ?? [])).toEqual(['poison']);
  });

  it('retries from the lowest reported item failure only', async () => {
    const table = await createStreamTable();
    const keys = ['r0', 'r1', 'r2', 'r3', 'r4'];
    await putAll(table, keys);
    await untilStreamHolds(table, keys.length);
    const handler: TestHandler = async (event, invocation) => {
      if (invocation > 1) return { batchItemFailures: [] };
      const [, , r2, r3, r4] = event.Records;

      // The lowest is listed neither first nor last: the poller must look for it.
      return {
        batchItemFailures: [r3, r2, r4].map((record) => ({ itemIdentifier: sequenceOf(record) })),
      };
    };

    const harness = startHarness(
      table,
      consumer({ reportBatchItemFailures: true, retryAttempts: 2 }),
      handler,
    );
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([keys, ['r2', 'r3', 'r4']]);
    expect(harness.failures).toEqual([]);
  });

  it('sends only the records from the reported failure on when retries run out', async () => {
    const table = await createStreamTable();
    const keys = ['r0', 'r1', 'r2', 'r3'];
    await putAll(table, keys);
    await untilStreamHolds(table, keys.length);
    const handler: TestHandler = async (event) => {
      const failed = event.Records.find((record) => keyOf(record) === 'r2');

      return { batchItemFailures: [{ itemIdentifier: sequenceOf(failed) }] };
    };

    const harness = startHarness(
      table,
      consumer({ reportBatchItemFailures: true, retryAttempts: 1 }),
      handler,
    );
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([keys, ['r2', 'r3']]);
    expect(harness.failures).toHaveLength(1);
    expect(harness.failures[0]).toMatchObject({
      requestContext: { approximateInvokeCount: 2 },
      responseContext: {},
      DDBStreamBatchInfo: { batchSize: 2 },
    });
    expect(harness.failures[0]?.responseContext).not.toHaveProperty('functionError');
    expect(keysOf(harness.failures[0]?.payload.Records ?? [])).toEqual(['r2', 'r3']);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an empty object', {}],
    ['an empty list', { batchItemFailures: [] }],
    ['a null list', { batchItemFailures: null }],
  ])('treats %s as a batch response of complete success', async (_name, response) => {
    const table = await createStreamTable();
    await putAll(table, ['r0', 'r1']);
    await untilStreamHolds(table, 2);

    const harness = startHarness(
      table,
      consumer({ reportBatchItemFailures: true, retryAttempts: 3 }),
      async () => response,
    );
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([['r0', 'r1']]);
    expect(harness.failures).toEqual([]);
  });

  it.each([
    ['an unknown sequence number', { batchItemFailures: [{ itemIdentifier: '999' }] }],
    ['an empty identifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a misspelt key', { batchItemFailures: [{ itemIdentifer: '1' }] }],
    ['a list that is not a list', { batchItemFailures: 'r0' }],
    ['an answer that is not an object', 'done'],
  ])('fails the whole batch for a response with %s', async (_name, response) => {
    const table = await createStreamTable();
    await putAll(table, ['r0', 'r1']);
    await untilStreamHolds(table, 2);
    const handler: TestHandler = async (_event, invocation) =>
      invocation === 1 ? response : undefined;

    const harness = startHarness(
      table,
      consumer({ reportBatchItemFailures: true, retryAttempts: 3 }),
      handler,
    );
    await harness.poller.whenIdle();

    expect(harness.invocations.map(keysOf)).toEqual([
      ['r0', 'r1'],
      ['r0', 'r1'],
    ]);
    expect(harness.failures).toEqual([]);
  });

  it('skips the records written before it started when the position is LATEST', async () => {
    const table = await createStreamTable();
    await putAll(table, ['old-0', 'old-1']);
    await untilStreamHolds(table, 2);

    const harness = startHarness(table, consumer({ startingPosition: 'LATEST' }));
    await harness.poller.whenIdle();
    await putAll(table, ['new-0', 'new-1']);
    await harness.poller.whenIdle();

    expect(harness.invocations.flat().map(keyOf)).toEqual(['new-0', 'new-1']);
  });

  it('lets the invocation under way finish on stop, and invokes nothing after it', async () => {
    const table = await createStreamTable();
    await putAll(table, ['r0']);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let invoked: () => void = () => undefined;
    const wasInvoked = new Promise<void>((resolve) => {
      invoked = resolve;
    });
    const handler: TestHandler = async (_event, invocation) => {
      invoked();
      await released;

      return failBatch(invocation);
    };

    const harness = startHarness(table, consumer({ retryAttempts: 5 }), handler);
    await wasInvoked;
    let stopped = false;
    const stopping = harness.poller.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));

    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    await putAll(table, ['r1']);
    // Nothing can be awaited for something that must not happen: give a retry time to show.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(harness.invocations.map(keysOf)).toEqual([['r0']]);
    await expect(harness.poller.whenIdle()).rejects.toMatchObject({
      name: 'StreamPollerError',
      code: STREAM_POLLER_ERROR_CODES.stopped,
    });
  });

  it('logs and retries with backoff while the stream cannot be reached', async () => {
    const harness = startHarness(
      {
        tableName: 'missing',
        streamArn: `arn:aws:dynamodb:ddblocal:000000000000:table/missing-${RUN_ID}/stream/x`,
      },
      consumer(),
    );

    await vi.waitFor(() => expect(harness.logs.length).toBeGreaterThanOrEqual(2), {
      timeout: 5_000,
      interval: 20,
    });
    await harness.poller.stop();

    const [first, second] = harness.logs;
    expect(first).toMatchObject({
      level: 'warn',
      message: 'Describing the stream failed; retrying',
    });
    expect(second?.message).toBe(first?.message);
    expect(Number(second?.details.retryInMs)).toBeGreaterThan(Number(first?.details.retryInMs));
    expect(harness.invocations).toEqual([]);
  });

  it('rejects settings an event source mapping would refuse', () => {
    const start = (): StreamPoller =>
      startStreamPoller({
        client: streams,
        streamArn: 'arn:aws:dynamodb:ddblocal:000000000000:table/none/stream/x',
        consumer: consumer({ batchSize: 0, retryAttempts: -2 }),
        region: REGION,
        invoke: async () => undefined,
        onFailure: () => undefined,
      });

    expect(start).toThrow(StreamPollerError);
    expect(start).toThrow(/batchSize.*retryAttempts/);
  });

  it('leaves no timer running after stop, so the process can exit', async () => {
    const table = await createStreamTable();
    await putAll(table, ['r0', 'r1']);
    // A separate Node process, so that nothing of vitest's keeps the event loop alive.
    const script = `
      const { DynamoDBStreamsClient } = await import('@aws-sdk/client-dynamodb-streams');
      const { startStreamPoller } = await import(process.env.POLLER_MODULE);
      const client = new DynamoDBStreamsClient(JSON.parse(process.env.CLIENT_CONFIG));
      let delivered = 0;
      const quiet = () => undefined;
      const poller = startStreamPoller({
        client,
        streamArn: process.env.STREAM_ARN,
        consumer: JSON.parse(process.env.CONSUMER),
        region: 'us-east-1',
        invoke: async (event) => { delivered += event.Records.length; },
        onFailure: quiet,
        logger: { info: quiet, warn: quiet, error: quiet },
      });
      await poller.whenIdle();
      await poller.stop();
      client.destroy();
      const timers = process.getActiveResourcesInfo().filter((name) => name === 'Timeout');
      console.log(JSON.stringify({ delivered, timers: timers.length }));
    `;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      {
        cwd: REPOSITORY_ROOT,
        env: {
          ...process.env,
          POLLER_MODULE,
          CLIENT_CONFIG: JSON.stringify(clientConfig),
          STREAM_ARN: table.streamArn,
          CONSUMER: JSON.stringify(consumer()),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    let errors = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      errors += chunk.toString();
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);

    const exit = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    clearTimeout(killer);

    expect({ ...exit, errors: exit.code === 0 ? '' : errors }).toEqual({
      code: 0,
      signal: null,
      errors: '',
    });
    expect(JSON.parse(output.trim().split('\n').at(-1) ?? '{}')).toEqual({
      delivered: 2,
      timers: 0,
    });
  }, 30_000);
});
