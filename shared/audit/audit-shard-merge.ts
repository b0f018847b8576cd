/**
 * Merges the shards of one index partition set into one ordered run, the way a listing of
 * audit entries reads them. Pure: the caller supplies the read of one shard page, so the rule
 * is the same whatever store is behind it.
 *
 * Each shard is read in sort-key order. A shard page may hold fewer entries than were asked
 * for and still not be the shard's end, because a filter drops entries after the read; so what
 * a shard has *read up to* (its frontier) is tracked apart from what it has *returned*. An entry
 * may be given out only when no other shard can still hold one before it: every other shard
 * either has a buffered entry that comes later, or has read past it, or is finished. Shards that
 * block the next entry are read again, in parallel, until the page is full or the page's
 * budget of reads (a count and a time) is spent.
 *
 * The positions returned say, per shard, what has been given out or skipped, so that the next
 * page starts exactly after it: paging through a window gives every entry exactly once.
 */
import type { AuditOrder, AuditShardPosition } from './audit-store';

/** One read of one shard. */
export interface ShardPage<T> {
  readonly items: readonly T[];
  /** The sort key the read stopped at, when the shard may hold more. */
  readonly lastKey?: string;
}

export type ShardReader<T> = (
  shard: number,
  after: string | undefined,
  size: number,
) => Promise<ShardPage<T>>;

/** What a page may still read; shared by the segments of one page. */
export interface ReadBudget {
  /** Whether `reads` more shard reads fit. */
  allows(reads: number): boolean;
  /** Spends `reads` shard reads; false, spending nothing, when they do not fit. */
  take(reads: number): boolean;
}

/**
 * A budget of `maxReads` shard reads and `maxMs` of reading. The first round is always
 * allowed, however slow the clock says it is, so that every page makes progress.
 */
export const createReadBudget = (
  maxReads: number,
  maxMs: number,
  clock: () => number = () => performance.now(),
): ReadBudget => {
  const startedAt = clock();
  let remaining = maxReads;
  let spent = false;
  const allows = (reads: number): boolean =>
    reads <= remaining && (!spent || clock() - startedAt < maxMs);

  return {
    allows,
    take: (reads) => {
      if (!allows(reads)) {
        return false;
      }
      remaining -= reads;
      spent = true;

      return true;
    },
  };
};

export interface MergeShardsInput<T> {
  readonly positions: readonly AuditShardPosition[];
  /** How many entries to give out at most. */
  readonly want: number;
  readonly order: AuditOrder;
  readonly sortKeyOf: (item: T) => string;
  readonly read: ShardReader<T>;
  readonly budget: ReadBudget;
  /** How many entries one read of one shard asks for, given how many the page still lacks. */
  readonly readSize: (missing: number) => number;
}

export interface MergedRun<T> {
  /** In the requested order, at most `want`. */
  readonly items: T[];
  /** The shard each item came from, index for index. */
  readonly shardOf: number[];
  readonly positions: AuditShardPosition[];
  /** Every shard is finished: nothing of this partition set is left in the window. */
  readonly done: boolean;
}

interface ShardState<T> {
  readonly start: AuditShardPosition;
  buffer: T[];
  /** The sort key the shard has been read up to; `undefined` before its first read. */
  frontier: string | undefined;
  exhausted: boolean;
  lastGiven: string | undefined;
}

const initialState = <T>(start: AuditShardPosition): ShardState<T> => ({
  start,
  buffer: [],
  frontier: start.after,
  exhausted: start.done === true,
  lastGiven: undefined,
});

/** `a` comes before `b` in the listing's order. */
const comesBefore = (order: AuditOrder, a: string, b: string): boolean =>
  order === 'asc' ? a < b : a > b;

const finalPosition = <T>(state: ShardState<T>): AuditShardPosition => {
  if (state.buffer.length > 0) {
    // Buffered entries must be read again next time: resume after the last one given out.
    return state.lastGiven === undefined ? state.start : { after: state.lastGiven };
  }
  if (state.exhausted) {
    return { done: true };
  }

  return state.frontier === undefined ? state.start : { after: state.frontier };
};

/** Merges the shards from `positions` on; see the file comment for the rule. */
export const mergeShards = async <T>(input: MergeShardsInput<T>): Promise<MergedRun<T>> => {
  const { order, sortKeyOf } = input;
  const states = input.positions.map((position) => initialState<T>(position));
  const items: T[] = [];
  const shardOf: number[] = [];

  const bestHead = (): number | undefined => {
    let best: number | undefined;
    states.forEach((state, shard) => {
      const head = state.buffer[0];
      const current = best === undefined ? undefined : states[best]?.buffer[0];
      if (
        head !== undefined &&
        (current === undefined || comesBefore(order, sortKeyOf(head), sortKeyOf(current)))
      ) {
        best = shard;
      }
    });

    return best;
  };

  const readShard = async (shard: number, state: ShardState<T>): Promise<void> => {
    const page = await input.read(shard, state.frontier, input.readSize(input.want - items.length));
    state.buffer.push(...page.items);
    state.exhausted = page.lastKey === undefined;
    state.frontier = page.lastKey ?? state.frontier;
  };

  while (items.length < input.want) {
    const best = bestHead();
    const bestItem = best === undefined ? undefined : states[best]?.buffer[0];
    const bestKey = bestItem === undefined ? undefined : sortKeyOf(bestItem);
    const blocking = states
      .map((state, shard) => ({ state, shard }))
      .filter(
        ({ state }) =>
          state.buffer.length === 0 &&
          !state.exhausted &&
          (bestKey === undefined ||
            state.frontier === undefined ||
            comesBefore(order, state.frontier, bestKey)),
      );

    if (blocking.length === 0) {
      if (best === undefined || bestItem === undefined || bestKey === undefined) {
        break;
      }
      const state = states[best] as ShardState<T>;
      state.buffer.shift();
      state.lastGiven = bestKey;
      items.push(bestItem);
      shardOf.push(best);
      continue;
    }
    if (!input.budget.take(blocking.length)) {
      break;
    }
    await Promise.all(blocking.map(({ state, shard }) => readShard(shard, state)));
  }

  return {
    items,
    shardOf,
    positions: states.map(finalPosition),
    done: states.every((state) => state.exhausted && state.buffer.length === 0),
  };
};

/**
 * The first `count` items of a run and the positions that resume right after them: per shard,
 * the last item kept, or where the run started when none of that shard's items was kept.
 */
export const truncateRun = <T>(
  run: MergedRun<T>,
  count: number,
  startPositions: readonly AuditShardPosition[],
  sortKeyOf: (item: T) => string,
): MergedRun<T> => {
  if (count >= run.items.length) {
    return run;
  }
  const items = run.items.slice(0, count);
  const shardOf = run.shardOf.slice(0, count);
  const positions = startPositions.map((start, shard): AuditShardPosition => {
    const last = shardOf.lastIndexOf(shard);
    const item = last < 0 ? undefined : items[last];

    return item === undefined ? start : { after: sortKeyOf(item) };
  });

  return { items, shardOf, positions, done: false };
};
