import { describe, expect, it } from 'vitest';
import type { ChannelName } from '@shared/events/channels';
import { ConnectionGoneError, PostThrottledError } from '@shared/events/connection-poster';
import type { Subscriber, SubscriberPage } from '@shared/events/connection-store';
import type { StoredEvent } from '@shared/events/event-store';
import { FAN_OUT_THROTTLED_ATTEMPTS, fanOut } from '@shared/events/fan-out';

/** Subscribers in memory, paged by index as the `by_channel` query pages them. */
const subscriberPages = (subscribers: Subscriber[]) => {
  const deleted: string[] = [];
  const queries: number[] = [];

  return {
    deleted,
    queries,
    listSubscribers: async (
      channel: ChannelName,
      limit: number,
      cursor?: string,
    ): Promise<SubscriberPage> => {
      queries.push(limit);
      const matching = subscribers.filter((subscriber) => subscriber.channel === channel);
      const start = cursor === undefined ? 0 : Number(cursor);
      const page = matching.slice(start, start + limit);
      const end = start + page.length;

      // Like DynamoDB, a full page always comes with a cursor, even at the very end.
      return { subscribers: page, ...(page.length === limit ? { cursor: String(end) } : {}) };
    },
    deleteConnection: async (connectionId: string) => {
      deleted.push(connectionId);
    },
  };
};

const close = async (): Promise<void> => undefined;

const subscriber = (index: number, identityId = 'service:a', fromSeq = 0): Subscriber => ({
  connectionId: `conn-${index}`,
  identityId,
  channel: 'task_updates',
  fromSeq,
});

const event = (owner: string, id = '7'): StoredEvent => ({
  id,
  channel: 'task_updates',
  type: 'task.updated',
  data: { task_id: 'task_1', status: 'running' },
  timestamp: '2026-12-03T21:00:00.000Z',
  owner,
});

describe('fanOut', () => {
  it('closes the connections whose token has expired instead of posting to them', async () => {
    const expired = { ...subscriber(1), credentialsExpireAt: Math.floor(Date.now() / 1_000) - 1 };
    const valid = { ...subscriber(2), credentialsExpireAt: Math.floor(Date.now() / 1_000) + 60 };
    const store = subscriberPages([expired, valid, subscriber(3)]);
    const posted: string[] = [];
    const closed: string[] = [];

    const report = await fanOut(event('service:a'), {
      store,
      poster: {
        post: async (connectionId) => void posted.push(connectionId),
        close: async (connectionId) => void closed.push(connectionId),
      },
    });

    expect(posted.sort()).toEqual(['conn-2', 'conn-3']);
    expect(closed).toEqual(['conn-1']);
    expect(report).toMatchObject({ delivered: 2, expired: 1, failed: 0 });
  });

  it('posts to the owner’s subscriptions only, from each one’s first seq on', async () => {
    const store = subscriberPages([
      subscriber(1),
      subscriber(2, 'service:b'),
      subscriber(3, 'service:a', 8),
      subscriber(4),
    ]);
    const posted: string[] = [];

    const report = await fanOut(event('service:a'), {
      store,
      poster: { post: async (connectionId) => void posted.push(connectionId), close },
    });

    expect(posted.sort()).toEqual(['conn-1', 'conn-4']);
    expect(report).toMatchObject({ examined: 4, delivered: 2, gone: 0, failed: 0 });
    expect(report.cursor).toBeUndefined();
  });

  it('deletes gone connections, retries throttled posts and keeps going past failures', async () => {
    const store = subscriberPages([1, 2, 3, 4, 5].map((index) => subscriber(index)));
    const tries = new Map<string, number>();
    const failures: string[] = [];

    const report = await fanOut(event('service:a'), {
      store,
      firstRetryDelayMs: 1,
      onFailure: (connectionId) => failures.push(connectionId),
      poster: {
        close,
        post: async (connectionId) => {
          const attempt = (tries.get(connectionId) ?? 0) + 1;
          tries.set(connectionId, attempt);
          if (connectionId === 'conn-2') throw new ConnectionGoneError(connectionId);
          if (connectionId === 'conn-3' && attempt < 3) throw new PostThrottledError(connectionId);
          if (connectionId === 'conn-4') throw new PostThrottledError(connectionId);
          if (connectionId === 'conn-5') throw new Error('socket hang up');
        },
      },
    });

    expect(report).toMatchObject({ delivered: 2, gone: 1, failed: 2 });
    expect(store.deleted).toEqual(['conn-2']);
    expect(tries.get('conn-3')).toBe(3);
    expect(tries.get('conn-4')).toBe(FAN_OUT_THROTTLED_ATTEMPTS);
    expect(failures.sort()).toEqual(['conn-4', 'conn-5']);
  });

  it('stops after its share of subscribers and answers where the next invocation resumes', async () => {
    const store = subscriberPages(Array.from({ length: 12 }, (_, index) => subscriber(index)));
    const posted: string[] = [];
    const options = {
      store,
      maxSubscribers: 5,
      poster: { post: async (connectionId: string) => void posted.push(connectionId), close },
    };

    const first = await fanOut(event('service:a'), options);
    const second = await fanOut(event('service:a'), options, first.cursor);
    const third = await fanOut(event('service:a'), options, second.cursor);

    expect([first.delivered, second.delivered, third.delivered]).toEqual([5, 5, 2]);
    expect(third.cursor).toBeUndefined();
    expect(new Set(posted).size).toBe(12);
  });

  it('hands nothing on when the last page was exactly full', async () => {
    const store = subscriberPages(Array.from({ length: 5 }, (_, index) => subscriber(index)));

    const report = await fanOut(event('service:a'), {
      store,
      maxSubscribers: 5,
      poster: { post: async () => undefined, close },
    });

    expect(report).toMatchObject({ delivered: 5 });
    expect(report.cursor).toBeUndefined();
  });

  it('keeps at most its concurrency of posts in flight', async () => {
    const store = subscriberPages(Array.from({ length: 40 }, (_, index) => subscriber(index)));
    let inFlight = 0;
    let most = 0;

    await fanOut(event('service:a'), {
      store,
      concurrency: 7,
      poster: {
        close,
        post: async () => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          await new Promise((resolve) => setTimeout(resolve, 2));
          inFlight -= 1;
        },
      },
    });

    expect(most).toBe(7);
  });
});
