/**
 * Idempotency records on the tasks table, one item per key and identity:
 *
 *   pk `idem#<sha256 hex of identity \n key>`, sk `idem`
 *   fingerprint S, state S (`in_flight` | `completed`), created_at S, lock_expires_at S,
 *   record_expires_at S (ISO 8601), expires_at N (the same instant in epoch seconds, the
 *   table's TTL attribute), response_json S? (once completed)
 *
 * The key is hashed so that neither the identity nor whatever a client put in its key shows
 * in the table's key space or its stream; `pk` never starts with `task#`, so stream readers
 * pass these items by. TTL deletes lazily, so every condition and every read also compares
 * `expires_at` itself.
 */
import { createHash } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import type { IdempotencyRecord, StoredResponse } from './idempotency';
import type {
  IdempotencyCompletion,
  IdempotencyKeyRef,
  IdempotencyStore,
} from './idempotency-store';

export const IDEMPOTENCY_PK_PREFIX = 'idem#';

export const IDEMPOTENCY_SK = 'idem';

type Item = Record<string, AttributeValue>;

const MS_PER_SECOND = 1000;

/** The `pk` of a key's record. */
export const idempotencyPk = (ref: IdempotencyKeyRef): string =>
  `${IDEMPOTENCY_PK_PREFIX}${createHash('sha256').update(`${ref.identity}\n${ref.key}`).digest('hex')}`;

const keyOf = (ref: IdempotencyKeyRef): Item => ({
  pk: { S: idempotencyPk(ref) },
  sk: { S: IDEMPOTENCY_SK },
});

const epochSeconds = (isoTime: string): number => Math.ceil(Date.parse(isoTime) / MS_PER_SECOND);

const recordItem = (ref: IdempotencyKeyRef, record: IdempotencyRecord): Item => ({
  ...keyOf(ref),
  fingerprint: { S: record.fingerprint },
  state: { S: record.state },
  created_at: { S: record.created_at },
  lock_expires_at: { S: record.lock_expires_at },
  record_expires_at: { S: record.expires_at },
  expires_at: { N: String(epochSeconds(record.expires_at)) },
  ...(record.response === undefined
    ? {}
    : { response_json: { S: JSON.stringify(record.response) } }),
});

const readResponse = (item: Item): StoredResponse | undefined => {
  const text = item.response_json?.S;

  return text === undefined ? undefined : (JSON.parse(text) as StoredResponse);
};

const readRecord = (item: Item): IdempotencyRecord | undefined => {
  const state = item.state?.S;
  const fingerprint = item.fingerprint?.S;
  const createdAt = item.created_at?.S;
  const lockExpiresAt = item.lock_expires_at?.S;
  const expiresAt = item.record_expires_at?.S;
  if (
    (state !== 'in_flight' && state !== 'completed') ||
    fingerprint === undefined ||
    createdAt === undefined ||
    lockExpiresAt === undefined ||
    expiresAt === undefined
  ) {
    // Not a record this code wrote; the key is treated as free and the put overwrites it.
    return undefined;
  }
  const response = readResponse(item);

  return {
    fingerprint,
    state,
    created_at: createdAt,
    lock_expires_at: lockExpiresAt,
    expires_at: expiresAt,
    ...(response === undefined ? {} : { response }),
  };
};

// Held: the record is still the in-flight one this request stored. `created_at` has
// milliseconds and is conditional on the key being free when it was stored, so two requests
// that each hold a key in turn never share it.
const HELD_CONDITION = '#state = :in_flight AND created_at = :held_created_at';

const heldValues = (held: IdempotencyRecord): Item => ({
  ':in_flight': { S: 'in_flight' },
  ':held_created_at': { S: held.created_at },
});

/** The DynamoDB implementation of `IdempotencyStore` on the tasks table. */
export class DynamoDbIdempotencyStore implements IdempotencyStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async find(ref: IdempotencyKeyRef): Promise<IdempotencyRecord | undefined> {
    const output = await withDynamoDbErrors(() =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: keyOf(ref), ConsistentRead: true }),
      ),
    );

    return output.Item === undefined ? undefined : readRecord(output.Item);
  }

  async acquire(ref: IdempotencyKeyRef, record: IdempotencyRecord, now: Date): Promise<boolean> {
    try {
      await withDynamoDbErrors(() =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: recordItem(ref, record),
            // Free: nothing there, a record past its 24 hours, or a lock that outlived a
            // request that crashed, for the same body only.
            ConditionExpression:
              'attribute_not_exists(pk) OR record_expires_at <= :now OR ' +
              '(#state = :in_flight AND lock_expires_at <= :now AND fingerprint = :fingerprint)',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: {
              ':now': { S: now.toISOString() },
              ':in_flight': { S: 'in_flight' },
              ':fingerprint': { S: record.fingerprint },
            },
          }),
        ),
      );

      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return false;
      }
      throw error;
    }
  }

  async release(ref: IdempotencyKeyRef, held: IdempotencyRecord): Promise<void> {
    try {
      await withDynamoDbErrors(() =>
        this.client.send(
          new DeleteItemCommand({
            TableName: this.tableName,
            Key: keyOf(ref),
            ConditionExpression: HELD_CONDITION,
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: heldValues(held),
          }),
        ),
      );
    } catch (error) {
      // Someone else holds the key by now: theirs to keep, nothing of ours to free.
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
    }
  }

  /**
   * The put that completes a key, for the `TransactWriteItems` that creates the task: it
   * fails, and the whole transaction with it, unless the key is still held by `held`.
   */
  completionItem(completion: IdempotencyCompletion): TransactWriteItem {
    return {
      Put: {
        TableName: this.tableName,
        Item: recordItem(completion, completion.completed),
        ConditionExpression: HELD_CONDITION,
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: heldValues(completion.held),
      },
    };
  }
}

let shared: DynamoDbIdempotencyStore | undefined;

/** The idempotency store of the running function: the shared client, the stack's tasks table. */
export const gatewayIdempotencyStore = (): DynamoDbIdempotencyStore => {
  shared ??= new DynamoDbIdempotencyStore(dynamoDb(), tableName('tasks'));

  return shared;
};
