import { describe, expect, it } from 'vitest';
import {
  createReadBudget,
  mergeShards,
  type ShardPage,
  type ShardReader,
} from '@shared/audit/audit-shard-merge';
import type { AuditOrder, AuditShardPosition } from '@shared/audit/audit-store';

/**
 * Shards as sorted keys; a read returns the keys a filter keeps among the next `size` keys,
 * with the last key read while the shard holds more, as a DynamoDB query with a filter does.
 */
const fakeShards = (shards: string[][], keep: (key: string) => boolean, order: AuditOrder) => {
  const reads: number[] = [];
  const read: ShardReader<string> = async (shard, after, size) => {
    reads.push(shard);
    const keys = [...(shards[shard] ?? [])].sort();
    const ordered = order === 'asc' ? keys : keys.reverse();
    const from = after === undefined ? 0 : ordered.indexOf(after) + 1;
    const slice = ordered.slice(from, from + size);
    const page: ShardPage<string> = { items: slice.filter(keep) };

    return from + size < ordered.length ? { ...page, lastKey: slice.at(-1) } : page;
  };

  return { read, reads };
};

const SHARDS = [
  ['a01', 'a05', 'a09', 'a13', 'a17'],
  ['a02', 'a06', 'a10'],
  [],
  ['a03', 'a04', 'a07', 'a08', 'a11', 'a12', 'a14', 'a15', 'a16', 'a18'],
];

const everything = SHARDS.flat().sort();

/** Every page of a merge of SHARDS, concatenated. */
const pageThrough = async (
  order: AuditOrder,
  want: number,
  keep: (key: string) => boolean = () => true,
): Promise<string[]> => {
  const { read } = fakeShards(SHARDS, keep, order);
  let positions: AuditShardPosition[] = SHARDS.map(() => ({}));
  const all: string[] = [];
  for (let page = 0; page < 100; page += 1) {
    const run = await mergeShards({
      positions,
      want,
      order,
      sortKeyOf: (key) => key,
      read,
      budget: createReadBudget(1_000, 60_000),
      readSize: () => 2,
    });
    expect(run.items.length).toBeLessThanOrEqual(want);
    all.push(...run.items);
    if (run.done) {
      return all;
    }
    positions = run.positions;
  }

  throw new Error('the merge never finished');
};

describe('merging the shards of an index', () => {
  it.each([1, 3, 4, 50])('pages in ascending order, each key once, %i at a time', async (want) => {
    expect(await pageThrough('asc', want)).toEqual(everything);
  });

  it('pages in descending order, each key once', async () => {
    expect(await pageThrough('desc', 4)).toEqual([...everything].reverse());
  });

  it('keeps the order when a filter leaves reads empty but not finished', async () => {
    const odd = (key: string): boolean => Number(key.slice(1)) % 2 === 1;

    expect(await pageThrough('asc', 2, odd)).toEqual(everything.filter(odd));
    expect(await pageThrough('desc', 3, odd)).toEqual(everything.filter(odd).reverse());
  });

  it('reads again only the shards that could still hold an earlier key', async () => {
    const { read, reads } = fakeShards(
      [
        ['b1', 'b2', 'b3', 'b4'],
        ['c1', 'c2'],
      ],
      () => true,
      'asc',
    );

    const run = await mergeShards({
      positions: [{}, {}],
      want: 3,
      order: 'asc',
      sortKeyOf: (key) => key,
      read,
      budget: createReadBudget(100, 60_000),
      readSize: () => 2,
    });

    expect(run.items).toEqual(['b1', 'b2', 'b3']);
    // Round one reads both shards; b3 waits only for shard 0's next read, as c1 sorts after it.
    expect(reads).toEqual([0, 1, 0]);
    expect(run.positions).toEqual([{ after: 'b3' }, {}]);
  });
});

describe('the read budget of a page', () => {
  it('allows the first round however slow the clock, then stops at the time limit', () => {
    let now = 0;
    const budget = createReadBudget(100, 1_000, () => now);

    now = 5_000;
    expect(budget.take(8)).toBe(true);
    expect(budget.allows(1)).toBe(false);
    expect(budget.take(1)).toBe(false);
  });

  it('stops when the reads run out', () => {
    const budget = createReadBudget(10, 60_000, () => 0);

    expect(budget.take(8)).toBe(true);
    expect(budget.take(8)).toBe(false);
    expect(budget.take(2)).toBe(true);
    expect(budget.allows(1)).toBe(false);
  });
});
