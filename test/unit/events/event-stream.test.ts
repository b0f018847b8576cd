import { describe, expect, it } from 'vitest';
import { findChannel, type ChannelDeclaration, type ChannelName } from '@shared/events/channels';
import type { EventStore, StoredEvent } from '@shared/events/event-store';
import {
  assertMayFollow,
  eventStreamFrames,
  formatCursor,
  mergeChannels,
  parseChannels,
  parseCursor,
} from '@shared/events/event-stream';
import { GatewayError, ValidationError } from '@shared/errors/gateway-error';
import type { Identity } from '@shared/identity/identity';

const TASKS = findChannel('task_updates') as ChannelDeclaration;
const AUDIT = findChannel('audit_events') as ChannelDeclaration;

const identity = (scopes: string[]): Identity => ({
  id: 'service:alpha',
  kind: 'service',
  subject: 'alpha',
  scopes,
  method: 'bearer',
  issuer: 'https://gateway.test',
});

/** An in-memory store whose oldest events may have expired: `kept` holds what is left. */
const memoryStore = (kept: StoredEvent[], latest: Record<string, number>) => {
  const store: Pick<EventStore, 'readEvents' | 'latestSeq'> = {
    latestSeq: async (channel) => latest[channel] ?? 0,
    readEvents: async (channel, afterSeq, limit) =>
      kept
        .filter((event) => event.channel === channel && Number(event.id) > afterSeq)
        .slice(0, limit),
  };

  return store;
};

const event = (channel: ChannelName, seq: number, owner?: string): StoredEvent => ({
  id: String(seq),
  channel,
  type: channel === 'task_updates' ? 'task.updated' : 'audit.created',
  data: { n: seq },
  timestamp: new Date(Date.UTC(2026, 11, 3, 18, 0, seq)).toISOString(),
  ...(owner === undefined ? {} : { owner }),
});

/** Every frame of a stream whose deadline is `ms` from now. */
const framesOf = async (
  options: Partial<Parameters<typeof eventStreamFrames>[0]> &
    Pick<Parameters<typeof eventStreamFrames>[0], 'store' | 'channels'>,
  ms = 50,
): Promise<string[]> => {
  const frames: string[] = [];
  for await (const frame of eventStreamFrames({
    subscriber: { id: 'service:alpha' },
    resumeFrom: new Map(),
    deadlineMs: Date.now() + ms,
    pollIntervalMs: 10,
    heartbeatIntervalMs: 60_000,
    ...options,
  })) {
    frames.push(frame);
  }

  return frames;
};

describe('parseChannels', () => {
  it('keeps the order given and drops repeats', () => {
    expect(parseChannels('audit_events, task_updates,audit_events').map((c) => c.name)).toEqual([
      'audit_events',
      'task_updates',
    ]);
  });

  it.each([undefined, '', ' , ', 'task_updates,gossip'])(
    'refuses %j as VALIDATION_FAILED',
    (text) => {
      expect(() => parseChannels(text)).toThrow(ValidationError);
    },
  );
});

describe('assertMayFollow', () => {
  it('refuses the first channel whose scope is missing, naming it', () => {
    let error: unknown;
    try {
      assertMayFollow(identity(['tasks:read']), [TASKS, AUDIT]);
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(403);
    expect((error as GatewayError).details).toMatchObject({
      channel: 'audit_events',
      missing: ['audit:read'],
    });
    expect(() =>
      assertMayFollow(identity(['tasks:read', 'audit:read']), [TASKS, AUDIT]),
    ).not.toThrow();
  });
});

describe('parseCursor and formatCursor', () => {
  it('round-trips the positions of the chosen channels and ignores others', () => {
    const cursor = parseCursor('task_updates:12,audit_events:40', [TASKS]);

    expect([...cursor]).toEqual([['task_updates', 12]]);
    expect(
      formatCursor(
        [TASKS, AUDIT],
        new Map([
          ['task_updates', 12],
          ['audit_events', 40],
        ]),
      ),
    ).toBe('task_updates:12,audit_events:40');
    expect(parseCursor(undefined, [TASKS]).size).toBe(0);
  });

  it.each([
    'task_updates',
    'task_updates:-1',
    'task_updates:1.5',
    'gossip:3',
    'task_updates:1:2',
    'task_updates:01',
  ])('refuses %j as VALIDATION_FAILED', (text) => {
    expect(() => parseCursor(text, [TASKS])).toThrow(ValidationError);
  });
});

describe('eventStreamFrames', () => {
  it('starts a fresh stream at the latest event: nothing older is sent', async () => {
    const store = memoryStore([event('audit_events', 1), event('audit_events', 2)], {
      audit_events: 2,
    });

    const frames = await framesOf({ store, channels: [AUDIT] });

    expect(frames[0]).toBe('retry: 1000\n: stream open\n\n');
    expect(frames.join('')).not.toContain('event: audit.created');
    expect(frames.at(-1)).toBe(': stream ends; reconnect with Last-Event-ID\n\n');
  });

  it('resumes after the cursor, and says which events expired before it could', async () => {
    // Seqs 1 to 4 expired; 5 and 6 are kept.
    const store = memoryStore([event('audit_events', 5), event('audit_events', 6)], {
      audit_events: 6,
    });

    const frames = await framesOf({
      store,
      channels: [AUDIT],
      resumeFrom: new Map([['audit_events', 2]]),
    });

    expect(frames[1]).toBe(
      'id: audit_events:4\nevent: events.missed\n' +
        'data: {"channel":"audit_events","first_missed":"3","last_missed":"4"}\n\n',
    );
    expect(frames.filter((frame) => frame.includes('event: audit.created'))).toEqual([
      `id: audit_events:5\nevent: audit.created\ndata: ${JSON.stringify({ ...event('audit_events', 5) })}\n\n`,
      `id: audit_events:6\nevent: audit.created\ndata: ${JSON.stringify({ ...event('audit_events', 6) })}\n\n`,
    ]);
  });

  it("sends only the subscriber's own task events, and moves the cursor past the others", async () => {
    const store = memoryStore(
      [
        event('task_updates', 4, 'service:alpha'),
        event('task_updates', 5, 'service:beta'),
        event('task_updates', 6, 'service:beta'),
      ],
      { task_updates: 6 },
    );

    const frames = await framesOf(
      {
        store,
        channels: [TASKS],
        resumeFrom: new Map([['task_updates', 3]]),
        heartbeatIntervalMs: 20,
      },
      100,
    );

    const sent = frames.filter((frame) => frame.includes('event: task.updated'));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('id: task_updates:4\n');
    expect(sent[0]).not.toContain('owner');
    expect(frames).toContain('id: task_updates:6\nevent: cursor\ndata: {}\n\n');
    expect(frames).toContain(': heartbeat\n\n');
  });

  it('orders the events of several channels by time, each id naming every channel', async () => {
    const store = memoryStore(
      [
        { ...event('task_updates', 1, 'service:alpha'), timestamp: '2026-12-03T18:00:03.000Z' },
        { ...event('audit_events', 7), timestamp: '2026-12-03T18:00:02.000Z' },
      ],
      { task_updates: 1, audit_events: 7 },
    );

    const frames = await framesOf({
      store,
      channels: [TASKS, AUDIT],
      resumeFrom: new Map([
        ['task_updates', 0],
        ['audit_events', 6],
      ]),
    });

    const ids = frames
      .filter((frame) => frame.startsWith('id: '))
      .map((frame) => frame.split('\n')[0]);
    expect(ids).toEqual(['id: task_updates:0,audit_events:7', 'id: task_updates:1,audit_events:7']);
  });

  it('keeps seq order within a channel when timestamps disagree, so a resume repeats nothing', async () => {
    // Seq 2 was written by a writer whose clock ran behind: its timestamp is older than seq 1's.
    const store = memoryStore(
      [
        { ...event('audit_events', 1), timestamp: '2026-12-03T18:00:05.000Z' },
        { ...event('audit_events', 2), timestamp: '2026-12-03T18:00:01.000Z' },
      ],
      { audit_events: 2 },
    );

    const frames = await framesOf({
      store,
      channels: [AUDIT],
      resumeFrom: new Map([['audit_events', 0]]),
    });

    const ids = frames
      .filter((frame) => frame.includes('event: audit.created'))
      .map((frame) => frame.split('\n')[0]);
    expect(ids).toEqual(['id: audit_events:1', 'id: audit_events:2']);
  });
  it('stops a quiet stream as soon as its reader is gone, without polling on', async () => {
    let reads = 0;
    const store = memoryStore([], { audit_events: 3 });
    const counting: typeof store = {
      latestSeq: store.latestSeq,
      readEvents: async (...args) => {
        reads += 1;
        return store.readEvents(...args);
      },
    };
    const gone = new AbortController();
    const startedAt = Date.now();
    setTimeout(() => gone.abort(), 100);

    const frames = await framesOf(
      { store: counting, channels: [AUDIT], signal: gone.signal },
      10_000,
    );
    const readsAtEnd = reads;
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(frames.join('')).not.toContain('stream ends');
    expect(reads).toBe(readsAtEnd);
  });
  it('polls with eventually consistent head reads, and starts with consistent ones', async () => {
    const seen: Array<boolean | undefined> = [];
    const store = memoryStore([], { audit_events: 3 });
    const watching: typeof store = {
      latestSeq: async (channel, options) => {
        seen.push(options?.eventuallyConsistentHead);
        return store.latestSeq(channel);
      },
      readEvents: async (channel, afterSeq, limit, options) => {
        seen.push(options?.eventuallyConsistentHead);
        return store.readEvents(channel, afterSeq, limit);
      },
    };

    await framesOf({ store: watching, channels: [AUDIT] }, 40);

    expect(seen[0]).toBeUndefined();
    expect(seen.slice(1).length).toBeGreaterThan(0);
    expect(new Set(seen.slice(1))).toEqual(new Set([true]));
  });
});

describe('mergeChannels', () => {
  it('interleaves channels by time without reordering any one channel', () => {
    const tasks = [
      { ...event('task_updates', 1), timestamp: '2026-12-03T18:00:03.000Z' },
      { ...event('task_updates', 2), timestamp: '2026-12-03T18:00:01.000Z' },
    ];
    const audit = [{ ...event('audit_events', 9), timestamp: '2026-12-03T18:00:02.000Z' }];

    const merged = mergeChannels([tasks, audit]).map((e) => `${e.channel}:${e.id}`);

    expect(merged).toEqual(['audit_events:9', 'task_updates:1', 'task_updates:2']);
  });
});
