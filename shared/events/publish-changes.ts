/**
 * What both event producers do with a batch of stored changes: make an event of each change
 * that deserves one, publish them in the batch's order, and count them.
 */
import { recordMetric } from '@shared/metrics/metrics';
import type { EventDraft, EventStore, StoredEvent } from './event-store';
import type { StoredChange } from './stream-change';

export type EventProducer = (change: StoredChange) => EventDraft | undefined;

/**
 * Publishes the events of `changes`, oldest first, and answers those stored. A change already
 * published by an earlier try of the same batch is published no second time. A failure
 * throws, for the stream to deliver the batch again.
 */
export const publishChanges = async (
  changes: readonly StoredChange[],
  produce: EventProducer,
  store: EventStore,
): Promise<StoredEvent[]> => {
  const drafts = changes.map(produce).filter((draft) => draft !== undefined);
  if (drafts.length === 0) {
    return [];
  }
  const stored = await store.append(drafts);

  const perChannel = new Map<string, number>();
  for (const event of stored) {
    perChannel.set(event.channel, (perChannel.get(event.channel) ?? 0) + 1);
  }
  for (const [channel, count] of perChannel) {
    recordMetric('EventsPublished', count, { channel });
  }

  return stored;
};
