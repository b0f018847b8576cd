/**
 * The client registry on the `clients` table. One client is several items:
 *
 *   pk = client#<id>       sk = profile    the record itself
 *   pk = cert#<subject DN> sk = mapping    one per certificate subject, pointing at the id
 *   pk = client#<id>       sk = failures   the failed-check counter, with an `expires_at` TTL
 *
 * The profile and its mappings are written in one transaction so that a subject never points
 * at a client that does not exist or is held by two clients. The failure counter changes only
 * through conditional updates, never read-then-write, so that parallel failures all count.
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  GetItemCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import { ConflictError, NotFoundError, ValidationError } from '@shared/errors/gateway-error';
import {
  CLIENT_STATUSES,
  DEFAULT_LIST_LIMIT,
  FAILURE_RECORD_TTL_SECONDS,
  FAILURE_WINDOW_SECONDS,
  LOCKOUT_SECONDS,
  MAX_FAILURES,
  MAX_LIST_LIMIT,
  rotateSecrets,
  validateClientChanges,
  type ClientChanges,
  type ClientPage,
  type ClientRateLimits,
  type ClientRecord,
  type ClientSecret,
  type ClientStatus,
  type ClientStore,
  type FailureState,
  type ListClientsOptions,
  type RotationOptions,
} from './client-registry';
import { isKnownScope } from './scopes';
import { CodedError } from '@shared/errors/coded-error';

type Item = Record<string, AttributeValue>;

/** The expression of an update; the adapter adds the table, the key and what it returns. */
type UpdateParts = Pick<
  UpdateItemCommandInput,
  'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
> & { readonly UpdateExpression: string };

/** Codes of the errors this adapter raises itself; everything else is a gateway error. */
export const CLIENT_STORE_ERROR_CODES = [
  'clientStore.malformedItem',
  'clientStore.tooManyTransactionItems',
] as const;

export type ClientStoreErrorCode = (typeof CLIENT_STORE_ERROR_CODES)[number];

/**
 * An item in the table that this code did not write, or a change with more extra items than one
 * transaction holds: a fault for the operator or the caller, not the client.
 */
export class ClientStoreError extends CodedError<ClientStoreErrorCode> {
  override readonly name = 'ClientStoreError';
}

/**
 * The add fails only when a new window must start, and the restart only when another failure
 * started it first, after which the next add holds: two rounds suffice, a third is slack.
 */
const MAX_FAILURE_UPDATE_ROUNDS = 3;

/** DynamoDB's limit on the items of one `TransactWriteItems`. */
export const MAX_TRANSACTION_ITEMS = 100;

const PROFILE_SK = 'profile';
const MAPPING_SK = 'mapping';
const FAILURES_SK = 'failures';

const clientPk = (clientId: string): string => `client#${clientId}`;

const profileKey = (clientId: string): Item => ({
  pk: { S: clientPk(clientId) },
  sk: { S: PROFILE_SK },
});

const failuresKey = (clientId: string): Item => ({
  pk: { S: clientPk(clientId) },
  sk: { S: FAILURES_SK },
});

const mappingKey = (subject: string): Item => ({
  pk: { S: `cert#${subject}` },
  sk: { S: MAPPING_SK },
});

// Writing items

const stringList = (values: readonly string[]): AttributeValue => ({
  L: values.map((value) => ({ S: value })),
});

const rateLimitsValue = (limits: ClientRateLimits): AttributeValue => ({
  M: {
    ...(limits.perMinute === undefined ? {} : { per_minute: { N: String(limits.perMinute) } }),
    ...(limits.perSecond === undefined ? {} : { per_second: { N: String(limits.perSecond) } }),
  },
});

const secretsValue = (secrets: readonly ClientSecret[]): AttributeValue => ({
  L: secrets.map((secret) => ({
    M: {
      hash: { S: secret.hash },
      created_at: { S: secret.createdAt },
      ...(secret.expiresAt === undefined ? {} : { expires_at: { S: secret.expiresAt } }),
    },
  })),
});

const profileItem = (record: ClientRecord): Item => ({
  ...profileKey(record.clientId),
  client_id: { S: record.clientId },
  scopes: stringList(record.scopes),
  status: { S: record.status },
  ...(record.rateLimits === undefined ? {} : { rate_limits: rateLimitsValue(record.rateLimits) }),
  certificate_subjects: stringList(record.certificateSubjects),
  secrets: secretsValue(record.secrets),
  created_at: { S: record.createdAt },
  updated_at: { S: record.updatedAt },
  // Guards read-modify-write updates (rotation) against a change made in between.
  version: { N: '1' },
});

// Reading items

const malformed = (what: string): ClientStoreError =>
  new ClientStoreError('clientStore.malformedItem', `a client item has no valid ${what}`);

const readString = (item: Item, name: string): string => {
  const value = item[name]?.S;
  if (value === undefined) {
    throw malformed(name);
  }

  return value;
};

const readNumber = (item: Item, name: string): number => {
  const value = Number(item[name]?.N);
  if (!Number.isFinite(value)) {
    throw malformed(name);
  }

  return value;
};

const readStringList = (item: Item, name: string): string[] =>
  (item[name]?.L ?? []).map((value) => {
    if (value.S === undefined) {
      throw malformed(name);
    }

    return value.S;
  });

const readStatus = (item: Item): ClientStatus => {
  const status = readString(item, 'status');
  if (status !== CLIENT_STATUSES.active && status !== CLIENT_STATUSES.disabled) {
    throw malformed('status');
  }

  return status;
};

const readRateLimits = (item: Item): ClientRateLimits | undefined => {
  const limits = item.rate_limits?.M;
  if (limits === undefined) {
    return undefined;
  }

  return {
    ...(limits.per_minute === undefined ? {} : { perMinute: readNumber(limits, 'per_minute') }),
    ...(limits.per_second === undefined ? {} : { perSecond: readNumber(limits, 'per_second') }),
  };
};

const readSecrets = (item: Item): ClientSecret[] =>
  (item.secrets?.L ?? []).map((value) => {
    const secret = value.M;
    if (secret === undefined) {
      throw malformed('secrets');
    }
    const expiresAt = secret.expires_at?.S;

    return {
      hash: readString(secret, 'hash'),
      createdAt: readString(secret, 'created_at'),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
  });

const readRecord = (item: Item): ClientRecord => {
  const rateLimits = readRateLimits(item);

  return {
    clientId: readString(item, 'client_id'),
    // A scope the gateway no longer knows grants nothing, so it is dropped rather than fatal.
    scopes: readStringList(item, 'scopes').filter(isKnownScope),
    status: readStatus(item),
    ...(rateLimits === undefined ? {} : { rateLimits }),
    certificateSubjects: readStringList(item, 'certificate_subjects'),
    secrets: readSecrets(item),
    createdAt: readString(item, 'created_at'),
    updatedAt: readString(item, 'updated_at'),
  };
};

const readFailures = (item: Item): FailureState => ({
  count: readNumber(item, 'failure_count'),
  windowStartedAtMs: readNumber(item, 'window_started_at_ms'),
  lastFailureAtMs: readNumber(item, 'last_failure_at_ms'),
});

// Paging

const invalidCursor = (): ValidationError =>
  new ValidationError('The cursor is invalid.', [
    { field: 'cursor', message: 'must be the cursor of a previous page' },
  ]);

const encodeCursor = (key: Item | undefined): string | undefined =>
  key === undefined
    ? undefined
    : Buffer.from(JSON.stringify({ pk: key.pk?.S, sk: key.sk?.S })).toString('base64url');

const decodeCursor = (cursor: string | undefined): Item | undefined => {
  if (cursor === undefined) {
    return undefined;
  }
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    const { pk, sk } = (key ?? {}) as { pk?: unknown; sk?: unknown };
    if (typeof pk === 'string' && typeof sk === 'string') {
      return { pk: { S: pk }, sk: { S: sk } };
    }
  } catch {
    // Not JSON: the same answer as JSON of the wrong shape.
  }

  throw invalidCursor();
};

const validateLimit = (limit: number): number => {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new ValidationError('The page size is invalid.', [
      { field: 'limit', message: `must be a whole number from 1 to ${MAX_LIST_LIMIT}` },
    ]);
  }

  return limit;
};

// Errors

/**
 * Whether the profile's own condition failed: on a plain update, or on the profile update that
 * is always the first item of a transaction. A failed condition on an extra item (an audit put
 * whose id exists) is the caller's bug and is left to rethrow as it is.
 */
const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof TransactionCanceledException &&
    error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed');

/** The items of one transaction, refused before sending when DynamoDB would refuse them. */
const transactionItems = (items: readonly TransactWriteItem[]): TransactWriteItem[] => {
  if (items.length > MAX_TRANSACTION_ITEMS) {
    throw new ClientStoreError(
      'clientStore.tooManyTransactionItems',
      `a client change needs ${items.length} items, more than the ${MAX_TRANSACTION_ITEMS} ` +
        'one transaction holds',
    );
  }

  return [...items];
};

const notFound = (clientId: string): NotFoundError =>
  new NotFoundError(`No client has the id "${clientId}".`, { clientId });

/** The store of the running function: the shared client and the table the stack names. */
export const defaultClientStore = (): ClientStore =>
  new DynamoDbClientStore(dynamoDb(), tableName('clients'));

/**
 * `ClientStore` on one clients table; the client and the table name are given, so that tests
 * and the CLI can point it at any DynamoDB.
 *
 * `create`, `rotateSecret` and `disable` take `alsoWrite`: items written in the same
 * transaction as the change (the CLI's audit entry), so that both are written or neither is.
 */
export class DynamoDbClientStore implements ClientStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async get(clientId: string): Promise<ClientRecord | undefined> {
    const item = await this.getItem(profileKey(clientId));

    return item === undefined ? undefined : readRecord(item);
  }

  async create(record: ClientRecord, alsoWrite: readonly TransactWriteItem[] = []): Promise<void> {
    const absent = 'attribute_not_exists(pk)';
    const puts = [
      profileItem(record),
      ...record.certificateSubjects.map((subject) => ({
        ...mappingKey(subject),
        client_id: { S: record.clientId },
      })),
    ];

    try {
      await withDynamoDbErrors(() =>
        this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: transactionItems([
              ...puts.map((Item) => ({
                Put: { TableName: this.tableName, Item, ConditionExpression: absent },
              })),
              ...alsoWrite,
            ]),
          }),
        ),
      );
    } catch (error) {
      throw this.creationConflict(error, record) ?? error;
    }
  }

  async list(options: ListClientsOptions = {}): Promise<ClientPage> {
    const limit = validateLimit(options.limit ?? DEFAULT_LIST_LIMIT);
    const clients: ClientRecord[] = [];
    let startKey = decodeCursor(options.cursor);

    // A scan counts the items it reads, mappings and counters included, before the filter:
    // asking for no more than are still missing keeps the cursor exactly after the last one.
    do {
      const page = await withDynamoDbErrors(() =>
        this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: 'sk = :profile',
            ExpressionAttributeValues: { ':profile': { S: PROFILE_SK } },
            ExclusiveStartKey: startKey,
            Limit: limit - clients.length,
            ConsistentRead: true,
          }),
        ),
      );
      clients.push(...(page.Items ?? []).map(readRecord));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && clients.length < limit);

    const cursor = encodeCursor(startKey);

    return cursor === undefined ? { clients } : { clients, cursor };
  }

  async rotateSecret(
    clientId: string,
    secretHash: string,
    options: RotationOptions,
    alsoWrite: readonly TransactWriteItem[] = [],
  ): Promise<ClientRecord> {
    const item = await this.getItem(profileKey(clientId));
    if (item === undefined) {
      throw notFound(clientId);
    }
    const secrets = rotateSecrets(
      readRecord(item).secrets,
      secretHash,
      options.now,
      options.graceSeconds,
    );

    try {
      return await this.updateProfile(
        clientId,
        {
          UpdateExpression: 'SET secrets = :secrets, updated_at = :now ADD #version :one',
          ConditionExpression: '#version = :version',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: {
            ':secrets': secretsValue(secrets),
            ':now': { S: options.now.toISOString() },
            ':one': { N: '1' },
            ':version': { N: String(readNumber(item, 'version')) },
          },
        },
        alsoWrite,
      );
    } catch (error) {
      if (isConditionFailure(error)) {
        throw new ConflictError('The client changed during the rotation; rotate again.', {
          clientId,
        });
      }
      throw error;
    }
  }

  async update(clientId: string, changes: ClientChanges, now: Date): Promise<ClientRecord> {
    const valid = validateClientChanges(changes);
    const sets = ['updated_at = :now'];
    const values: Item = { ':now': { S: now.toISOString() }, ':one': { N: '1' } };
    let remove = '';
    if (valid.scopes !== undefined) {
      sets.push('scopes = :scopes');
      values[':scopes'] = stringList(valid.scopes);
    }
    if (valid.rateLimits === null) {
      remove = ' REMOVE rate_limits';
    } else if (valid.rateLimits !== undefined) {
      sets.push('rate_limits = :limits');
      values[':limits'] = rateLimitsValue(valid.rateLimits);
    }

    return this.updateExisting(clientId, {
      UpdateExpression: `SET ${sets.join(', ')} ADD #version :one${remove}`,
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: values,
    });
  }

  async disable(
    clientId: string,
    now: Date,
    alsoWrite: readonly TransactWriteItem[] = [],
  ): Promise<ClientRecord> {
    return this.updateExisting(
      clientId,
      {
        UpdateExpression: 'SET #status = :disabled, updated_at = :now ADD #version :one',
        ExpressionAttributeNames: { '#status': 'status', '#version': 'version' },
        ExpressionAttributeValues: {
          ':disabled': { S: CLIENT_STATUSES.disabled },
          ':now': { S: now.toISOString() },
          ':one': { N: '1' },
        },
      },
      alsoWrite,
    );
  }

  async findByCertificateSubject(subject: string): Promise<ClientRecord | undefined> {
    const mapping = await this.getItem(mappingKey(subject.trim()));
    if (mapping === undefined) {
      return undefined;
    }

    return this.get(readString(mapping, 'client_id'));
  }

  /**
   * One failure, counted by DynamoDB rather than by reading and writing back. The first update
   * adds one while the window is open or a lockout runs (`failureContinues`); if neither holds,
   * or there is no counter yet, the second starts a new window at 1 under the opposite
   * condition. Each update is atomic, so fifty parallel failures count fifty.
   */
  async recordFailure(clientId: string, now: Date): Promise<FailureState> {
    const nowMs = now.getTime();
    const values: Item = {
      ':one': { N: '1' },
      ':now': { N: String(nowMs) },
      ':windowFloor': { N: String(nowMs - FAILURE_WINDOW_SECONDS * 1_000) },
      ':lockFloor': { N: String(nowMs - LOCKOUT_SECONDS * 1_000) },
      ':max': { N: String(MAX_FAILURES) },
      ':expires': { N: String(Math.floor(nowMs / 1_000) + FAILURE_RECORD_TTL_SECONDS) },
    };
    const continues =
      'window_started_at_ms > :windowFloor OR ' +
      '(failure_count >= :max AND last_failure_at_ms > :lockFloor)';

    for (let round = 0; round < MAX_FAILURE_UPDATE_ROUNDS; round += 1) {
      const added = await this.conditionalFailureUpdate(clientId, {
        UpdateExpression:
          'ADD failure_count :one SET last_failure_at_ms = :now, expires_at = :expires',
        ConditionExpression: continues,
        ExpressionAttributeValues: values,
      });
      if (added !== undefined) {
        return added;
      }

      const restarted = await this.conditionalFailureUpdate(clientId, {
        UpdateExpression:
          'SET failure_count = :one, window_started_at_ms = :now, ' +
          'last_failure_at_ms = :now, expires_at = :expires',
        ConditionExpression: `attribute_not_exists(pk) OR NOT (${continues})`,
        ExpressionAttributeValues: values,
      });
      if (restarted !== undefined) {
        return restarted;
      }
    }

    throw new ConflictError('The failure count kept changing; try again.', { clientId });
  }

  async clearFailures(clientId: string): Promise<void> {
    await withDynamoDbErrors(() =>
      this.client.send(
        new DeleteItemCommand({ TableName: this.tableName, Key: failuresKey(clientId) }),
      ),
    );
  }

  async getFailures(clientId: string): Promise<FailureState | undefined> {
    const item = await this.getItem(failuresKey(clientId));

    return item === undefined ? undefined : readFailures(item);
  }

  private async getItem(key: Item): Promise<Item | undefined> {
    const result = await withDynamoDbErrors(() =>
      this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      ),
    );

    return result.Item;
  }

  /**
   * Updates the profile and returns it as it is afterwards. With `alsoWrite`, the update and
   * those items are one transaction, which returns no values: the profile is then read back
   * with a consistent read, which shows a change made in between, if any.
   */
  private async updateProfile(
    clientId: string,
    expression: UpdateParts,
    alsoWrite: readonly TransactWriteItem[] = [],
  ): Promise<ClientRecord> {
    if (alsoWrite.length > 0) {
      return this.updateProfileWith(clientId, expression, alsoWrite);
    }

    const result = await withDynamoDbErrors(() =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: profileKey(clientId),
          ReturnValues: 'ALL_NEW',
          ...expression,
        }),
      ),
    );
    if (result.Attributes === undefined) {
      throw malformed('profile after update');
    }

    return readRecord(result.Attributes);
  }

  private async updateProfileWith(
    clientId: string,
    expression: UpdateParts,
    alsoWrite: readonly TransactWriteItem[],
  ): Promise<ClientRecord> {
    const update: TransactWriteItem = {
      Update: { TableName: this.tableName, Key: profileKey(clientId), ...expression },
    };

    await withDynamoDbErrors(() =>
      this.client.send(
        new TransactWriteItemsCommand({ TransactItems: transactionItems([update, ...alsoWrite]) }),
      ),
    );
    const item = await this.getItem(profileKey(clientId));
    if (item === undefined) {
      throw malformed('profile after update');
    }

    return readRecord(item);
  }

  /** An update that must find the client: a failed `attribute_exists` means an unknown id. */
  private async updateExisting(
    clientId: string,
    expression: Omit<UpdateParts, 'ConditionExpression'>,
    alsoWrite: readonly TransactWriteItem[] = [],
  ): Promise<ClientRecord> {
    try {
      return await this.updateProfile(
        clientId,
        { ...expression, ConditionExpression: 'attribute_exists(pk)' },
        alsoWrite,
      );
    } catch (error) {
      throw isConditionFailure(error) ? notFound(clientId) : error;
    }
  }

  /** The counter after the update, or `undefined` when its condition did not hold. */
  private async conditionalFailureUpdate(
    clientId: string,
    expression: UpdateParts,
  ): Promise<FailureState | undefined> {
    try {
      const result = await withDynamoDbErrors(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: failuresKey(clientId),
            ReturnValues: 'ALL_NEW',
            ...expression,
          }),
        ),
      );

      return readFailures(result.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) {
        return undefined;
      }
      throw error;
    }
  }

  /** Which put of `create` failed its condition: the profile (index 0) or a mapping. */
  private creationConflict(error: unknown, record: ClientRecord): ConflictError | undefined {
    if (!(error instanceof TransactionCanceledException)) {
      return undefined;
    }
    const reasons = error.CancellationReasons ?? [];
    if (reasons[0]?.Code === 'ConditionalCheckFailed') {
      return new ConflictError(
        `A client with the id "${record.clientId}" exists.`,
        { clientId: record.clientId },
        error,
      );
    }
    const taken = reasons.findIndex((reason) => reason.Code === 'ConditionalCheckFailed');
    // Past the mappings come the caller's extra items, whose failure is no conflict of this one.
    if (taken > 0 && taken <= record.certificateSubjects.length) {
      const subject = record.certificateSubjects[taken - 1];

      return new ConflictError(
        'A certificate subject is mapped to another client.',
        { certificateSubject: subject },
        error,
      );
    }

    return undefined;
  }
}
