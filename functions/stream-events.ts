/**
 * `GET /v1/events`: Server-Sent Events of the chosen channels, with Lambda response streaming
 * behind a REST API in AWS and the local runtime's emulation of it on a laptop. The channels,
 * the caller's scopes and `Last-Event-ID` are checked before the stream starts, so a refusal is
 * the usual envelope with its status; then events flow until the stream's time is up, and the
 * client reconnects where it left off (`shared/events/event-stream.ts`).
 */
import { Readable } from 'node:stream';
import { ValidationError } from '@shared/errors/gateway-error';
import { gatewayEventStore } from '@shared/events/event-store';
import {
  assertMayFollow,
  eventStreamFrames,
  eventStreamSettings,
  parseChannels,
  parseCursor,
  streamStart,
} from '@shared/events/event-stream';
import { streamingRoute } from '@shared/lambda/streaming-route';
import { recordMetric } from '@shared/metrics/metrics';
import { z } from '@shared/validation/schema';

/** Time left to the function when the stream ends by itself, to close it cleanly. */
const END_MARGIN_MS = 2_000;

const ACCEPTABLE = /(^|,)\s*(text\/event-stream|text\/\*|\*\/\*)\s*(;|,|$)/i;

const query = z.object({
  channels: z.string().optional(),
  /** For clients that cannot send `Last-Event-ID`; the header wins when both are present. */
  last_event_id: z.string().optional(),
});

const assertAcceptsEventStream = (accept: string | undefined): void => {
  if (accept !== undefined && !ACCEPTABLE.test(accept)) {
    throw new ValidationError('This route answers text/event-stream only.', [
      { field: 'headers.accept', message: 'must accept text/event-stream' },
    ]);
  }
};

export const handler = streamingRoute('streamEvents', {
  query,
  handle: async ({ query: parameters, headers, identity, route, context }) => {
    assertAcceptsEventStream(headers.accept);
    const channels = parseChannels(parameters.channels);
    assertMayFollow(identity, channels);
    const resumeFrom = parseCursor(headers['last-event-id'] ?? parameters.last_event_id, channels);
    const settings = eventStreamSettings(route.maxStreamSeconds);
    const deadlineMs = Math.min(
      Date.now() + settings.maxStreamMs,
      Date.now() + context.getRemainingTimeInMillis() - END_MARGIN_MS,
    );

    // Positions are fixed before the answer: once the client sees the stream open, nothing
    // published afterwards can be missed, and a failing read is still an envelope.
    const store = gatewayEventStore();
    const start = await streamStart({ store, channels, resumeFrom });

    recordMetric('SseStreams', 1, {});
    const clientGone = new AbortController();
    const frames = eventStreamFrames({
      store,
      subscriber: identity,
      channels,
      resumeFrom,
      start,
      deadlineMs,
      pollIntervalMs: settings.pollIntervalMs,
      heartbeatIntervalMs: settings.heartbeatIntervalMs,
      signal: clientGone.signal,
    });
    // When the response stream closes early, the body is destroyed: stop polling at once.
    const body = Readable.from(frames, { objectMode: false });
    body.once('close', () => clientGone.abort());

    return {
      statusCode: 200,
      headers: {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        // Proxies that buffer (nginx) pass each frame on at once.
        'X-Accel-Buffering': 'no',
      },
      body,
    };
  },
});
