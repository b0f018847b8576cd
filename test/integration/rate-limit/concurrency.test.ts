/**
 * The limiter's central promise, against the real DynamoDB Local: however many requests race
 * for a window, exactly its limit are admitted. The same check run on a deliberately racy
 * store (read the count, then write it back plus one) fails, which shows it can catch a race.
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CounterIncrement,
  CounterOutcome,
  RateCounterStore,
} from '@shared/rate-limit/rate-counter-store';
import type { LimitCheck } from '@shared/rate-limit/rate-limit-policies';
import { createRateLimiter } from '@shared/rate-limit/rate-limiter';
import { CountingStore, createCounterTable, type CounterTable } from './counter-table';

const LIMIT = 20;
const CONCURRENT_REQUESTS = 5 * LIMIT;
const ROUNDS = 12;
/** DynamoDB Local on a small machine takes about 10 ms a write; a round is 100 of them. */
const ROUNDS_TIMEOUT_MS = 120_000;

let table: CounterTable;

beforeAll(async () => {
  table = await createCounterTable('rlrace');
});

afterAll(() => {
  table.client.destroy();
});

/** Reads the count, then writes it back plus one: the bug the conditional update prevents. */
class ReadThenWriteStore implements RateCounterStore {
  constructor(private readonly inner: CounterTable) {}

  async increment(counter: CounterIncrement): Promise<CounterOutcome> {
    const { client, tableName } = this.inner;
    const read = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: counter.key } },
        ConsistentRead: true,
      }),
    );
    const count = Number(read.Item?.count?.N ?? '0');
    if (count >= counter.limit) {
      return { counted: false, reason: 'requests' };
    }
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { pk: { S: counter.key }, count: { N: String(count + 1) } },
      }),
    );

    return { counted: true, count: count + 1 };
  }

  async recordFailure(): Promise<number> {
    throw new Error('not used');
  }
}

/** One clock reading for the whole file: every round is one window, none crosses a boundary. */
const NOW_MS = Date.now();

const admittedPerRound = async (store: RateCounterStore, label: string): Promise<number[]> => {
  const admitted: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const limiter = createRateLimiter({ store, now: () => NOW_MS });
    const checks: LimitCheck[] = [
      {
        policy: 'service-minute',
        windowSeconds: 60,
        subject: `service:${label}-${round}`,
        limit: LIMIT,
      },
    ];
    const decisions = await Promise.all(
      Array.from({ length: CONCURRENT_REQUESTS }, () => limiter.check(checks, 'admit')),
    );
    admitted.push(decisions.filter((decision) => decision.admitted).length);
  }

  return admitted;
};

describe('concurrent requests against DynamoDB Local', () => {
  it(
    `admit exactly ${LIMIT} of ${CONCURRENT_REQUESTS}, round after round`,
    async () => {
      const admitted = await admittedPerRound(table.store, 'exact');

      expect(admitted).toEqual(Array.from({ length: ROUNDS }, () => LIMIT));
    },
    ROUNDS_TIMEOUT_MS,
  );

  it(
    'catch a read-then-write counter letting more through, with the same check',
    async () => {
      const admitted = await admittedPerRound(new ReadThenWriteStore(table), 'racy');

      expect(admitted).not.toEqual(Array.from({ length: ROUNDS }, () => LIMIT));
      expect(Math.max(...admitted)).toBeGreaterThan(LIMIT);
    },
    ROUNDS_TIMEOUT_MS,
  );

  it('cost no write for requests refused because the window is known spent', async () => {
    const counting = new CountingStore(table.store);
    const limiter = createRateLimiter({ store: counting, now: () => NOW_MS });
    const checks: LimitCheck[] = [
      { policy: 'burst', windowSeconds: 1, subject: 'service:spent', limit: LIMIT },
    ];

    for (let index = 0; index < LIMIT; index += 1) {
      await limiter.check(checks, 'admit');
    }
    const writesToSpend = counting.writes;
    const refused = await Promise.all(
      Array.from({ length: CONCURRENT_REQUESTS }, () => limiter.check(checks, 'admit')),
    );

    expect(writesToSpend).toBe(LIMIT);
    expect(refused.every((decision) => !decision.admitted)).toBe(true);
    expect(counting.writes).toBe(writesToSpend);
  });
});
