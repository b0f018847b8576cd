/**
 * Audit entries on the `audit` table (layout in `dynamodb-audit-items.ts`).
 *
 * Writing: every entry is one conditional put, never an update, so that writers need put-only
 * access. `auditPutItem` gives that put as a transaction item, for code whose audited change
 * must be written in the same transaction as its entry (a task and its `task.create` entry);
 * `writeAuditEntry` writes it alone, for refusals, which change nothing else.
 *
 * Listing: a query is served by one index, the most selective the filters allow: identity,
 * then operation, then service, then time. All its shards are queried in parallel over the
 * window on `ts_id` and merged in order (`audit-shard-merge.ts`); the filters the index does not
 * key on go into a FilterExpression. Nothing scans the table.
 */
import {
  ConditionalCheckFailedException,
  PutItemCommand,
  QueryCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { auditRetentionDays, tableName } from '@shared/config';
import { ConflictError, ValidationError } from '@shared/errors/gateway-error';
import type { UnsealedAuditEntry } from './audit-entry';
import {
  createReadBudget,
  mergeShards,
  truncateRun,
  type MergedRun,
  type ReadBudget,
} from './audit-shard-merge';
import {
  AUDIT_SHARD_COUNT,
  MAX_AUDIT_PAGE_LIMIT,
  type AuditCursor,
  type AuditPage,
  type AuditQuery,
  type AuditShardPosition,
  type AuditStore,
  type StoredAuditEntry,
} from './audit-store';
import {
  AUDIT_INDEXES,
  ENTRY_SK,
  SECONDS_PER_DAY,
  auditDayOf,
  auditEntryItem,
  auditEntryPk,
  auditIdOfTsId,
  auditIndexPartition,
  auditTsId,
  readAuditEntryItem,
  type AuditIndexId,
} from './dynamodb-audit-items';

/**
 * Shard queries one page may make: enough to walk 512 quiet days of the time index (8 shards a
 * day, 64 queries a round), so that on DynamoDB a default window of 400 days is read in one
 * request however quiet it is. Past this, or past `MAX_AUDIT_PAGE_READ_MS`, the page ends early
 * with a cursor, and the next page carries on.
 */
export const MAX_AUDIT_QUERIES_PER_PAGE = 4_096;

/**
 * How long one page may spend reading before it ends early, with a cursor. Well inside the
 * 10 s function timeout, and a bound on the latency of a page whatever the window: DynamoDB
 * Local in particular answers queries far slower than DynamoDB.
 */
export const MAX_AUDIT_PAGE_READ_MS = 3_000;

/**
 * Days of the time index queried at once once a day has been read to its end without filling
 * the page: quiet days cost one parallel round instead of one round each.
 */
export const AUDIT_DAYS_PER_ROUND = 8;

/** The smallest read of one shard: below it, a selective filter costs a round per entry. */
const MIN_SHARD_READ_ITEMS = 16;

const MS_PER_DAY = SECONDS_PER_DAY * 1_000;

type Item = Record<string, AttributeValue>;

export interface DynamoDbAuditStoreOptions {
  /** Days before an entry may expire; default from `AUDIT_RETENTION_DAYS`. */
  readonly retentionDays?: number;
  /** Default {@link MAX_AUDIT_QUERIES_PER_PAGE}; tests lower it to see short pages. */
  readonly maxQueriesPerPage?: number;
  /** Default {@link MAX_AUDIT_PAGE_READ_MS}. */
  readonly maxPageReadMs?: number;
  /** The clock that resolves a window's defaults. */
  readonly now?: () => Date;
}

/** The index that serves a query: the most selective of the filters it has. */
export const chooseAuditIndex = (
  query: Pick<AuditQuery, 'identity' | 'operation' | 'service'>,
): AuditIndexId => {
  if (query.identity !== undefined) return 'identity';
  if (query.operation !== undefined) return 'operation';
  if (query.service !== undefined) return 'service';

  return 'time';
};

/** Each UTC day a window touches, from `since` (inclusive) to `until` (exclusive). */
export const windowDays = (since: string, until: string): string[] => {
  const days: string[] = [];
  const last = Date.parse(until) - 1;
  for (let day = Date.parse(auditDayOf(since)); day <= last; day += MS_PER_DAY) {
    days.push(new Date(day).toISOString().slice(0, 10));
  }

  return days;
};

const auditTsIdOf = (entry: StoredAuditEntry): string => auditTsId(entry);

const freshPositions = (): AuditShardPosition[] =>
  Array.from({ length: AUDIT_SHARD_COUNT }, () => ({}));

/** Reads enough per shard that uniformly spread entries fill the page in about one round. */
const readSize = (missing: number): number =>
  Math.max(MIN_SHARD_READ_ITEMS, Math.ceil((2 * missing) / AUDIT_SHARD_COUNT));

interface ResolvedQuery {
  readonly index: AuditIndexId;
  /** The partition value per segment: one day each on the time index, else the filter value. */
  readonly segments: readonly string[];
  readonly since: string;
  readonly until: string;
  readonly filters: ReadonlyArray<readonly ['service' | 'operation' | 'identity', string]>;
}

const FILTER_NAMES = ['service', 'operation', 'identity'] as const;

/** Where a page stops: the segment to resume in and its shard positions. */
interface PageStop {
  readonly segment: number;
  readonly shards: readonly AuditShardPosition[];
}

/**
 * Adds the runs of consecutive segments, from segment `first` on, to `entries` in order, up to
 * `limit`. Returns where the page stops, when it does within these segments: inside a run that
 * did not finish or was cut to fit, or at the next segment when the page filled up exactly.
 */
const keepRuns = (
  entries: StoredAuditEntry[],
  limit: number,
  runs: readonly MergedRun<StoredAuditEntry>[],
  starts: readonly (readonly AuditShardPosition[])[],
  first: number,
): PageStop | undefined => {
  for (const [offset, run] of runs.entries()) {
    const kept = truncateRun(run, limit - entries.length, starts[offset] ?? [], auditTsIdOf);
    entries.push(...kept.items);
    if (!kept.done) {
      return { segment: first + offset, shards: kept.positions };
    }
    if (entries.length === limit) {
      return { segment: first + offset + 1, shards: freshPositions() };
    }
  }

  return undefined;
};

/** The DynamoDB implementation of `AuditStore` on one audit table. */
export class DynamoDbAuditStore implements AuditStore {
  private readonly retentionDays: number;
  private readonly maxQueriesPerPage: number;
  private readonly maxPageReadMs: number;
  private readonly now: () => Date;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDbAuditStoreOptions = {},
  ) {
    this.retentionDays = options.retentionDays ?? auditRetentionDays();
    this.maxQueriesPerPage = Math.max(
      AUDIT_SHARD_COUNT,
      options.maxQueriesPerPage ?? MAX_AUDIT_QUERIES_PER_PAGE,
    );
    this.maxPageReadMs = options.maxPageReadMs ?? MAX_AUDIT_PAGE_READ_MS;
    this.now = options.now ?? (() => new Date());
  }

  /** The conditional put of a new entry, for the caller's own `TransactWriteItems`. */
  putItem(entry: UnsealedAuditEntry): TransactWriteItem {
    return { Put: this.conditionalPut(entry) };
  }

  async append(entry: UnsealedAuditEntry): Promise<void> {
    try {
      await withDynamoDbErrors(() =>
        this.client.send(new PutItemCommand(this.conditionalPut(entry))),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConflictError(
          'An audit entry with this id exists already.',
          { audit_id: entry.audit_id },
          error,
        );
      }
      throw error;
    }
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_AUDIT_PAGE_LIMIT) {
      // A page of none would hand back the cursor it was given, and a listing would never end.
      throw new ValidationError('The page size is invalid.', [
        { field: 'limit', message: `must be a whole number from 1 to ${MAX_AUDIT_PAGE_LIMIT}` },
      ]);
    }
    const resolved = this.resolve(query);
    const budget = createReadBudget(this.maxQueriesPerPage, this.maxPageReadMs);
    const entries: StoredAuditEntry[] = [];
    const cursorAt = (stop: PageStop): AuditCursor => ({
      since: resolved.since,
      until: resolved.until,
      ...stop,
    });
    let segment = query.cursor?.segment ?? 0;
    let first: readonly AuditShardPosition[] = query.cursor?.shards ?? freshPositions();

    // The first segment is read alone, since a busy day usually fills the page by itself;
    // once one has been read to its end, the next ones are read several at a time.
    let width = 1;
    while (segment < resolved.segments.length) {
      const batch = resolved.segments.slice(segment, segment + width);
      const starts = batch.map((_, offset) => (offset === 0 ? first : freshPositions()));
      const missing = query.limit - entries.length;
      const runs = await Promise.all(
        batch.map((value, offset) =>
          this.mergeSegment(resolved, query, value, starts[offset] ?? first, missing, budget),
        ),
      );
      segment += batch.length;
      // Out of budget, the page ends before the next segment rather than inside it.
      const stop =
        keepRuns(entries, query.limit, runs, starts, segment - batch.length) ??
        (budget.allows(AUDIT_SHARD_COUNT) ? undefined : { segment, shards: freshPositions() });
      if (stop !== undefined) {
        return stop.segment < resolved.segments.length
          ? { entries, cursor: cursorAt(stop) }
          : { entries };
      }
      first = freshPositions();
      width = AUDIT_DAYS_PER_ROUND;
    }

    return { entries };
  }

  /** Never over an existing item: an id written twice is a bug, not a second entry. */
  private conditionalPut(entry: UnsealedAuditEntry) {
    return {
      TableName: this.tableName,
      Item: auditEntryItem(entry, this.retentionDays),
      ConditionExpression: 'attribute_not_exists(pk)',
    };
  }

  /** The index, the segments, the window and the remaining filters of a query. */
  private resolve(query: AuditQuery): ResolvedQuery {
    const until = query.cursor?.until ?? (query.until ?? this.now()).toISOString();
    const since =
      query.cursor?.since ??
      (query.since ?? new Date(Date.parse(until) - this.retentionDays * MS_PER_DAY)).toISOString();
    const index = chooseAuditIndex(query);
    const filters = FILTER_NAMES.filter((name) => name !== index && query[name] !== undefined).map(
      (name) => [name, query[name] as string] as const,
    );
    const empty = since >= until;
    const days = windowDays(since, until);
    // Days are read in the listing's order: the newest first when newest entries come first.
    const segments =
      index !== 'time' ? [query[index] as string] : query.order === 'desc' ? days.reverse() : days;

    return { index, segments: empty ? [] : segments, since, until, filters };
  }

  private async mergeSegment(
    resolved: ResolvedQuery,
    query: AuditQuery,
    value: string,
    positions: readonly AuditShardPosition[],
    missing: number,
    budget: ReadBudget,
  ): Promise<MergedRun<StoredAuditEntry>> {
    return mergeShards({
      positions,
      want: missing,
      order: query.order,
      sortKeyOf: auditTsIdOf,
      budget,
      readSize,
      read: (shard, after, size) => this.readShard(resolved, query, value, shard, after, size),
    });
  }

  private async readShard(
    resolved: ResolvedQuery,
    query: AuditQuery,
    value: string,
    shard: number,
    after: string | undefined,
    size: number,
  ): Promise<{ items: StoredAuditEntry[]; lastKey?: string }> {
    const index = AUDIT_INDEXES[resolved.index];
    const partition = auditIndexPartition(resolved.index, value, shard);
    const names: Record<string, string> = { '#pk': index.partitionKey, '#ts': 'ts_id' };
    const values: Item = {
      ':pk': { S: partition },
      ':since': { S: resolved.since },
      ':until': { S: resolved.until },
    };
    for (const [name, filter] of resolved.filters) {
      names[`#${name}`] = name;
      values[`:${name}`] = { S: filter };
    }
    const filterExpression = resolved.filters.map(([name]) => `#${name} = :${name}`).join(' AND ');
    // An index key must name the table's key too; `ts_id` holds the audit id, so it is rebuilt.
    const startKey: Item | undefined =
      after === undefined
        ? undefined
        : {
            [index.partitionKey]: { S: partition },
            ts_id: { S: after },
            pk: { S: auditEntryPk(auditIdOfTsId(after)) },
            sk: { S: ENTRY_SK },
          };

    const result = await withDynamoDbErrors(() =>
      this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index.name,
          // `until` is a bare timestamp and every ts_id at that instant is longer, so BETWEEN
          // keeps the window half-open: since <= timestamp < until.
          KeyConditionExpression: '#pk = :pk AND #ts BETWEEN :since AND :until',
          ...(filterExpression === '' ? {} : { FilterExpression: filterExpression }),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ScanIndexForward: query.order === 'asc',
          Limit: size,
          ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
        }),
      ),
    );
    const lastKey = result.LastEvaluatedKey?.ts_id?.S;

    return {
      items: (result.Items ?? []).map(readAuditEntryItem),
      ...(lastKey === undefined ? {} : { lastKey }),
    };
  }
}

let shared: DynamoDbAuditStore | undefined;

/** The store of the running function: the shared client and the table the stack names. */
export const gatewayAuditStore = (): DynamoDbAuditStore => {
  shared ??= new DynamoDbAuditStore(dynamoDb(), tableName('audit'));

  return shared;
};

/**
 * The put of `entry` as one item of a `TransactWriteItems`: written with the audited change or
 * not at all. Its condition fails, and the whole transaction with it, if the id exists already.
 */
export const auditPutItem = (entry: UnsealedAuditEntry): TransactWriteItem =>
  gatewayAuditStore().putItem(entry);

/** Writes `entry` on its own: for a refusal, which has no change to go with. */
export const writeAuditEntry = (entry: UnsealedAuditEntry): Promise<void> =>
  gatewayAuditStore().append(entry);

/** Lists entries with the running function's store. */
export const queryAuditEntries = (query: AuditQuery): Promise<AuditPage> =>
  gatewayAuditStore().query(query);
