/**
 * Delivers one event to the WebSocket subscribers of its channel.
 *
 * Subscribers come from the `by_channel` index a page at a time, never from a scan. Each page
 * is held to the channel's audience (an `owner` channel reaches only the owner's connections)
 * and to each subscription's `from_seq`, then posted with a bounded number of posts in flight.
 * A post answered 410 Gone deletes that connection and its subscriptions; a throttled post is
 * retried with exponential backoff; any other failure is counted and logged, and delivery goes
 * on for everyone else. One failed subscriber never fails the event.
 *
 * A subscription whose connection's token has expired gets nothing more: its connection is
 * closed instead, so that a client cannot follow a channel past its credentials.
 *
 * A very large channel is not done in one go: after `maxSubscribers` subscribers the fan-out
 * stops and answers a cursor, and the caller hands the rest on (the stream consumer writes a
 * continuation item whose own stream record resumes from the cursor).
 */
import { findChannel, mayReceive } from './channels';
import type { ConnectionPoster } from './connection-poster';
import { ConnectionGoneError, PostThrottledError } from './connection-poster';
import { credentialsExpired, type ConnectionStore, type Subscriber } from './connection-store';
import type { StoredEvent } from './event-store';
import { encodeMessage, eventMessage } from './websocket-messages';

/** Subscribers one invocation handles before it hands the rest on. */
export const FAN_OUT_MAX_SUBSCRIBERS_PER_INVOCATION = 500;

/** Posts in flight at once. */
export const FAN_OUT_CONCURRENCY = 50;

/** Subscribers read from the index per query. */
export const FAN_OUT_PAGE_SIZE = 250;

/** Tries of a throttled post, the first included. */
export const FAN_OUT_THROTTLED_ATTEMPTS = 4;

/** Pause before the first retry of a throttled post; it doubles with each retry. */
export const FAN_OUT_FIRST_RETRY_DELAY_MS = 50;

export interface FanOutOptions {
  readonly store: Pick<ConnectionStore, 'listSubscribers' | 'deleteConnection'>;
  readonly poster: Pick<ConnectionPoster, 'post' | 'close'>;
  /** Default {@link FAN_OUT_MAX_SUBSCRIBERS_PER_INVOCATION}. */
  readonly maxSubscribers?: number;
  /** Default {@link FAN_OUT_CONCURRENCY}. */
  readonly concurrency?: number;
  /** Default {@link FAN_OUT_FIRST_RETRY_DELAY_MS}. */
  readonly firstRetryDelayMs?: number;
  /** Told of each failure that was counted, for the log. */
  readonly onFailure?: (connectionId: string, error: unknown) => void;
}

export interface FanOutReport {
  /** Subscribers read from the index, delivered to or not. */
  readonly examined: number;
  readonly delivered: number;
  /** Connections found gone and deleted. */
  readonly gone: number;
  /** Posts that failed for good. */
  readonly failed: number;
  /** Connections whose token had expired: closed instead of posted to. */
  readonly expired: number;
  /** Where the next invocation resumes; absent when every subscriber was handled. */
  readonly cursor?: string;
}

type PostOutcome = 'delivered' | 'gone' | 'failed' | 'expired';

const sleep = async (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Runs `work` over `items` with at most `limit` calls in flight. */
const inPool = async <T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> => {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T);
    }
  };

  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));

  return results;
};

const postOnce = async (
  subscriber: Subscriber,
  message: string,
  options: FanOutOptions,
): Promise<PostOutcome> => {
  if (credentialsExpired(subscriber)) {
    return closeExpired(subscriber, options);
  }
  const firstDelayMs = options.firstRetryDelayMs ?? FAN_OUT_FIRST_RETRY_DELAY_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await options.poster.post(subscriber.connectionId, message);

      return 'delivered';
    } catch (error) {
      if (error instanceof PostThrottledError && attempt < FAN_OUT_THROTTLED_ATTEMPTS) {
        await sleep(firstDelayMs * 2 ** (attempt - 1));
        continue;
      }
      if (error instanceof ConnectionGoneError) {
        return removeGone(subscriber, options);
      }
      options.onFailure?.(subscriber.connectionId, error);

      return 'failed';
    }
  }
};

const removeGone = async (subscriber: Subscriber, options: FanOutOptions): Promise<PostOutcome> => {
  try {
    await options.store.deleteConnection(subscriber.connectionId);

    return 'gone';
  } catch (error) {
    // The records stay until their TTL; the next broadcast tries the delete again.
    options.onFailure?.(subscriber.connectionId, error);

    return 'failed';
  }
};

/** Closing runs `$disconnect`, which deletes the records; the client reconnects with a new token. */
const closeExpired = async (
  subscriber: Subscriber,
  options: FanOutOptions,
): Promise<PostOutcome> => {
  try {
    await options.poster.close(subscriber.connectionId);

    return 'expired';
  } catch (error) {
    options.onFailure?.(subscriber.connectionId, error);

    return 'failed';
  }
};

/** Whether this subscription is to receive the event from fan-out. */
const isAudience = (event: StoredEvent, subscriber: Subscriber): boolean => {
  const channel = findChannel(event.channel);

  return (
    channel !== undefined &&
    mayReceive({ id: subscriber.identityId }, channel, event.owner) &&
    Number(event.id) >= subscriber.fromSeq
  );
};

/**
 * Posts `event` to its channel's subscribers from `cursor` on (the start when absent), at most
 * `maxSubscribers` of them; see the file comment.
 */
export const fanOut = async (
  event: StoredEvent,
  options: FanOutOptions,
  cursor?: string,
): Promise<FanOutReport> => {
  const maxSubscribers = options.maxSubscribers ?? FAN_OUT_MAX_SUBSCRIBERS_PER_INVOCATION;
  const concurrency = options.concurrency ?? FAN_OUT_CONCURRENCY;
  const message = encodeMessage(eventMessage(event));
  const counts = { examined: 0, delivered: 0, gone: 0, failed: 0, expired: 0 };
  let position = cursor;

  do {
    const page = await options.store.listSubscribers(
      event.channel,
      Math.min(FAN_OUT_PAGE_SIZE, maxSubscribers - counts.examined),
      position,
    );
    counts.examined += page.subscribers.length;
    const audience = page.subscribers.filter((subscriber) => isAudience(event, subscriber));
    const outcomes = await inPool(audience, concurrency, (subscriber) =>
      postOnce(subscriber, message, options),
    );
    for (const outcome of outcomes) {
      counts[outcome] += 1;
    }
    position = page.cursor;
  } while (position !== undefined && counts.examined < maxSubscribers);
  const rest = position === undefined ? undefined : await remainingFrom(event, options, position);

  return { ...counts, ...(rest === undefined ? {} : { cursor: rest }) };
};

/**
 * `position` when subscribers are left after it, else `undefined`. DynamoDB answers a cursor
 * whenever a page is full, even when nothing follows; one item's read spares the channel an
 * invocation that would find nobody.
 */
const remainingFrom = async (
  event: StoredEvent,
  options: FanOutOptions,
  position: string,
): Promise<string | undefined> => {
  const peek = await options.store.listSubscribers(event.channel, 1, position);

  return peek.subscribers.length > 0 || peek.cursor !== undefined ? position : undefined;
};
