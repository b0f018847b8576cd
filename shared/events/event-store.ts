/**
 * The events of every channel, kept for a while (24 hours by default) so that a client can
 * resume where it left off. Item layout in `dynamodb-event-items.ts`.
 *
 * Ids: each channel has a head item holding the seq of its latest event. Appending reads the
 * head and writes, in one transaction, the head advanced by the number of new events (under a
 * condition on its old value) and the events numbered after it. Two publishers that read the
 * same head cannot both commit: the loser's condition fails, it reads the head again and
 * renumbers. So ids are gap-free, and because the head and its events commit together, a
 * reader that reads the head first and then the events up to it never sees id n+1 without n.
 *
 * Exactly once: a draft may name its source (a stream record's id). The transaction then also
 * puts a marker for that source under `attribute_not_exists`, so that a retried stream batch,
 * which delivers the same records again, publishes none of them twice.
 *
 * Expiry: `expires_at` lets DynamoDB's TTL delete old events. TTL deletes lazily, so readers
 * also skip events whose time has passed: an expired event is simply not there. A resume from
 * an id older than the window replays from the oldest event still kept.
 */
import {
  GetItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  TransactionCanceledException,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { ConfigurationError, tableName } from '@shared/config';
import type { ChannelName, GatewayEvent } from './channels';
import {
  eventItem,
  eventPk,
  headKey,
  readEventItem,
  readHeadSeq,
  sourceKey,
  type ReadableEventItem,
} from './dynamodb-event-items';

/** An event as stored: the event itself, plus whose it is and the request that caused it. */
export type StoredEvent = GatewayEvent & {
  /** The identity whose event it is, on channels whose audience is `owner`. */
  readonly owner?: string;
  /** The id of the request behind the change, for correlation. */
  readonly requestId?: string;
};

/** An event to publish: everything but its id, which the store assigns. */
export interface EventDraft {
  readonly channel: ChannelName;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly timestamp: string;
  readonly owner?: string;
  readonly requestId?: string;
  /**
   * What the event was made from, unique per change (a stream record's `eventID`). A draft
   * whose source was already published is dropped.
   */
  readonly sourceId?: string;
}

export interface ReadOptions {
  /**
   * Read the channel's head with an eventually consistent read: half the cost, and still no
   * holes (a head that is seen at all was written with its events, and the events are read
   * consistently), but a just-published event may show a moment later. For pollers that read
   * again soon anyway. Default false.
   */
  readonly eventuallyConsistentHead?: boolean;
}

export interface EventStore {
  /**
   * Publishes `drafts` in order, per channel, and answers the events as stored. Drafts whose
   * source was already published are left out of the answer.
   */
  append(drafts: readonly EventDraft[]): Promise<StoredEvent[]>;
  /** Events of `channel` with a seq above `afterSeq`, oldest first, at most `limit`. */
  readEvents(
    channel: ChannelName,
    afterSeq: number,
    limit: number,
    options?: ReadOptions,
  ): Promise<StoredEvent[]>;
  /** The seq of the channel's latest event, 0 before the first. */
  latestSeq(channel: ChannelName, options?: ReadOptions): Promise<number>;
}

export const DEFAULT_EVENT_RETENTION_HOURS = 24;

/** Most events one read answers. */
export const MAX_READ_EVENTS = 1_000;

/**
 * Events per transaction: a transaction holds 100 items at most, and each event takes two
 * (the event and its source marker) besides the one head.
 */
export const MAX_EVENTS_PER_TRANSACTION = 49;

/** Attempts of one transaction before a lost race is given up as a fault. */
export const MAX_APPEND_ATTEMPTS = 30;

const FIRST_RETRY_DELAY_MS = 5;
const MAX_RETRY_DELAY_MS = 400;
const SECONDS_PER_HOUR = 3_600;

/** Cancellation reasons that mean "another writer got there first": read the head again. */
const RACE_REASONS = new Set(['ConditionalCheckFailed', 'TransactionConflict']);

/**
 * Hours an event is kept, from `EVENTS_RETENTION_HOURS`; a value that is not a whole positive
 * number is a deployment mistake, refused rather than read as "keep nothing".
 */
export const eventRetentionHours = (): number => {
  const text = process.env.EVENTS_RETENTION_HOURS;
  if (text === undefined || text === '') {
    return DEFAULT_EVENT_RETENTION_HOURS;
  }
  const hours = Number(text);
  if (!Number.isSafeInteger(hours) || hours < 1) {
    throw new ConfigurationError(
      `config.invalidVariable: EVENTS_RETENTION_HOURS must be a whole number of hours, not ${text}`,
    );
  }

  return hours;
};

export interface DynamoDbEventStoreOptions {
  /** Default from `EVENTS_RETENTION_HOURS`, else {@link DEFAULT_EVENT_RETENTION_HOURS}. */
  readonly retentionHours?: number;
  /** The clock of timestamps and expiry; tests move it. */
  readonly now?: () => Date;
}

const sleep = async (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Full jitter: publishers that collided spread out instead of colliding again. */
const retryDelayMs = (attempt: number): number =>
  Math.random() * Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** attempt);

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    result.push(items.slice(start, start + size));
  }

  return result;
};

const groupByChannel = (drafts: readonly EventDraft[]): Map<ChannelName, EventDraft[]> => {
  const groups = new Map<ChannelName, EventDraft[]>();
  for (const draft of drafts) {
    const group = groups.get(draft.channel) ?? [];
    group.push(draft);
    groups.set(draft.channel, group);
  }

  return groups;
};

const assertReadArguments = (afterSeq: number, limit: number): void => {
  if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
    throw new RangeError(`eventStore.invalidSeq: ${afterSeq} is not a whole number >= 0`);
  }
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_READ_EVENTS) {
    throw new RangeError(`eventStore.invalidLimit: ${limit} is not within 1..${MAX_READ_EVENTS}`);
  }
};

/** The outcome of one attempt at a transaction: written, or what to do next. */
type AttemptOutcome =
  | { readonly kind: 'written'; readonly events: StoredEvent[] }
  | { readonly kind: 'race' }
  | { readonly kind: 'duplicates'; readonly published: ReadonlySet<EventDraft> };

export class DynamoDbEventStore implements EventStore {
  private readonly retentionHours: number;
  private readonly now: () => Date;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    options: DynamoDbEventStoreOptions = {},
  ) {
    this.retentionHours = options.retentionHours ?? eventRetentionHours();
    this.now = options.now ?? (() => new Date());
  }

  async append(drafts: readonly EventDraft[]): Promise<StoredEvent[]> {
    const stored: StoredEvent[] = [];
    for (const [channel, group] of groupByChannel(drafts)) {
      for (const chunk of chunks(group, MAX_EVENTS_PER_TRANSACTION)) {
        stored.push(...(await this.appendChunk(channel, chunk)));
      }
    }

    return stored;
  }

  async readEvents(
    channel: ChannelName,
    afterSeq: number,
    limit: number,
    options: ReadOptions = {},
  ): Promise<StoredEvent[]> {
    assertReadArguments(afterSeq, limit);

    // The head first: every event up to it has committed, so the read has no holes.
    const head = await this.latestSeq(channel, options);
    if (head <= afterSeq) {
      return [];
    }
    const nowSeconds = Math.floor(this.now().getTime() / 1_000);
    const events: StoredEvent[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await withDynamoDbErrors(() =>
        this.client.send(
          new QueryCommand({
            TableName: this.table,
            KeyConditionExpression: 'pk = :pk AND sk BETWEEN :first AND :last',
            FilterExpression: 'expires_at > :now',
            ExpressionAttributeValues: {
              ':pk': { S: eventPk(channel) },
              ':first': { N: String(afterSeq + 1) },
              ':last': { N: String(head) },
              ':now': { N: String(nowSeconds) },
            },
            ConsistentRead: true,
            Limit: limit - events.length,
            ExclusiveStartKey: startKey,
          }),
        ),
      );
      events.push(...(page.Items ?? []).map((item) => readEventItem(item as ReadableEventItem)));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && events.length < limit);

    return events.slice(0, limit);
  }

  async latestSeq(channel: ChannelName, options: ReadOptions = {}): Promise<number> {
    const result = await withDynamoDbErrors(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.table,
          Key: headKey(channel),
          ConsistentRead: options.eventuallyConsistentHead !== true,
        }),
      ),
    );

    return readHeadSeq(result.Item as ReadableEventItem | undefined);
  }

  /** One transaction's worth of drafts, retried until it commits or nothing is left. */
  private async appendChunk(
    channel: ChannelName,
    chunk: readonly EventDraft[],
  ): Promise<StoredEvent[]> {
    let pending = chunk;
    for (let attempt = 0; attempt < MAX_APPEND_ATTEMPTS; attempt += 1) {
      if (pending.length === 0) {
        return [];
      }
      const outcome = await this.attempt(channel, pending);
      if (outcome.kind === 'written') {
        return outcome.events;
      }
      if (outcome.kind === 'duplicates') {
        pending = pending.filter((draft) => !outcome.published.has(draft));
        continue;
      }
      await sleep(retryDelayMs(attempt));
    }

    throw new Error(
      `eventStore.contended: ${MAX_APPEND_ATTEMPTS} attempts to append to ${channel} all lost a race`,
    );
  }

  private async attempt(
    channel: ChannelName,
    drafts: readonly EventDraft[],
  ): Promise<AttemptOutcome> {
    const head = await this.latestSeq(channel);
    const now = this.now();
    const expiresAt = Math.floor(now.getTime() / 1_000) + this.retentionHours * SECONDS_PER_HOUR;
    const events = drafts.map((draft, index) => storedEventOf(draft, head + index + 1));
    const items = this.transactionItems(channel, head, drafts, events, expiresAt);
    try {
      await withDynamoDbErrors(() =>
        this.client.send(new TransactWriteItemsCommand({ TransactItems: items.writes })),
      );
    } catch (error) {
      return classifyCancellation(error, items.sourceOf);
    }

    return { kind: 'written', events };
  }

  private transactionItems(
    channel: ChannelName,
    head: number,
    drafts: readonly EventDraft[],
    events: readonly StoredEvent[],
    expiresAt: number,
  ): { writes: TransactWriteItem[]; sourceOf: ReadonlyMap<number, EventDraft> } {
    const writes: TransactWriteItem[] = [
      {
        Update: {
          TableName: this.table,
          Key: headKey(channel),
          UpdateExpression: 'SET seq = :next',
          ConditionExpression:
            head === 0 ? 'attribute_not_exists(seq) OR seq = :old' : 'seq = :old',
          ExpressionAttributeValues: {
            ':next': { N: String(head + events.length) },
            ':old': { N: String(head) },
          },
        },
      },
    ];
    const sourceOf = new Map<number, EventDraft>();
    drafts.forEach((draft, index) => {
      writes.push({
        Put: {
          TableName: this.table,
          Item: eventItem(events[index] as StoredEvent, expiresAt),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      });
      if (draft.sourceId !== undefined) {
        sourceOf.set(writes.length, draft);
        writes.push({
          Put: {
            TableName: this.table,
            Item: { ...sourceKey(channel, draft.sourceId), expires_at: { N: String(expiresAt) } },
            ConditionExpression: 'attribute_not_exists(pk)',
          },
        });
      }
    });

    return { writes, sourceOf };
  }
}

const storedEventOf = (draft: EventDraft, seq: number): StoredEvent => ({
  id: String(seq),
  channel: draft.channel,
  type: draft.type,
  data: draft.data,
  timestamp: draft.timestamp,
  ...(draft.owner === undefined ? {} : { owner: draft.owner }),
  ...(draft.requestId === undefined ? {} : { requestId: draft.requestId }),
});

/**
 * What a failed append transaction stands for. A failed source marker means that draft was
 * published before; any other failed condition or conflict means another writer moved the head
 * first. Anything else is rethrown.
 */
const classifyCancellation = (
  error: unknown,
  sourceOf: ReadonlyMap<number, EventDraft>,
): AttemptOutcome => {
  if (!(error instanceof TransactionCanceledException)) {
    throw error;
  }
  const reasons = (error.CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
  const failed = reasons.filter((code) => code !== 'None');
  if (failed.length === 0 || failed.some((code) => !RACE_REASONS.has(code))) {
    throw error;
  }
  const published = new Set<EventDraft>();
  reasons.forEach((code, index) => {
    const draft = sourceOf.get(index);
    if (draft !== undefined && code === 'ConditionalCheckFailed') {
      published.add(draft);
    }
  });

  return published.size > 0 ? { kind: 'duplicates', published } : { kind: 'race' };
};

let shared: DynamoDbEventStore | undefined;

/** The store of the running function: the shared client and the table the stack names. */
export const gatewayEventStore = (): DynamoDbEventStore => {
  shared ??= new DynamoDbEventStore(dynamoDb(), tableName('events'));

  return shared;
};

/** Events of `channel` after `afterSeq`, oldest first, at most `limit`, from the gateway's store. */
export const readEvents = async (
  channel: ChannelName,
  afterSeq: number,
  limit: number,
): Promise<StoredEvent[]> => gatewayEventStore().readEvents(channel, afterSeq, limit);

/** The seq of the channel's latest event in the gateway's store, 0 before the first. */
export const latestSeq = async (channel: ChannelName): Promise<number> =>
  gatewayEventStore().latestSeq(channel);
