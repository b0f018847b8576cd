/**
 * A rate-counters table of its own for a test file, in the run's DynamoDB Local, and a store
 * wrapper that counts the writes a test causes.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { physicalTableName } from '@shared/catalog/tables';
import { DynamoDbRateCounterStore } from '@shared/rate-limit/dynamodb-rate-counter-store';
import type {
  CounterIncrement,
  CounterOutcome,
  FailureRecord,
  RateCounterStore,
} from '@shared/rate-limit/rate-counter-store';
import { ensureTables } from '@local/tables';
import { uniqueStage } from '@test/fixtures/local-gateway';

export interface CounterTable {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly store: DynamoDbRateCounterStore;
}

export const createCounterTable = async (prefix: string): Promise<CounterTable> => {
  const client = new DynamoDBClient({ endpoint: inject('dynamoEndpoint') });
  const stage = uniqueStage(prefix);
  await ensureTables(client, (id) => physicalTableName(stage, id));
  const tableName = physicalTableName(stage, 'rateCounters');

  return { client, tableName, store: new DynamoDbRateCounterStore(client, tableName) };
};

/** Passes every call on, counting it. */
export class CountingStore implements RateCounterStore {
  writes = 0;

  constructor(private readonly inner: RateCounterStore) {}

  increment(counter: CounterIncrement): Promise<CounterOutcome> {
    this.writes += 1;

    return this.inner.increment(counter);
  }

  recordFailure(failure: FailureRecord): Promise<number> {
    this.writes += 1;

    return this.inner.recordFailure(failure);
  }
}
