/**
 * How a fan-out too large for one invocation is handed on, with no infrastructure of its own:
 * the consumer writes a continuation item to the `events` table, and the table's stream brings
 * it back to the same consumer, which resumes from the item's cursor.
 *
 *   continuation  pk = fanout#<channel>#<event id>   sk = part (N): 1, 2, …
 *                 the event's own attributes (event_id, channel, type, data_json, timestamp,
 *                 owner?, request_id?), cursor S, expires_at N (an hour on)
 *
 * The put is conditional on the item not existing, so a retried batch that writes the same
 * part again hands nothing on twice. Readers of events query `channel#` partitions only, so
 * they never see these items.
 */
import {
  ConditionalCheckFailedException,
  PutItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import { eventItem, readEventItem, type ReadableEventItem } from './dynamodb-event-items';
import type { StoredEvent } from './event-store';

export const CONTINUATION_PK_PREFIX = 'fanout#';

/** A continuation only needs to outlive the stream's delivery of it. */
export const CONTINUATION_TTL_SECONDS = 60 * 60;

export interface FanOutContinuation {
  readonly event: StoredEvent;
  readonly cursor: string;
  /** 1 for the first hand-on of an event, then 2, 3, … */
  readonly part: number;
}

export const isContinuationItem = (item: ReadableEventItem | undefined): boolean =>
  item?.pk?.S?.startsWith(CONTINUATION_PK_PREFIX) === true;

/** The continuation a stream image holds. */
export const readContinuation = (item: ReadableEventItem): FanOutContinuation => ({
  event: readEventItem(item),
  cursor: item.cursor?.S ?? '',
  part: Number(item.sk?.N ?? '0'),
});

/** Writes the continuation; a part written before (by a retried batch) is left as it is. */
export const writeContinuation = async (
  continuation: FanOutContinuation,
  client: DynamoDBClient = dynamoDb(),
  table: string = tableName('events'),
  now: Date = new Date(),
): Promise<void> => {
  const expiresAt = Math.floor(now.getTime() / 1_000) + CONTINUATION_TTL_SECONDS;
  const { event } = continuation;
  const item: Record<string, AttributeValue> = {
    ...eventItem(event, expiresAt),
    pk: { S: `${CONTINUATION_PK_PREFIX}${event.channel}#${event.id}` },
    sk: { N: String(continuation.part) },
    cursor: { S: continuation.cursor },
  };

  try {
    await withDynamoDbErrors(() =>
      client.send(
        new PutItemCommand({
          TableName: table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) {
      throw error;
    }
  }
};
