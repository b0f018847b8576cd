import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventPk, headKey } from '@shared/events/dynamodb-event-items';
import {
  DEFAULT_EVENT_RETENTION_HOURS,
  MAX_EVENTS_PER_TRANSACTION,
  type EventDraft,
  type StoredEvent,
} from '@shared/events/event-store';
import { createEventTables, type EventTables } from '@test/fixtures/event-tables';

let tables: EventTables;

beforeAll(async () => {
  tables = await createEventTables(inject('dynamoEndpoint'), 'evstore');
});

afterAll(() => {
  tables.client.destroy();
});

const taskDraft = (taskId: string, status: string, sourceId?: string): EventDraft => ({
  channel: 'task_updates',
  type: 'task.updated',
  data: { task_id: taskId, status },
  timestamp: new Date().toISOString(),
  owner: 'service:alpha',
  requestId: `req-${taskId}`,
  ...(sourceId === undefined ? {} : { sourceId }),
});

const auditDraft = (auditId: string): EventDraft => ({
  channel: 'audit_events',
  type: 'audit.created',
  data: { audit_id: auditId },
  timestamp: new Date().toISOString(),
});

const seqs = (events: readonly StoredEvent[]): number[] => events.map((event) => Number(event.id));

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, index) => from + index);

describe('the DynamoDB event store', () => {
  it('numbers each channel from 1, one by one, and reads back what it stored', async () => {
    const store = tables.store();

    const stored = await store.append([
      taskDraft('tsk_a', 'accepted'),
      auditDraft('aud_1'),
      taskDraft('tsk_a', 'running'),
    ]);
    const tasks = await store.readEvents('task_updates', 0, 10);
    const audit = await store.readEvents('audit_events', 0, 10);

    expect(stored.map((event) => `${event.channel}:${event.id}`)).toEqual([
      'task_updates:1',
      'task_updates:2',
      'audit_events:1',
    ]);
    expect(tasks).toEqual([
      {
        id: '1',
        channel: 'task_updates',
        type: 'task.updated',
        data: { task_id: 'tsk_a', status: 'accepted' },
        timestamp: expect.any(String) as string,
        owner: 'service:alpha',
        requestId: 'req-tsk_a',
      },
      expect.objectContaining({ id: '2', data: { task_id: 'tsk_a', status: 'running' } }),
    ]);
    expect(audit).toEqual([expect.objectContaining({ id: '1', data: { audit_id: 'aud_1' } })]);
    expect(audit[0]).not.toHaveProperty('owner');
    expect(await store.latestSeq('task_updates')).toBe(2);
  });

  it('reads after a seq, oldest first, at most the limit', async () => {
    const store = tables.store();
    const before = await store.latestSeq('task_updates');
    await store.append(range(1, 8).map((n) => taskDraft(`tsk_r${n}`, 'accepted')));

    const page = await store.readEvents('task_updates', before + 2, 3);
    const rest = await store.readEvents('task_updates', before + 5, 100);

    expect(seqs(page)).toEqual([before + 3, before + 4, before + 5]);
    expect(seqs(rest)).toEqual([before + 6, before + 7, before + 8]);
    expect(await store.readEvents('task_updates', before + 8, 10)).toEqual([]);
  });

  it('keeps ids gap-free and unique when many publishers append to one channel at once', async () => {
    const store = tables.store();
    const before = await store.latestSeq('audit_events');
    const publishers = 12;
    const perPublisher = 5;

    const results = await Promise.all(
      range(1, publishers).map(async (publisher) => {
        const stored: StoredEvent[] = [];
        for (let n = 1; n <= perPublisher; n += 1) {
          stored.push(...(await store.append([auditDraft(`aud_p${publisher}_${n}`)])));
        }

        return stored;
      }),
    );
    const read = await store.readEvents('audit_events', before, 1_000);

    const total = publishers * perPublisher;
    expect(seqs(read)).toEqual(range(before + 1, before + total));
    expect(new Set(read.map((event) => event.data.audit_id)).size).toBe(total);
    expect(
      results
        .flat()
        .map((event) => Number(event.id))
        .sort((a, b) => a - b),
    ).toEqual(range(before + 1, before + total));
    // Each publisher's own events keep the order it published them in.
    for (const stored of results) {
      expect(seqs(stored)).toEqual([...seqs(stored)].sort((a, b) => a - b));
    }
  });

  it('spreads a batch larger than one transaction over several, still gap-free', async () => {
    const store = tables.store();
    const before = await store.latestSeq('task_updates');
    const count = MAX_EVENTS_PER_TRANSACTION * 2 + 3;

    await store.append(
      range(1, count).map((n) => taskDraft(`tsk_big${n}`, 'accepted', `big-${n}`)),
    );
    const read = await store.readEvents('task_updates', before, 1_000);

    expect(seqs(read)).toEqual(range(before + 1, before + count));
    expect(read.map((event) => event.data.task_id)).toEqual(
      range(1, count).map((n) => `tsk_big${n}`),
    );
  });

  it('publishes a source once, however often it is appended again', async () => {
    const store = tables.store();
    const before = await store.latestSeq('task_updates');
    const batch = [
      taskDraft('tsk_once', 'accepted', 'tsk_once#v1'),
      taskDraft('tsk_once', 'running', 'tsk_once#v2'),
    ];

    const first = await store.append(batch);
    const again = await store.append(batch);
    const partly = await store.append([
      batch[1] as EventDraft,
      taskDraft('tsk_once', 'completed', 'tsk_once#v3'),
    ]);
    const read = await store.readEvents('task_updates', before, 100);

    expect(seqs(first)).toEqual([before + 1, before + 2]);
    expect(again).toEqual([]);
    expect(partly.map((event) => event.data.status)).toEqual(['completed']);
    expect(read.map((event) => event.data.status)).toEqual(['accepted', 'running', 'completed']);
  });

  it('sets expires_at the retention after publishing, and skips events whose time has passed', async () => {
    const published = new Date('2026-12-03T10:00:00.000Z');
    const store = tables.store({ now: () => published });
    const [event] = await store.append([auditDraft('aud_ttl')]);
    const seq = Number(event?.id);

    const item = await tables.client.send(
      new GetItemCommand({
        TableName: tables.eventsTable,
        Key: { pk: { S: eventPk('audit_events') }, sk: { N: String(seq) } },
      }),
    );
    const justBefore = tables.store({
      now: () => new Date(published.getTime() + DEFAULT_EVENT_RETENTION_HOURS * 3_600_000 - 1_000),
    });
    const after = tables.store({
      now: () => new Date(published.getTime() + DEFAULT_EVENT_RETENTION_HOURS * 3_600_000),
    });

    expect(item.Item?.expires_at).toEqual({
      N: String(published.getTime() / 1_000 + DEFAULT_EVENT_RETENTION_HOURS * 3_600),
    });
    expect(seqs(await justBefore.readEvents('audit_events', seq - 1, 10))).toEqual([seq]);
    expect(await after.readEvents('audit_events', seq - 1, 10)).toEqual([]);
  });

  it('keeps the head item at the latest seq', async () => {
    const store = tables.store();
    await store.append([auditDraft('aud_head')]);

    const head = await tables.client.send(
      new GetItemCommand({ TableName: tables.eventsTable, Key: headKey('audit_events') }),
    );

    expect(Number(head.Item?.seq?.N)).toBe(await store.latestSeq('audit_events'));
  });

  it('reads the same events with an eventually consistent head read', async () => {
    const store = tables.store();
    const before = await store.latestSeq('audit_events');
    await store.append([auditDraft('aud_ec1'), auditDraft('aud_ec2')]);

    const consistent = await store.readEvents('audit_events', before, 10);
    const eventual = await store.readEvents('audit_events', before, 10, {
      eventuallyConsistentHead: true,
    });

    expect(seqs(consistent)).toEqual([before + 1, before + 2]);
    expect(eventual).toEqual(consistent);
  });

  it('refuses a negative seq and a limit out of range', async () => {
    const store = tables.store();

    await expect(store.readEvents('audit_events', -1, 10)).rejects.toThrow(/eventStore.invalidSeq/);
    await expect(store.readEvents('audit_events', 0, 0)).rejects.toThrow(/eventStore.invalidLimit/);
    await expect(store.readEvents('audit_events', 0, 1_001)).rejects.toThrow(
      /eventStore.invalidLimit/,
    );
  });
});
