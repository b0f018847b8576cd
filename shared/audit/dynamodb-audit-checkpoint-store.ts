/**
 * The sealer's own records, on the `auditCheckpoints` table, which no writer of entries can
 * write:
 *
 *   pk = chain#<n>   sk = head             the chain's last sealed entry: seq, hash
 *   pk = chain#<n>   sk = cp#<seq, 12 digits>  a signed checkpoint; padded so they sort by seq
 *   pk = keys        sk = <kid>            a published audit key: its public JWK, created_at
 *
 * A sealing step is one `TransactWriteItems` over both tables: the head moves only from the seq
 * it was read at (two sealers racing on a chain cannot both extend it, so the chain never
 * forks), each entry gets its seal only if it has none (a repeated stream delivery cannot seal
 * it twice), and the checkpoint is put only if that seq has none.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import type { AuditCheckpoint, SealedAuditEntry } from './audit-entry';
import type { AuditChainHead } from './audit-seal';
import {
  AuditSealConflictError,
  type AuditCheckpointStore,
  type AuditSealCommit,
  type PublishedAuditKey,
} from './audit-store';
import { AuditStoreError, auditEntryKey } from './dynamodb-audit-items';

/** DynamoDB's limit on the items of one transaction. */
export const MAX_TRANSACTION_ITEMS = 100;

/** Entries one sealing step may hold: the transaction also carries the head and the checkpoint. */
export const MAX_ENTRIES_PER_SEAL = MAX_TRANSACTION_ITEMS - 2;

const HEAD_SK = 'head';
const CHECKPOINT_SK_PREFIX = 'cp#';
const KEYS_PK = 'keys';
const SEQ_DIGITS = 12;

// Cancellation reasons that mean "someone else got there first": re-read and try again.
const RETRYABLE_REASONS = new Set(['ConditionalCheckFailed', 'TransactionConflict']);

type Item = Record<string, AttributeValue>;

const chainPk = (chain: number): string => `chain#${chain}`;

export const checkpointSk = (seq: number): string =>
  `${CHECKPOINT_SK_PREFIX}${String(seq).padStart(SEQ_DIGITS, '0')}`;

const malformed = (what: string): AuditStoreError =>
  new AuditStoreError('auditStore.malformedItem', `an audit checkpoints item has no valid ${what}`);

const readString = (item: Item, name: string): string => {
  const value = item[name]?.S;
  if (value === undefined) {
    throw malformed(name);
  }

  return value;
};

const readInteger = (item: Item, name: string): number => {
  const value = Number(item[name]?.N);
  if (!Number.isSafeInteger(value)) {
    throw malformed(name);
  }

  return value;
};

const readCheckpoint = (item: Item): AuditCheckpoint => ({
  chain: readInteger(item, 'chain'),
  seq: readInteger(item, 'seq'),
  hash: readString(item, 'hash'),
  timestamp: readString(item, 'timestamp'),
  kid: readString(item, 'kid'),
  signature: readString(item, 'signature'),
});

const readPublishedKey = (item: Item): PublishedAuditKey => {
  let jwk: unknown;
  try {
    jwk = JSON.parse(readString(item, 'jwk'));
  } catch {
    throw malformed('jwk');
  }
  if (typeof jwk !== 'object' || jwk === null) {
    throw malformed('jwk');
  }

  return {
    kid: readString(item, 'kid'),
    jwk: jwk as PublishedAuditKey['jwk'],
    createdAt: readString(item, 'created_at'),
  };
};

/** The DynamoDB implementation of `AuditCheckpointStore`; it also writes seals on entries. */
export class DynamoDbAuditCheckpointStore implements AuditCheckpointStore {
  readonly maxEntriesPerCommit = MAX_ENTRIES_PER_SEAL;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly checkpointsTable: string,
    private readonly auditTable: string,
  ) {}

  async head(chain: number): Promise<AuditChainHead | undefined> {
    const result = await withDynamoDbErrors(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.checkpointsTable,
          Key: { pk: { S: chainPk(chain) }, sk: { S: HEAD_SK } },
          ConsistentRead: true,
        }),
      ),
    );
    const item = result.Item;
    if (item === undefined) {
      return undefined;
    }

    return {
      chain: readInteger(item, 'chain'),
      seq: readInteger(item, 'seq'),
      hash: readString(item, 'hash'),
    };
  }

  async commitSeal(commit: AuditSealCommit): Promise<void> {
    const { checkpoint } = commit;
    const items: TransactWriteItem[] = [
      this.headPut(commit),
      this.checkpointPut(checkpoint),
      ...commit.sealed.map((entry) => this.sealUpdate(entry)),
    ];

    try {
      await withDynamoDbErrors(() =>
        this.client.send(new TransactWriteItemsCommand({ TransactItems: items })),
      );
    } catch (error) {
      throw this.sealConflict(error, commit) ?? error;
    }
  }

  async latestCheckpoints(chains: readonly number[]): Promise<AuditCheckpoint[]> {
    const latest = await Promise.all(
      [...new Set(chains)].map(async (chain) => {
        const result = await withDynamoDbErrors(() =>
          this.client.send(
            new QueryCommand({
              TableName: this.checkpointsTable,
              KeyConditionExpression: 'pk = :pk AND begins_with(sk, :cp)',
              ExpressionAttributeValues: {
                ':pk': { S: chainPk(chain) },
                ':cp': { S: CHECKPOINT_SK_PREFIX },
              },
              ScanIndexForward: false,
              Limit: 1,
            }),
          ),
        );
        const [item] = result.Items ?? [];

        return item === undefined ? undefined : readCheckpoint(item);
      }),
    );

    return latest
      .filter((checkpoint) => checkpoint !== undefined)
      .sort((a, b) => a.chain - b.chain);
  }

  async publishKey(key: PublishedAuditKey): Promise<void> {
    try {
      await withDynamoDbErrors(() =>
        this.client.send(
          new PutItemCommand({
            TableName: this.checkpointsTable,
            Item: {
              pk: { S: KEYS_PK },
              sk: { S: key.kid },
              kid: { S: key.kid },
              jwk: { S: JSON.stringify(key.jwk) },
              created_at: { S: key.createdAt },
            },
            // The first publication stands, so `created_at` says when the key first signed.
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return;
      }
      throw error;
    }
  }

  async publishedKeys(): Promise<PublishedAuditKey[]> {
    const keys: PublishedAuditKey[] = [];
    let startKey: Item | undefined;
    do {
      const page = await withDynamoDbErrors(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.checkpointsTable,
            KeyConditionExpression: 'pk = :keys',
            ExpressionAttributeValues: { ':keys': { S: KEYS_PK } },
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      keys.push(...(page.Items ?? []).map(readPublishedKey));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);

    return keys.sort((a, b) =>
      a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0,
    );
  }

  /** The new head, put only over the head the batch was sealed after. */
  private headPut(commit: AuditSealCommit): TransactWriteItem {
    const { checkpoint, previous } = commit;

    return {
      Put: {
        TableName: this.checkpointsTable,
        Item: {
          pk: { S: chainPk(checkpoint.chain) },
          sk: { S: HEAD_SK },
          chain: { N: String(checkpoint.chain) },
          seq: { N: String(checkpoint.seq) },
          hash: { S: checkpoint.hash },
          updated_at: { S: checkpoint.timestamp },
        },
        ...(previous === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : {
              ConditionExpression: '#seq = :previous',
              ExpressionAttributeNames: { '#seq': 'seq' },
              ExpressionAttributeValues: { ':previous': { N: String(previous.seq) } },
            }),
      },
    };
  }

  private checkpointPut(checkpoint: AuditCheckpoint): TransactWriteItem {
    return {
      Put: {
        TableName: this.checkpointsTable,
        Item: {
          pk: { S: chainPk(checkpoint.chain) },
          sk: { S: checkpointSk(checkpoint.seq) },
          chain: { N: String(checkpoint.chain) },
          seq: { N: String(checkpoint.seq) },
          hash: { S: checkpoint.hash },
          timestamp: { S: checkpoint.timestamp },
          kid: { S: checkpoint.kid },
          signature: { S: checkpoint.signature },
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };
  }

  /** The seal fields of one entry, set only on an entry that exists and has none yet. */
  private sealUpdate(entry: SealedAuditEntry): TransactWriteItem {
    return {
      Update: {
        TableName: this.auditTable,
        Key: auditEntryKey(entry.audit_id),
        UpdateExpression:
          'SET #chain = :chain, #seq = :seq, #prev = :prev, #kid = :kid, #hash = :hash, ' +
          '#signature = :signature, #sealedAt = :sealedAt',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#seq)',
        ExpressionAttributeNames: {
          '#chain': 'chain',
          '#seq': 'seq',
          '#prev': 'prev_hash',
          '#kid': 'kid',
          '#hash': 'hash',
          '#signature': 'signature',
          '#sealedAt': 'sealed_at',
        },
        ExpressionAttributeValues: {
          ':chain': { N: String(entry.chain) },
          ':seq': { N: String(entry.seq) },
          ':prev': entry.prev_hash === null ? { NULL: true } : { S: entry.prev_hash },
          ':kid': { S: entry.kid },
          ':hash': { S: entry.hash },
          ':signature': { S: entry.signature },
          ':sealedAt': { S: entry.sealed_at },
        },
      },
    };
  }

  /**
   * The conflict a cancelled seal transaction stands for, from its reasons in item order (head,
   * checkpoint, then the entries); `undefined` when it was cancelled for anything else.
   */
  private sealConflict(
    error: unknown,
    commit: AuditSealCommit,
  ): AuditSealConflictError | undefined {
    if (!(error instanceof TransactionCanceledException)) {
      return undefined;
    }
    const reasons = (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
    const failed = reasons.filter((code) => code !== 'None');
    if (failed.length === 0 || failed.some((code) => !RETRYABLE_REASONS.has(code))) {
      return undefined;
    }
    const [head = 'None', checkpoint = 'None', ...entries] = reasons;
    const alreadySealed = commit.sealed
      .filter((_, index) => entries[index] === 'ConditionalCheckFailed')
      .map((entry) => entry.audit_id);
    // A lost race on any item (TransactionConflict) also means the head may have moved.
    const headMoved =
      head !== 'None' ||
      checkpoint !== 'None' ||
      entries.some((code) => code === 'TransactionConflict');

    return new AuditSealConflictError(commit.checkpoint.chain, headMoved, alreadySealed, error);
  }
}

let shared: DynamoDbAuditCheckpointStore | undefined;

/** The store of the running function: the shared client and the tables the stack names. */
export const gatewayAuditCheckpointStore = (): DynamoDbAuditCheckpointStore => {
  shared ??= new DynamoDbAuditCheckpointStore(
    dynamoDb(),
    tableName('auditCheckpoints'),
    tableName('audit'),
  );

  return shared;
};
