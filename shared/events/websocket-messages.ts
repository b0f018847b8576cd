/**
 * The messages of the WebSocket protocol at `/v1/events`, both ways.
 *
 * From the client, JSON text with a `type`:
 *
 *   {"type": "subscribe", "channels": ["task_updates"], "last_event_ids": {"task_updates": "41"}}
 *   {"type": "unsubscribe", "channels": ["task_updates"]}
 *   {"type": "ping"}
 *
 * Each may carry an `id` of the client's choosing (a string of at most 64 characters), which
 * the reply repeats so that a client can match replies to requests. To the client: one reply
 * per message, `subscribed`, `unsubscribed`, `pong` or `error`, and events as they are, the
 * event itself (`{"id", "channel", "type", "data", "timestamp"}`, whose `type` is dotted such
 * as `task.updated`, so it never reads as a reply).
 */
import { toEnvelope, type ErrorEnvelope } from '@shared/errors/envelope';
import { ValidationError, type GatewayError } from '@shared/errors/gateway-error';
import { fieldIssues, z } from '@shared/validation/schema';
import type { ChannelName, GatewayEvent } from './channels';

/** Channels one message may name at most; there are only a few. */
export const MAX_CHANNELS_PER_MESSAGE = 16;

const MAX_CHANNEL_NAME_CHARS = 64;
const MAX_CLIENT_ID_CHARS = 64;

const channelName = z.string().min(1).max(MAX_CHANNEL_NAME_CHARS);
const clientId = z.string().min(1).max(MAX_CLIENT_ID_CHARS).optional();
/** An event id is the channel's sequence number in decimal: "0" resumes from the beginning. */
const eventId = z.string().regex(/^(0|[1-9][0-9]{0,15})$/, 'must be a decimal event id');

const channelList = z.array(channelName).min(1).max(MAX_CHANNELS_PER_MESSAGE);

const subscribeMessage = z.strictObject({
  type: z.literal('subscribe'),
  id: clientId,
  channels: channelList,
  last_event_ids: z.record(channelName, eventId).optional(),
});

const unsubscribeMessage = z.strictObject({
  type: z.literal('unsubscribe'),
  id: clientId,
  channels: channelList,
});

const pingMessage = z.strictObject({ type: z.literal('ping'), id: clientId });

const clientMessage = z.discriminatedUnion('type', [
  subscribeMessage,
  unsubscribeMessage,
  pingMessage,
]);

export type SubscribeMessage = z.infer<typeof subscribeMessage>;
export type UnsubscribeMessage = z.infer<typeof unsubscribeMessage>;
export type ClientMessage = z.infer<typeof clientMessage>;

export const CLIENT_MESSAGE_TYPES = ['subscribe', 'unsubscribe', 'ping'] as const;

const idOf = (value: unknown): string | undefined => {
  const id = (value as { id?: unknown } | null)?.id;

  return typeof id === 'string' && id.length <= MAX_CLIENT_ID_CHARS ? id : undefined;
};

/** A message the protocol refuses, with the client's `id` when it could be read. */
export class WebSocketMessageError extends ValidationError {
  // ValidationError fixes its name to its own literal; this one keeps the base's `name`.

  constructor(
    message: string,
    issues: ConstructorParameters<typeof ValidationError>[1],
    readonly messageId?: string,
    cause?: unknown,
  ) {
    super(message, issues, cause);
  }
}

/**
 * Parses one text message. Throws {@link WebSocketMessageError} (`VALIDATION_FAILED`) for
 * anything that is not JSON, has no known `type`, or has fields of the wrong shape, each field
 * named by its path (`message.channels.0`).
 */
export const parseClientMessage = (text: string): ClientMessage => {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new WebSocketMessageError(
      'The message is not valid JSON.',
      [{ field: 'message', message: error instanceof Error ? error.message : 'malformed JSON' }],
      undefined,
      error,
    );
  }
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !(CLIENT_MESSAGE_TYPES as readonly string[]).includes(type)) {
    throw new WebSocketMessageError(
      `The message type must be one of ${CLIENT_MESSAGE_TYPES.join(', ')}.`,
      [{ field: 'message.type', message: `unknown type ${JSON.stringify(type ?? null)}` }],
      idOf(value),
    );
  }
  const result = clientMessage.safeParse(value);
  if (!result.success) {
    throw new WebSocketMessageError(
      `The ${type} message is invalid.`,
      fieldIssues('message', result.error),
      idOf(value),
    );
  }

  return result.data;
};

export interface SubscribedReply {
  readonly type: 'subscribed';
  readonly id?: string;
  readonly channels: readonly ChannelName[];
  /** Events posted before this reply, per channel resumed. */
  readonly replayed: Readonly<Partial<Record<ChannelName, number>>>;
  /**
   * Channels whose resume reached back further than the events kept (24 hours by default):
   * events were missed that cannot be replayed.
   */
  readonly events_missed: readonly ChannelName[];
}

export interface UnsubscribedReply {
  readonly type: 'unsubscribed';
  readonly id?: string;
  readonly channels: readonly ChannelName[];
}

export interface PongReply {
  readonly type: 'pong';
  readonly id?: string;
  readonly timestamp: string;
}

export type ErrorReply = { readonly type: 'error'; readonly id?: string } & ErrorEnvelope;

export type ServerMessage = SubscribedReply | UnsubscribedReply | PongReply | ErrorReply;

/** The error reply for `error`, in the API's error envelope, with the message's `id`. */
export const errorReply = (error: GatewayError, id?: string, now = new Date()): ErrorReply => ({
  type: 'error',
  ...(id === undefined ? {} : { id }),
  ...toEnvelope(error, now),
});

/** What a subscriber receives for an event: the event itself, without its stored extras. */
export const eventMessage = (event: GatewayEvent): GatewayEvent => ({
  id: event.id,
  channel: event.channel,
  type: event.type,
  data: event.data,
  timestamp: event.timestamp,
});

/** Serialises a message for the wire. */
export const encodeMessage = (message: ServerMessage | GatewayEvent): string =>
  JSON.stringify(message);
