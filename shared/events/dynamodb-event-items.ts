/**
 * How events are laid out in the `events` table:
 *
 *   event   pk = channel#<channel>   sk = seq (N)
 *           event_id S (the decimal seq), channel S, type S, data_json S, timestamp S,
 *           owner S? (absent on channels whose audience is `all`), request_id S?, expires_at N
 *   head    pk = head#<channel>      sk = 0
 *           seq N: the seq of the channel's latest event
 *   source  pk = source#<channel>#<source id>   sk = 0
 *           expires_at N: marks a change (a stream record) that was already published, so that
 *           a retried stream batch announces nothing twice
 *
 * The table's stream carries new images; the fan-out reads the INSERTs whose pk starts with
 * `channel#` and ignores heads and source markers. Readers accept both the SDK's attribute
 * values and a stream record's.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { CHANNEL_NAMES, type ChannelName } from './channels';
import type { StoredEvent } from './event-store';
import { CodedError } from '@shared/errors/coded-error';

export const EVENT_PK_PREFIX = 'channel#';

export const HEAD_PK_PREFIX = 'head#';

export const SOURCE_PK_PREFIX = 'source#';

/** The sort key of head and source items, which are alone in their partition. */
export const SINGLE_ITEM_SK = 0;

/** An attribute value of the SDK or of a Lambda stream record, as far as events go. */
export interface EventItemValue {
  readonly S?: string;
  readonly N?: string;
}

export type ReadableEventItem = Readonly<Record<string, EventItemValue>>;

type Item = Record<string, AttributeValue>;

export const EVENT_STORE_ERROR_CODES = ['eventStore.malformedItem'] as const;

export type EventStoreErrorCode = (typeof EVENT_STORE_ERROR_CODES)[number];

/** An item that this code did not write the way it reads it: a fault for the operator. */
export class EventStoreItemError extends CodedError<EventStoreErrorCode> {
  override readonly name = 'EventStoreItemError';
}

export const eventPk = (channel: ChannelName): string => `${EVENT_PK_PREFIX}${channel}`;

export const headKey = (channel: ChannelName): Item => ({
  pk: { S: `${HEAD_PK_PREFIX}${channel}` },
  sk: { N: String(SINGLE_ITEM_SK) },
});

export const sourceKey = (channel: ChannelName, sourceId: string): Item => ({
  pk: { S: `${SOURCE_PK_PREFIX}${channel}#${sourceId}` },
  sk: { N: String(SINGLE_ITEM_SK) },
});

/** Whether an item (of the table or of its stream) is an event rather than a head or marker. */
export const isEventItem = (item: ReadableEventItem | undefined): boolean =>
  item?.pk?.S?.startsWith(EVENT_PK_PREFIX) === true;

/** The item of an event; `expiresAt` in epoch seconds. */
export const eventItem = (event: StoredEvent, expiresAt: number): Item => ({
  pk: { S: eventPk(event.channel) },
  sk: { N: event.id },
  event_id: { S: event.id },
  channel: { S: event.channel },
  type: { S: event.type },
  data_json: { S: JSON.stringify(event.data) },
  timestamp: { S: event.timestamp },
  ...(event.owner === undefined ? {} : { owner: { S: event.owner } }),
  ...(event.requestId === undefined ? {} : { request_id: { S: event.requestId } }),
  expires_at: { N: String(expiresAt) },
});

const malformed = (what: string): EventStoreItemError =>
  new EventStoreItemError('eventStore.malformedItem', `an event item has no valid ${what}`);

const readString = (item: ReadableEventItem, name: string): string => {
  const value = item[name]?.S;
  if (value === undefined) {
    throw malformed(name);
  }

  return value;
};

const readChannel = (item: ReadableEventItem): ChannelName => {
  const channel = readString(item, 'channel');
  if (!(CHANNEL_NAMES as readonly string[]).includes(channel)) {
    throw malformed('channel');
  }

  return channel as ChannelName;
};

const readData = (item: ReadableEventItem): Record<string, unknown> => {
  let data: unknown;
  try {
    data = JSON.parse(readString(item, 'data_json'));
  } catch {
    throw malformed('data_json');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw malformed('data_json');
  }

  return data as Record<string, unknown>;
};

/**
 * The event an item holds, with its owner and request id when it has them. Throws
 * `eventStore.malformedItem` for an item of another shape.
 */
export const readEventItem = (item: ReadableEventItem): StoredEvent => {
  const owner = item.owner?.S;
  const requestId = item.request_id?.S;

  return {
    id: readString(item, 'event_id'),
    channel: readChannel(item),
    type: readString(item, 'type'),
    data: readData(item),
    timestamp: readString(item, 'timestamp'),
    ...(owner === undefined ? {} : { owner }),
    ...(requestId === undefined ? {} : { requestId }),
  };
};

/** The seq a head item holds; 0 when the channel has no head yet. */
export const readHeadSeq = (item: ReadableEventItem | undefined): number => {
  if (item === undefined) {
    return 0;
  }
  const seq = Number(item.seq?.N);
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw malformed('head seq');
  }

  return seq;
};
