/**
 * WebSocket connections and their subscriptions on the `connections` table:
 *
 *   connection    pk = connection#<id>   sk = connection
 *                 connection_id, identity_id, scopes (SS or absent), connected_at,
 *                 credentials_expire_at (N, absent for credentials without expiry), expires_at
 *   subscription  pk = connection#<id>   sk = subscription#<channel>
 *                 connection_id, channel, identity_id, from_seq, credentials_expire_at,
 *                 expires_at
 *
 * A connection and its subscriptions share a partition, so one query finds everything to
 * delete when it goes. Only subscriptions carry `channel`, which makes the `by_channel` index
 * hold exactly the subscribers of each channel: fan-out pages through it, never scans.
 *
 * `from_seq` is the first event id a subscription is to receive from fan-out; what came before
 * it is the subscribe handler's replay, so an event is never posted by both. Every item expires
 * with API Gateway's two-hour limit on a connection, counted from when it opened.
 */
import {
  BatchWriteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type AttributeValue,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import type { ChannelName } from './channels';

/** API Gateway closes every WebSocket connection after two hours. */
export const CONNECTION_TTL_SECONDS = 2 * 60 * 60;

/** The index of subscriptions by channel. */
export const BY_CHANNEL_INDEX = 'by_channel';

/** Subscribers one page of `listSubscribers` answers at most. */
export const MAX_SUBSCRIBER_PAGE = 1_000;

/** BatchWriteItem takes 25 requests at most. */
const BATCH_WRITE_LIMIT = 25;
const UNPROCESSED_RETRY_ATTEMPTS = 5;
const UNPROCESSED_FIRST_DELAY_MS = 20;

const CONNECTION_SK = 'connection';
const SUBSCRIPTION_SK_PREFIX = 'subscription#';

export interface ConnectionRecord {
  readonly connectionId: string;
  readonly identityId: string;
  readonly scopes: readonly string[];
  /** Epoch milliseconds. */
  readonly connectedAt: number;
  /**
   * Epoch seconds when the token the connection was opened with expires; absent when the
   * credentials do not expire. A connection outlives its token otherwise, up to two hours.
   */
  readonly credentialsExpireAt?: number;
}

export interface Subscriber {
  readonly connectionId: string;
  readonly identityId: string;
  readonly channel: ChannelName;
  /** The first event id (seq) fan-out delivers to this subscription. */
  readonly fromSeq: number;
  /** Epoch seconds, as on the connection. */
  readonly credentialsExpireAt?: number;
}

export interface SubscriberPage {
  readonly subscribers: readonly Subscriber[];
  /** Where the next page starts; absent on the last page. */
  readonly cursor?: string;
}

export interface ConnectionStore {
  saveConnection(connection: ConnectionRecord): Promise<void>;
  findConnection(connectionId: string): Promise<ConnectionRecord | undefined>;
  /** Stores or refreshes the subscription of a connection to one channel. */
  subscribe(connection: ConnectionRecord, channel: ChannelName, fromSeq: number): Promise<void>;
  unsubscribe(connectionId: string, channels: readonly ChannelName[]): Promise<void>;
  /** The channels a connection follows. */
  subscriptionsOf(connectionId: string): Promise<ChannelName[]>;
  /** Deletes the connection and every subscription of it; nothing happens for an unknown id. */
  deleteConnection(connectionId: string): Promise<void>;
  /** One page of a channel's subscribers, in connection-id order, from `cursor` on. */
  listSubscribers(channel: ChannelName, limit: number, cursor?: string): Promise<SubscriberPage>;
}

type Item = Record<string, AttributeValue>;

const connectionPk = (connectionId: string): string => `connection#${connectionId}`;

const expiresAt = (connectedAt: number): string =>
  String(Math.floor(connectedAt / 1_000) + CONNECTION_TTL_SECONDS);

const sleep = async (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

const encodeCursor = (key: Item | undefined): string | undefined =>
  key === undefined ? undefined : Buffer.from(JSON.stringify(key)).toString('base64url');

const decodeCursor = (cursor: string | undefined): Item | undefined =>
  cursor === undefined
    ? undefined
    : (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Item);

const credentialsExpiry = (item: Item): { credentialsExpireAt?: number } =>
  item.credentials_expire_at?.N === undefined
    ? {}
    : { credentialsExpireAt: Number(item.credentials_expire_at.N) };

const credentialsExpiryItem = (connection: ConnectionRecord): Item =>
  connection.credentialsExpireAt === undefined
    ? {}
    : { credentials_expire_at: { N: String(connection.credentialsExpireAt) } };

const readSubscriber = (item: Item): Subscriber => ({
  connectionId: item.connection_id?.S ?? '',
  identityId: item.identity_id?.S ?? '',
  channel: (item.channel?.S ?? '') as ChannelName,
  fromSeq: Number(item.from_seq?.N ?? '0'),
  ...credentialsExpiry(item),
});

const readConnection = (item: Item): ConnectionRecord => ({
  connectionId: item.connection_id?.S ?? '',
  identityId: item.identity_id?.S ?? '',
  scopes: item.scopes?.SS ?? [],
  connectedAt: Number(item.connected_at?.N ?? '0'),
  ...credentialsExpiry(item),
});

/** Whether the credentials a connection or subscription was opened with have expired. */
export const credentialsExpired = (
  holder: { readonly credentialsExpireAt?: number },
  now: Date = new Date(),
): boolean =>
  holder.credentialsExpireAt !== undefined && holder.credentialsExpireAt * 1_000 <= now.getTime();

/** The connection store on DynamoDB; see the file comment for the item layout. */
export class DynamoDbConnectionStore implements ConnectionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async saveConnection(connection: ConnectionRecord): Promise<void> {
    const item: Item = {
      pk: { S: connectionPk(connection.connectionId) },
      sk: { S: CONNECTION_SK },
      connection_id: { S: connection.connectionId },
      identity_id: { S: connection.identityId },
      connected_at: { N: String(connection.connectedAt) },
      expires_at: { N: expiresAt(connection.connectedAt) },
      ...credentialsExpiryItem(connection),
      // A string set cannot be empty; no scopes is no attribute.
      ...(connection.scopes.length === 0 ? {} : { scopes: { SS: [...connection.scopes] } }),
    };

    await withDynamoDbErrors(() =>
      this.client.send(new PutItemCommand({ TableName: this.table, Item: item })),
    );
  }

  async findConnection(connectionId: string): Promise<ConnectionRecord | undefined> {
    const found = await withDynamoDbErrors(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: { pk: { S: connectionPk(connectionId) }, sk: { S: CONNECTION_SK } },
          ConsistentRead: true,
        }),
      ),
    );

    return found.Item === undefined ? undefined : readConnection(found.Item);
  }

  async subscribe(
    connection: ConnectionRecord,
    channel: ChannelName,
    fromSeq: number,
  ): Promise<void> {
    const item: Item = {
      pk: { S: connectionPk(connection.connectionId) },
      sk: { S: `${SUBSCRIPTION_SK_PREFIX}${channel}` },
      connection_id: { S: connection.connectionId },
      channel: { S: channel },
      identity_id: { S: connection.identityId },
      from_seq: { N: String(fromSeq) },
      expires_at: { N: expiresAt(connection.connectedAt) },
      ...credentialsExpiryItem(connection),
    };

    await withDynamoDbErrors(() =>
      this.client.send(new PutItemCommand({ TableName: this.table, Item: item })),
    );
  }

  async unsubscribe(connectionId: string, channels: readonly ChannelName[]): Promise<void> {
    const deletes = channels.map((channel) => ({
      pk: { S: connectionPk(connectionId) },
      sk: { S: `${SUBSCRIPTION_SK_PREFIX}${channel}` },
    }));

    await this.deleteKeys(deletes);
  }

  async subscriptionsOf(connectionId: string): Promise<ChannelName[]> {
    const items = await this.itemsOf(connectionId);

    return items
      .map((item) => item.channel?.S)
      .filter((channel): channel is ChannelName => channel !== undefined);
  }

  async deleteConnection(connectionId: string): Promise<void> {
    const items = await this.itemsOf(connectionId);
    const keys = items.map((item) => ({
      pk: item.pk as AttributeValue,
      sk: item.sk as AttributeValue,
    }));

    await this.deleteKeys(keys);
  }

  async listSubscribers(
    channel: ChannelName,
    limit: number,
    cursor?: string,
  ): Promise<SubscriberPage> {
    const page = await withDynamoDbErrors(() =>
      this.client.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: BY_CHANNEL_INDEX,
          KeyConditionExpression: 'channel = :channel',
          ExpressionAttributeValues: { ':channel': { S: channel } },
          Limit: Math.min(limit, MAX_SUBSCRIBER_PAGE),
          ExclusiveStartKey: decodeCursor(cursor),
        }),
      ),
    );
    const next = encodeCursor(page.LastEvaluatedKey);

    return {
      subscribers: (page.Items ?? []).map(readSubscriber),
      ...(next === undefined ? {} : { cursor: next }),
    };
  }

  /** Every item of one connection: the connection itself and its subscriptions. */
  private async itemsOf(connectionId: string): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const page = await withDynamoDbErrors(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': { S: connectionPk(connectionId) } },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);

    return items;
  }

  /** Deletes by key in batches, retrying what DynamoDB leaves unprocessed under load. */
  private async deleteKeys(keys: readonly Item[]): Promise<void> {
    for (let start = 0; start < keys.length; start += BATCH_WRITE_LIMIT) {
      let requests: WriteRequest[] = keys
        .slice(start, start + BATCH_WRITE_LIMIT)
        .map((key) => ({ DeleteRequest: { Key: key } }));
      for (let attempt = 0; requests.length > 0; attempt += 1) {
        if (attempt === UNPROCESSED_RETRY_ATTEMPTS) {
          throw new Error(
            `connectionStore.unprocessedDeletes: ${requests.length} deletes left unprocessed`,
          );
        }
        if (attempt > 0) {
          await sleep(UNPROCESSED_FIRST_DELAY_MS * 2 ** attempt);
        }
        const batch = requests;
        const result = await withDynamoDbErrors(() =>
          this.client.send(new BatchWriteItemCommand({ RequestItems: { [this.table]: batch } })),
        );
        requests = result.UnprocessedItems?.[this.table] ?? [];
      }
    }
  }
}

let shared: DynamoDbConnectionStore | undefined;

/** The store of the running function: the shared client and the table the stack names. */
export const gatewayConnectionStore = (): ConnectionStore => {
  shared ??= new DynamoDbConnectionStore(dynamoDb(), tableName('connections'));

  return shared;
};
