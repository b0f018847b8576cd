import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCounterTable, type CounterTable } from './counter-table';

let table: CounterTable;

beforeAll(async () => {
  table = await createCounterTable('rlstore');
});

afterAll(() => {
  table.client.destroy();
});

const expiresAtSeconds = Math.floor(Date.now() / 1_000) + 120;

describe('the DynamoDB rate counter store', () => {
  it('counts up to the limit, then refuses without counting further', async () => {
    const counter = { key: 'service-minute#service:a#1', limit: 3, expiresAtSeconds };

    const outcomes = [];
    for (let index = 0; index < 5; index += 1) {
      outcomes.push(await table.store.increment(counter));
    }
    const item = await table.client.send(
      new GetItemCommand({ TableName: table.tableName, Key: { pk: { S: counter.key } } }),
    );

    expect(outcomes).toEqual([
      { counted: true, count: 1 },
      { counted: true, count: 2 },
      { counted: true, count: 3 },
      { counted: false, reason: 'requests' },
      { counted: false, reason: 'requests' },
    ]);
    expect(item.Item).toEqual({
      pk: { S: counter.key },
      count: { N: '3' },
      expires_at: { N: String(expiresAtSeconds) },
    });
  });

  it('refuses a guarded counter once its failures reach their limit, and says so', async () => {
    const counter = {
      key: 'token-source#192.0.2.1#1',
      limit: 60,
      failureLimit: 2,
      expiresAtSeconds,
    };

    const before = await table.store.increment(counter);
    const tallies = [
      await table.store.recordFailure({ key: counter.key, expiresAtSeconds }),
      await table.store.recordFailure({ key: counter.key, expiresAtSeconds }),
    ];
    const after = await table.store.increment(counter);
    const full = { key: 'token-source#192.0.2.2#1', limit: 1, failureLimit: 2, expiresAtSeconds };
    await table.store.increment(full);

    expect(before).toEqual({ counted: true, count: 1 });
    expect(tallies).toEqual([1, 2]);
    expect(after).toEqual({ counted: false, reason: 'failures' });
    expect(await table.store.increment(full)).toEqual({ counted: false, reason: 'requests' });
  });

  it('records a failure on a key nothing has counted yet', async () => {
    const tally = await table.store.recordFailure({
      key: 'token-source#192.0.2.3#1',
      expiresAtSeconds,
    });

    expect(tally).toBe(1);
  });
});
