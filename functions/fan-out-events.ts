/**
 * The `fanOutEvents` stream consumer of the `events` table: each new event goes to the
 * WebSocket subscribers of its channel (`shared/events/fan-out.ts`). Heads and source markers
 * are ignored. A channel with more subscribers than one invocation handles is handed on as a
 * continuation item, whose own stream record brings the rest back here.
 *
 * Records are handled in order. When one fails as a whole (the connections table unreachable),
 * the handler answers it as the first batch item failure, so the mapping retries from there;
 * events before it are not delivered twice. A failure to reach one subscriber is counted, never
 * a batch failure.
 */
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { findChannel } from '@shared/events/channels';
import { gatewayConnectionPoster } from '@shared/events/connection-poster';
import { gatewayConnectionStore } from '@shared/events/connection-store';
import {
  isEventItem,
  readEventItem,
  type ReadableEventItem,
} from '@shared/events/dynamodb-event-items';
import type { StoredEvent } from '@shared/events/event-store';
import { fanOut } from '@shared/events/fan-out';
import {
  isContinuationItem,
  readContinuation,
  writeContinuation,
} from '@shared/events/fan-out-continuations';
import { logger } from '@shared/logging/logger';
import { recordMetric } from '@shared/metrics/metrics';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';

interface Work {
  readonly event: StoredEvent;
  readonly cursor?: string;
  /** The continuation part this record is; 0 for the event itself. */
  readonly part: number;
}

const workOf = (record: DynamoDBRecord): Work | undefined => {
  const image = record.dynamodb?.NewImage as ReadableEventItem | undefined;
  if (record.eventName !== 'INSERT' || image === undefined) {
    return undefined;
  }
  if (isEventItem(image)) {
    return { event: readEventItem(image), part: 0 };
  }
  if (isContinuationItem(image)) {
    const continuation = readContinuation(image);

    return { event: continuation.event, cursor: continuation.cursor, part: continuation.part };
  }

  return undefined;
};

const deliver = async (work: Work): Promise<void> => {
  const { event } = work;
  const report = await fanOut(
    event,
    {
      store: gatewayConnectionStore(),
      poster: gatewayConnectionPoster(),
      onFailure: (connectionId, error) => {
        logger.warn('an event could not be posted to a connection', {
          channel: event.channel,
          event_id: event.id,
          request_id: event.requestId,
          connection_id: connectionId,
          error,
        });
      },
    },
    work.cursor,
  );
  const dimensions = { channel: event.channel };
  recordMetric('FanOutDeliveries', report.delivered, dimensions);
  recordMetric('FanOutGone', report.gone, dimensions);
  recordMetric('FanOutFailures', report.failed, dimensions);
  if (report.cursor !== undefined) {
    await writeContinuation({ event, cursor: report.cursor, part: work.part + 1 });
  }
  logger.info('event fanned out', {
    channel: event.channel,
    event_id: event.id,
    request_id: event.requestId,
    part: work.part,
    ...report,
    cursor: report.cursor === undefined ? undefined : 'handed on',
  });
};

export const handler = withInvocationMetrics(
  async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    for (const record of event.Records) {
      let work: Work | undefined;
      try {
        work = workOf(record);
      } catch (error) {
        // A malformed item cannot improve by retrying; the operator hears of it.
        logger.error('an events stream record could not be read', { error });
        continue;
      }
      if (work === undefined || findChannel(work.event.channel) === undefined) {
        continue;
      }
      try {
        await deliver(work);
      } catch (error) {
        logger.error('fan-out of an event failed; the batch resumes from it', {
          channel: work.event.channel,
          event_id: work.event.id,
          error,
        });
        return { batchItemFailures: [{ itemIdentifier: record.dynamodb?.SequenceNumber ?? '' }] };
      }
    }

    return { batchItemFailures: [] };
  },
);
