/**
 * `RateCounterStore` on the rate-counters table: one item per counter key (`pk`), holding
 * `count`, on the token endpoint's per-source counter also `failures`, and `expires_at` for TTL.
 *
 * Each increment is one `UpdateItem` whose condition DynamoDB evaluates and applies atomically
 * on the item: `ADD count 1` only if `count` is absent or below the limit. Concurrent requests
 * are serialised by DynamoDB on the item, so exactly `limit` of them succeed per window. A
 * failed condition is the refusal, translated here into an outcome; throttling and network
 * failures become `ServiceUnavailableError` for the limiter's fault policy to handle.
 */
import {
  ConditionalCheckFailedException,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import {
  RateCounterStoreError,
  type CounterIncrement,
  type CounterOutcome,
  type FailureRecord,
  type RateCounterStore,
  type RefusalReason,
} from './rate-counter-store';

type Item = Record<string, AttributeValue>;

const readNumber = (item: Item | undefined, name: string): number | undefined => {
  const value = item?.[name]?.N;

  return value === undefined ? undefined : Number(value);
};

const requireNumber = (item: Item | undefined, name: string): number => {
  const value = readNumber(item, name);
  if (value === undefined || !Number.isFinite(value)) {
    throw new RateCounterStoreError(
      'rateCounters.malformedReply',
      `the update returned no ${name}`,
    );
  }

  return value;
};

/** Which half of the condition failed, from the item as it was. */
const refusalReason = (old: Item | undefined, counter: CounterIncrement): RefusalReason => {
  const failures = readNumber(old, 'failures') ?? 0;

  return counter.failureLimit !== undefined && failures >= counter.failureLimit
    ? 'failures'
    : 'requests';
};

const incrementCommand = (table: string, counter: CounterIncrement): UpdateItemCommand => {
  const guarded = counter.failureLimit !== undefined;
  const values: Item = {
    ':one': { N: '1' },
    ':limit': { N: String(counter.limit) },
    ':expiresAt': { N: String(counter.expiresAtSeconds) },
  };
  if (guarded) {
    values[':failureLimit'] = { N: String(counter.failureLimit) };
  }
  const underLimit = 'attribute_not_exists(#count) OR #count < :limit';
  const fewFailures = 'attribute_not_exists(#failures) OR #failures < :failureLimit';

  return new UpdateItemCommand({
    TableName: table,
    Key: { pk: { S: counter.key } },
    UpdateExpression: 'ADD #count :one SET expires_at = :expiresAt',
    ConditionExpression: guarded ? `(${underLimit}) AND (${fewFailures})` : underLimit,
    ExpressionAttributeNames: guarded
      ? { '#count': 'count', '#failures': 'failures' }
      : { '#count': 'count' },
    ExpressionAttributeValues: values,
    ReturnValues: 'UPDATED_NEW',
    // Only a guarded counter needs to know which half refused; the others spare the bytes.
    ...(guarded ? { ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const } : {}),
  });
};

/** The store of the running function: the shared client and the table the stack names. */
export const defaultRateCounterStore = (): RateCounterStore =>
  new DynamoDbRateCounterStore(dynamoDb(), tableName('rateCounters'));

/**
 * `RateCounterStore` on one rate-counters table; the client and the table name are given, so
 * that tests can point it at any DynamoDB.
 */
export class DynamoDbRateCounterStore implements RateCounterStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async increment(counter: CounterIncrement): Promise<CounterOutcome> {
    try {
      const result = await withDynamoDbErrors(() =>
        this.client.send(incrementCommand(this.tableName, counter)),
      );

      return { counted: true, count: requireNumber(result.Attributes, 'count') };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return { counted: false, reason: refusalReason(error.Item, counter) };
      }
      throw error;
    }
  }

  async recordFailure(failure: FailureRecord): Promise<number> {
    const result = await withDynamoDbErrors(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: failure.key } },
          UpdateExpression: 'ADD #failures :one SET expires_at = :expiresAt',
          ExpressionAttributeNames: { '#failures': 'failures' },
          ExpressionAttributeValues: {
            ':one': { N: '1' },
            ':expiresAt': { N: String(failure.expiresAtSeconds) },
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );

    return requireNumber(result.Attributes, 'failures');
  }
}
