/**
 * What a WebSocket connection's messages do: `subscribe` stores a subscription per channel and
 * replays what the client missed, `unsubscribe` removes subscriptions, `ping` answers `pong`,
 * and anything else is answered with an error. Every message gets exactly one reply, posted on
 * the connection it came from; a bad message never closes the connection.
 *
 * Resuming: `last_event_ids` names, per channel, the last event the client saw. The handler
 * reads the channel's head first, stores the subscription with `from_seq = head + 1` (fan-out
 * delivers from there on), then posts the events after the client's id up to the head, oldest
 * first, and only then the `subscribed` reply. So each event reaches the client once: either
 * replayed or fanned out, never both. An event fanned out while the replay is still being
 * posted can arrive before the replay's last events; ids tell the client the order.
 *
 * Known gap: fan-out finds subscriptions through the `by_channel` index, which DynamoDB
 * updates asynchronously (usually within a second). An event published just after the head
 * was read, and fanned out before the new subscription shows in the index, reaches neither the
 * replay nor the fan-out. Closing it needs a second catch-up read after the index has the
 * subscription (at the price of possible duplicates, which ids would let the client drop); it
 * is not done. DynamoDB Local updates the index at once, so the local runtime never shows it.
 *
 * A connection outlives its token otherwise: once the token it was opened with has expired, a
 * message is answered with `UNAUTHORIZED` (`expired`) and the connection is closed.
 *
 * Events are kept 24 hours by default. A resume from an id older than that replays from the
 * oldest event still kept, and the reply lists the channel in `events_missed`.
 */
import { recordAudit } from '@shared/audit/record-audit';
import {
  isGatewayError,
  GatewayError,
  ServiceUnavailableError,
  UnauthorizedError,
} from '@shared/errors/gateway-error';
import { logger } from '@shared/logging/logger';
import { recordMetric } from '@shared/metrics/metrics';
import {
  CHANNEL_NAMES,
  findChannel,
  mayReceive,
  maySubscribe,
  type ChannelDeclaration,
  type ChannelName,
} from './channels';
import { ConnectionGoneError, type ConnectionPoster } from './connection-poster';
import {
  credentialsExpired,
  type ConnectionRecord,
  type ConnectionStore,
} from './connection-store';
import type { EventStore } from './event-store';
import {
  encodeMessage,
  errorReply,
  eventMessage,
  parseClientMessage,
  WebSocketMessageError,
  type ClientMessage,
  type ServerMessage,
  type SubscribeMessage,
} from './websocket-messages';

/** Events one resume replays per channel at most; older ones count as missed. */
export const MAX_REPLAY_EVENTS = 1_000;

const REPLAY_PAGE_SIZE = 100;

export interface SessionDependencies {
  readonly store: ConnectionStore;
  readonly poster: Pick<ConnectionPoster, 'post' | 'close'>;
  readonly events: Pick<EventStore, 'readEvents' | 'latestSeq'>;
  readonly now?: () => Date;
}

export interface IncomingMessage {
  readonly connectionId: string;
  readonly requestId: string;
  /** The message text; binary messages arrive base64-encoded and are refused. */
  readonly body: string | undefined;
  readonly isBase64Encoded: boolean;
}

const validationFailure = (message: string, details: Record<string, unknown>): GatewayError =>
  new GatewayError('VALIDATION_FAILED', message, { details });

/** Refuses unknown channels and channels the connection's identity may not follow. */
const checkChannels = async (
  connection: ConnectionRecord,
  names: readonly string[],
  requestId: string,
): Promise<ChannelDeclaration[]> => {
  const unknown = names.filter((name) => findChannel(name) === undefined);
  if (unknown.length > 0) {
    throw validationFailure(`No such channel: ${unknown.join(', ')}.`, {
      reason: 'unknown_channel',
      channels: unknown,
      known: CHANNEL_NAMES,
    });
  }
  const channels = [...new Set(names)].map((name) => findChannel(name) as ChannelDeclaration);
  const refused = channels.filter((channel) => !maySubscribe(connection, channel));
  if (refused.length === 0) {
    return channels;
  }

  const required = [...new Set(refused.flatMap((channel) => channel.scopes))];
  const error = new GatewayError('FORBIDDEN', 'The token lacks a scope these channels need.', {
    details: {
      reason: 'insufficient_scope',
      channels: refused.map((channel) => channel.name),
      required,
    },
  });
  error.auditId = await auditRefusedSubscription(connection, refused, requestId);
  throw error;
};

const auditRefusedSubscription = async (
  connection: ConnectionRecord,
  refused: readonly ChannelDeclaration[],
  requestId: string,
): Promise<string | undefined> => {
  try {
    return await recordAudit({
      service: 'blux-guard',
      operation: 'auth.forbidden',
      identity: connection.identityId,
      outcome: 'refused',
      requestId,
      resource: { type: 'channel', id: refused.map((channel) => channel.name).join(',') },
      details: { reason: 'insufficient_scope', route: 'subscribe' },
    });
  } catch (error) {
    logger.error('audit entry for a refused subscription could not be written', { error });

    return undefined;
  }
};

/** Posts the events of `channel` after `afterSeq` up to `head`; answers how many, and if some were lost. */
const replay = async (
  deps: SessionDependencies,
  connection: ConnectionRecord,
  channel: ChannelDeclaration,
  afterSeq: number,
  head: number,
): Promise<{ replayed: number; missed: boolean }> => {
  const name = channel.name as ChannelName;
  let position = Math.max(afterSeq, head - MAX_REPLAY_EVENTS);
  let missed = position > afterSeq;
  let replayed = 0;

  while (position < head) {
    const page = await deps.events.readEvents(name, position, REPLAY_PAGE_SIZE);
    const first = page[0];
    if (first === undefined) {
      // Everything up to the head has expired.
      return { replayed, missed: true };
    }
    // Ids have no gaps, so a page that starts late means the events between have expired.
    missed ||= Number(first.id) > position + 1;
    for (const event of page) {
      if (Number(event.id) > head) {
        return { replayed, missed };
      }
      if (mayReceive({ id: connection.identityId }, channel, event.owner)) {
        await deps.poster.post(connection.connectionId, encodeMessage(eventMessage(event)));
        replayed += 1;
      }
    }
    position = Number(page[page.length - 1]?.id ?? head);
  }

  return { replayed, missed };
};

const subscribe = async (
  deps: SessionDependencies,
  connection: ConnectionRecord,
  message: SubscribeMessage,
  requestId: string,
): Promise<ServerMessage> => {
  const resumeFrom = message.last_event_ids ?? {};
  const stray = Object.keys(resumeFrom).filter((name) => !message.channels.includes(name));
  if (stray.length > 0) {
    throw validationFailure('last_event_ids names channels the message does not subscribe to.', {
      reason: 'stray_last_event_id',
      channels: stray,
    });
  }
  const channels = await checkChannels(connection, message.channels, requestId);
  const replayed: Partial<Record<ChannelName, number>> = {};
  const missed: ChannelName[] = [];

  for (const channel of channels) {
    const name = channel.name as ChannelName;
    const head = await deps.events.latestSeq(name);
    await deps.store.subscribe(connection, name, head + 1);
    const lastSeen = resumeFrom[name];
    if (lastSeen !== undefined) {
      const outcome = await replay(deps, connection, channel, Number(lastSeen), head);
      replayed[name] = outcome.replayed;
      if (outcome.missed) {
        missed.push(name);
      }
    }
  }

  return {
    type: 'subscribed',
    ...(message.id === undefined ? {} : { id: message.id }),
    channels: channels.map((channel) => channel.name as ChannelName),
    replayed,
    events_missed: missed,
  };
};

const answer = async (
  deps: SessionDependencies,
  connection: ConnectionRecord,
  message: ClientMessage,
  requestId: string,
): Promise<ServerMessage> => {
  const id = message.id === undefined ? {} : { id: message.id };
  switch (message.type) {
    case 'subscribe':
      return subscribe(deps, connection, message, requestId);
    case 'unsubscribe': {
      const channels = await checkChannels(connection, message.channels, requestId);
      const names = channels.map((channel) => channel.name as ChannelName);
      await deps.store.unsubscribe(connection.connectionId, names);

      return { type: 'unsubscribed', ...id, channels: names };
    }
    case 'ping':
      return { type: 'pong', ...id, timestamp: (deps.now?.() ?? new Date()).toISOString() };
  }
};

/** The error a client is told of for `error`; unexpected ones are logged in full first. */
const asGatewayError = (error: unknown, connectionId: string): GatewayError => {
  if (isGatewayError(error)) {
    return error;
  }
  logger.error('a WebSocket message failed', { connection_id: connectionId, error });

  return new ServiceUnavailableError('The message could not be handled; retry later.', 1, error);
};

const messageIdOf = (error: unknown, body: string | undefined): string | undefined => {
  if (error instanceof WebSocketMessageError) {
    return error.messageId;
  }
  try {
    const id = (JSON.parse(body ?? '') as { id?: unknown } | null)?.id;

    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Handles one message of a connection and posts its reply. Throws only when the reply itself
 * cannot be posted for another reason than the connection being gone.
 */
export const handleClientMessage = async (
  deps: SessionDependencies,
  incoming: IncomingMessage,
): Promise<void> => {
  const { connectionId, body } = incoming;
  let reply: ServerMessage;
  let type = 'invalid';
  let closeAfterReply = false;

  try {
    if (incoming.isBase64Encoded) {
      throw new WebSocketMessageError('Binary messages are not supported; send JSON text.', [
        { field: 'message', message: 'binary frame' },
      ]);
    }
    const message = parseClientMessage(body ?? '');
    type = message.type;
    const connection = await deps.store.findConnection(connectionId);
    if (connection === undefined) {
      throw new GatewayError('UNAUTHORIZED', 'This connection is not registered; reconnect.', {
        details: { reason: 'unknown_connection' },
      });
    }
    if (credentialsExpired(connection, deps.now?.())) {
      closeAfterReply = true;
      throw new UnauthorizedError(
        'expired',
        'The token this connection was opened with has expired; reconnect with a new one.',
      );
    }
    reply = await answer(deps, connection, message, incoming.requestId);
  } catch (error) {
    if (error instanceof ConnectionGoneError) {
      await deps.store.deleteConnection(connectionId);
      return;
    }
    reply = errorReply(asGatewayError(error, connectionId), messageIdOf(error, body));
  }
  recordMetric('WebSocketMessages', 1, { type });

  try {
    await deps.poster.post(connectionId, encodeMessage(reply));
    if (closeAfterReply) {
      await deps.poster.close(connectionId);
    }
  } catch (error) {
    if (!(error instanceof ConnectionGoneError)) {
      throw error;
    }
    await deps.store.deleteConnection(connectionId);
  }
};
