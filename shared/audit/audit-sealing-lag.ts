/**
 * How far the sealer lags: the age of the oldest entry still unsealed past a grace period.
 *
 * The sealer reads the audit table's stream in order, so when it falls behind or stops, the
 * entries it has not reached are the newest ones older than the point it got to. Reading the
 * time index newest first, below the cutoff, therefore meets those entries first.
 *
 * It reads a sample, not every shard: entries spread evenly over the index's shards by a hash
 * of their id, so a backlog of more than a handful of entries shows in any one shard, and
 * reading two (on the cutoff's day, and the day before when the cutoff is in the first hour
 * of its day) keeps the check to two or four small queries. A backlog of one or two entries
 * may go unseen, as may one that began more than a day ago; in AWS the sealer's IteratorAge
 * alarm covers both.
 */
import { QueryCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { AUDIT_INDEXES, auditDayOf, auditIndexPartition } from './dynamodb-audit-items';

/** Entries younger than this are not late yet: the stream and a batch take a few seconds. */
export const SEALING_GRACE_MS = 60_000;

/** The index shards read; see the file comment for why a sample is enough. */
export const SEALING_LAG_SHARDS = [0, 1] as const;

/** Entries read per shard, newest first below the cutoff. */
const ENTRIES_READ_PER_SHARD = 20;

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 24 * MS_PER_HOUR;

export interface SealingLagOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
}

/** The days whose time partitions may hold the backlog: the cutoff's, and the one before early on. */
const daysToRead = (cutoffMs: number): string[] => {
  const day = auditDayOf(new Date(cutoffMs).toISOString());
  const earlyInDay = cutoffMs - Date.parse(`${day}T00:00:00.000Z`) < MS_PER_HOUR;

  return earlyInDay ? [day, auditDayOf(new Date(cutoffMs - MS_PER_DAY).toISOString())] : [day];
};

/** The age in milliseconds of the oldest unsealed entry found past the grace; 0 for none. */
export const measureSealingLag = async (options: SealingLagOptions): Promise<number> => {
  const nowMs = (options.now ?? (() => new Date()))().getTime();
  const cutoff = new Date(nowMs - SEALING_GRACE_MS).toISOString();
  const index = AUDIT_INDEXES.time;
  const partitions = daysToRead(Date.parse(cutoff)).flatMap((day) =>
    SEALING_LAG_SHARDS.map((shard) => auditIndexPartition('time', day, shard)),
  );

  const pages = await Promise.all(
    partitions.map((partition) =>
      options.client.send(
        new QueryCommand({
          TableName: options.tableName,
          IndexName: index.name,
          KeyConditionExpression: '#pk = :pk AND ts_id < :cutoff',
          FilterExpression: 'attribute_not_exists(seq)',
          // `timestamp` is a reserved word in DynamoDB expressions.
          ExpressionAttributeNames: { '#pk': index.partitionKey, '#timestamp': 'timestamp' },
          ExpressionAttributeValues: { ':pk': { S: partition }, ':cutoff': { S: cutoff } },
          ProjectionExpression: '#timestamp',
          ScanIndexForward: false,
          Limit: ENTRIES_READ_PER_SHARD,
        }),
        { abortSignal: options.signal },
      ),
    ),
  );
  const timestamps = pages.flatMap((page) =>
    (page.Items ?? []).flatMap((item) =>
      item.timestamp?.S === undefined ? [] : [item.timestamp.S],
    ),
  );

  return timestamps.reduce(
    (oldest, timestamp) => Math.max(oldest, nowMs - Date.parse(timestamp)),
    0,
  );
};
