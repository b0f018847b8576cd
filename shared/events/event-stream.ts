/**
 * Server-Sent Events over the events table: which channels a request asks for, where in each
 * it resumes, and the frames of the stream itself.
 *
 * Resuming: each frame's `id:` is a cursor over every chosen channel, such as
 * `task_updates:12,audit_events:40`: the seq of the last event of each channel that the stream
 * has passed, whether it was delivered or filtered out. An `EventSource` sends the last one it
 * saw as `Last-Event-ID` when it reconnects, and the stream goes on exactly after it: nothing
 * lost, nothing repeated. A channel the cursor does not name starts at its latest event, as a
 * fresh stream does. Events older than the events table's window (24 hours by default) are
 * gone: a cursor that old resumes at the oldest event kept, and an `events.missed` frame says
 * which seqs were lost.
 *
 * Delivery: the stream reads each channel's new events every `pollIntervalMs` (300 ms by
 * default), so an event reaches the client within about a second of its change. A comment is
 * sent every `heartbeatIntervalMs` so that proxies keep the connection open, and the stream
 * ends by itself before `deadlineMs`, the end of the function's time; the client then
 * reconnects with its `Last-Event-ID`.
 *
 * Known shortcoming: each poll reads the head item of every chosen channel, so every open
 * stream adds about 3.3 reads a second to one key. Polls read it eventually consistent (half a
 * read unit, and still without holes), so near 1,800 streams on one channel that key's
 * partition (3,000 read units a second) throttles; past that, the WebSocket API's fan-out,
 * which reads once per event whatever the number of clients, is the way.
 */
import { ConfigurationError } from '@shared/config';
import { GatewayError, ValidationError } from '@shared/errors/gateway-error';
import type { Identity } from '@shared/identity/identity';
import { missingScopes } from '@shared/identity/scopes';
import { findChannel, mayReceive, type ChannelDeclaration, type ChannelName } from './channels';
import type { EventStore, ReadOptions, StoredEvent } from './event-store';

export const DEFAULT_SSE_POLL_INTERVAL_MS = 300;
export const DEFAULT_SSE_HEARTBEAT_INTERVAL_MS = 15_000;

/** How long a client waits before it reconnects, sent as the stream's `retry:`. */
export const SSE_RETRY_MS = 1_000;

/** Events read from one channel per poll; more wait for the next poll, which follows at once. */
export const SSE_READ_BATCH = 100;

const POLL_READ_OPTIONS: ReadOptions = { eventuallyConsistentHead: true };

/** The type of the frame that reports events lost to the table's expiry. */
export const EVENTS_MISSED = 'events.missed';

/** The type of the frame that moves the cursor past events this subscriber may not see. */
export const CURSOR_ADVANCED = 'cursor';

const CHANNEL_SEPARATOR = ',';
const POSITION_SEPARATOR = ':';
const MAX_CHANNELS_TEXT_CHARS = 200;
const MAX_CURSOR_CHARS = 500;
const SEQ_PATTERN = /^(0|[1-9][0-9]{0,15})$/;

/** Where each chosen channel stands: the seq of the last event passed. */
export type StreamCursor = ReadonlyMap<ChannelName, number>;

/**
 * The channels of `?channels=task_updates,audit_events`, in the order given, each once. An
 * empty list or a channel that does not exist is `VALIDATION_FAILED`.
 */
export const parseChannels = (text: string | undefined): ChannelDeclaration[] => {
  const names = (text ?? '').split(CHANNEL_SEPARATOR).map((name) => name.trim());
  if (text === undefined || text.length > MAX_CHANNELS_TEXT_CHARS || names.every((n) => !n)) {
    throw new ValidationError('Name the channels to follow.', [
      { field: 'query.channels', message: 'a comma-separated list of channels is required' },
    ]);
  }
  const channels: ChannelDeclaration[] = [];
  for (const name of names.filter((candidate) => candidate !== '')) {
    const channel = findChannel(name);
    if (channel === undefined) {
      throw new ValidationError(`There is no channel ${JSON.stringify(name)}.`, [
        { field: 'query.channels', message: `unknown channel ${JSON.stringify(name)}` },
      ]);
    }
    if (!channels.includes(channel)) {
      channels.push(channel);
    }
  }

  return channels;
};

/** Refuses with 403 the first channel whose scopes `identity` does not all hold. */
export const assertMayFollow = (
  identity: Identity,
  channels: readonly ChannelDeclaration[],
): void => {
  for (const channel of channels) {
    const missing = missingScopes(identity.scopes, channel.scopes);
    if (missing.length > 0) {
      throw new GatewayError(
        'FORBIDDEN',
        `The token lacks a scope channel ${channel.name} needs.`,
        {
          details: {
            reason: 'insufficient_scope',
            channel: channel.name,
            required: channel.scopes,
            missing,
          },
        },
      );
    }
  }
};

const invalidCursor = (message: string): ValidationError =>
  new ValidationError('The Last-Event-ID is not a cursor of this stream.', [
    { field: 'headers.last-event-id', message },
  ]);

/**
 * The positions a `Last-Event-ID` names, or an empty map without one. A cursor that is not
 * `<channel>:<seq>[,...]` over declared channels is `VALIDATION_FAILED`; positions of channels
 * the stream does not follow are kept out.
 */
export const parseCursor = (
  text: string | undefined,
  channels: readonly ChannelDeclaration[],
): Map<ChannelName, number> => {
  const cursor = new Map<ChannelName, number>();
  if (text === undefined || text.trim() === '') {
    return cursor;
  }
  if (text.length > MAX_CURSOR_CHARS) {
    throw invalidCursor(`longer than ${MAX_CURSOR_CHARS} characters`);
  }
  for (const part of text.trim().split(CHANNEL_SEPARATOR)) {
    const [name = '', seq = '', ...rest] = part.trim().split(POSITION_SEPARATOR);
    const channel = findChannel(name);
    if (channel === undefined || rest.length > 0 || !SEQ_PATTERN.test(seq)) {
      throw invalidCursor(`${JSON.stringify(part)} is not <channel>:<seq>`);
    }
    if (channels.includes(channel)) {
      cursor.set(channel.name as ChannelName, Number(seq));
    }
  }

  return cursor;
};

/** The `id:` of a frame: the cursor over the chosen channels, in their order. */
export const formatCursor = (
  channels: readonly ChannelDeclaration[],
  cursor: StreamCursor,
): string =>
  channels
    .map(
      (channel) =>
        `${channel.name}${POSITION_SEPARATOR}${cursor.get(channel.name as ChannelName) ?? 0}`,
    )
    .join(CHANNEL_SEPARATOR);

/** One SSE frame; `data` is JSON, so it holds no line break. */
export const sseFrame = (fields: { id?: string; event?: string; data: unknown }): string =>
  `${fields.id === undefined ? '' : `id: ${fields.id}\n`}` +
  `${fields.event === undefined ? '' : `event: ${fields.event}\n`}` +
  `data: ${JSON.stringify(fields.data)}\n\n`;

export const sseComment = (text: string): string => `: ${text}\n\n`;

export interface EventStreamSettings {
  readonly pollIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  /** The longest one stream runs, before the function's own deadline. */
  readonly maxStreamMs: number;
}

const positiveInteger = (name: string, fallback: number): number => {
  const text = process.env[name];
  if (text === undefined || text === '') {
    return fallback;
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(`config.invalidVariable: ${name} must be a whole number >= 1`);
  }

  return value;
};

/**
 * The stream's timing, from `SSE_POLL_INTERVAL_MS`, `SSE_HEARTBEAT_INTERVAL_MS` and
 * `SSE_MAX_STREAM_SECONDS` when set (tests shorten them), else the defaults and the route's
 * `maxStreamSeconds`.
 */
export const eventStreamSettings = (maxStreamSeconds: number): EventStreamSettings => ({
  pollIntervalMs: positiveInteger('SSE_POLL_INTERVAL_MS', DEFAULT_SSE_POLL_INTERVAL_MS),
  heartbeatIntervalMs: positiveInteger(
    'SSE_HEARTBEAT_INTERVAL_MS',
    DEFAULT_SSE_HEARTBEAT_INTERVAL_MS,
  ),
  maxStreamMs: positiveInteger('SSE_MAX_STREAM_SECONDS', maxStreamSeconds) * 1_000,
});

export interface EventStreamOptions {
  readonly store: Pick<EventStore, 'readEvents' | 'latestSeq'>;
  readonly subscriber: Pick<Identity, 'id'>;
  readonly channels: readonly ChannelDeclaration[];
  /** What the client's `Last-Event-ID` named; other channels start at their latest event. */
  readonly resumeFrom: StreamCursor;
  /** Epoch milliseconds by which the stream has ended. */
  readonly deadlineMs: number;
  readonly pollIntervalMs: number;
  readonly heartbeatIntervalMs: number;
  readonly now?: () => number;
  /** Where the stream starts, when read already; read first thing otherwise. */
  readonly start?: StreamStart;
  /**
   * Aborted when nobody reads any more (the client went away): the stream stops at once, not
   * at its next frame, so that a quiet stream does not poll on for nothing.
   */
  readonly signal?: AbortSignal;
}

/** Waits `ms`, or less when `signal` aborts first. */
const sleep = async (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** The event as the client reads it: the stored event without its owner and request id. */
const publicEvent = (event: StoredEvent): Record<string, unknown> => ({
  id: event.id,
  channel: event.channel,
  type: event.type,
  data: event.data,
  timestamp: event.timestamp,
});

/**
 * The events of several channels in one sequence: each channel's in seq order, which is what
 * the cursor relies on (timestamps within a channel need not follow seqs: two writers' clocks),
 * and between channels the earlier head first, the order of the channels on a tie.
 */
export const mergeChannels = (perChannel: readonly (readonly StoredEvent[])[]): StoredEvent[] => {
  const queues = perChannel.map((events) => [...events]);
  const merged: StoredEvent[] = [];
  for (;;) {
    let next: StoredEvent[] | undefined;
    for (const queue of queues) {
      const head = queue[0];
      if (head !== undefined && (next?.[0] === undefined || head.timestamp < next[0].timestamp)) {
        next = queue;
      }
    }
    const event = next?.shift();
    if (event === undefined) {
      return merged;
    }
    merged.push(event);
  }
};

/** Where a stream starts: each channel's position, and what a resume could not replay. */
export interface StreamStart {
  readonly cursor: ReadonlyMap<ChannelName, number>;
  /** `events.missed` frames, one per resumed channel whose next events have expired. */
  readonly frames: readonly string[];
}

/**
 * Where each channel starts, and the frames reporting what a resume could not replay: for a
 * resumed channel whose next event has expired, the seqs from the cursor to the oldest kept.
 * The function reads it before it answers, so that once a client sees the stream open, every
 * event published from then on reaches it.
 */
export const streamStart = async (
  options: Pick<EventStreamOptions, 'store' | 'channels' | 'resumeFrom'>,
): Promise<StreamStart> => {
  const cursor = new Map<ChannelName, number>();
  const gaps: Array<{ channel: ChannelName; first: number; last: number }> = [];
  for (const channel of options.channels) {
    const name = channel.name as ChannelName;
    const latest = await options.store.latestSeq(name);
    const resumed = options.resumeFrom.get(name);
    if (resumed === undefined || resumed >= latest) {
      // A cursor ahead of the channel (another stage's, a hand-made one) waits at its head.
      cursor.set(name, resumed === undefined ? latest : Math.min(resumed, latest));
      continue;
    }
    const [oldest] = await options.store.readEvents(name, resumed, 1);
    const next = oldest === undefined ? latest + 1 : Number(oldest.id);
    cursor.set(name, next - 1);
    if (next > resumed + 1) {
      gaps.push({ channel: name, first: resumed + 1, last: next - 1 });
    }
  }

  // Each frame's id names every channel, so the frames are made once all have a position.
  const id = formatCursor(options.channels, cursor);
  const frames = gaps.map((gap) =>
    sseFrame({
      id,
      event: EVENTS_MISSED,
      data: {
        channel: gap.channel,
        first_missed: String(gap.first),
        last_missed: String(gap.last),
      },
    }),
  );

  return { cursor, frames };
};

/**
 * The frames of one stream, until `deadlineMs` or until the consumer stops reading: the
 * reconnect delay, what a resume could not replay, then each event the subscriber may receive,
 * heartbeats in between, and a last comment. An aborted `signal` (the client went away) ends
 * it at once.
 */
export async function* eventStreamFrames(options: EventStreamOptions): AsyncGenerator<string> {
  const now = options.now ?? Date.now;
  const start = options.start ?? (await streamStart(options));
  const cursor = new Map(start.cursor);
  yield `retry: ${SSE_RETRY_MS}\n${sseComment('stream open')}`;
  yield* start.frames;

  let lastWriteMs = now();
  let cursorSent = formatCursor(options.channels, cursor);
  const stopped = (): boolean => options.signal?.aborted === true;
  while (now() < options.deadlineMs && !stopped()) {
    const perChannel: StoredEvent[][] = [];
    for (const channel of options.channels) {
      const name = channel.name as ChannelName;
      const after = cursor.get(name) ?? 0;
      // Polls come every few hundred ms: a head read a moment stale costs nothing but that.
      perChannel.push(
        await options.store.readEvents(name, after, SSE_READ_BATCH, POLL_READ_OPTIONS),
      );
    }
    const full = perChannel.some((events) => events.length === SSE_READ_BATCH);

    for (const event of mergeChannels(perChannel)) {
      const channel = options.channels.find((candidate) => candidate.name === event.channel);
      cursor.set(event.channel, Number(event.id));
      if (channel !== undefined && mayReceive(options.subscriber, channel, event.owner)) {
        cursorSent = formatCursor(options.channels, cursor);
        lastWriteMs = now();
        yield sseFrame({ id: cursorSent, event: event.type, data: publicEvent(event) });
      }
    }

    if (now() - lastWriteMs >= options.heartbeatIntervalMs) {
      const position = formatCursor(options.channels, cursor);
      lastWriteMs = now();
      // Events filtered out still move the cursor: say so with the heartbeat, so that a
      // reconnect does not read them all again.
      if (position !== cursorSent) {
        cursorSent = position;
        yield sseFrame({ id: position, event: CURSOR_ADVANCED, data: {} });
      }
      yield sseComment('heartbeat');
    }
    if (!full) {
      await sleep(
        Math.max(0, Math.min(options.pollIntervalMs, options.deadlineMs - now())),
        options.signal,
      );
    }
  }

  if (!stopped()) {
    yield sseComment('stream ends; reconnect with Last-Event-ID');
  }
}
