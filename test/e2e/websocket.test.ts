import { randomBytes } from 'node:crypto';
import {
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { physicalTableName } from '@shared/catalog/tables';
import { DynamoDbConnectionStore } from '@shared/events/connection-store';
import { DynamoDbEventStore, type EventDraft } from '@shared/events/event-store';
import { FAN_OUT_MAX_SUBSCRIBERS_PER_INVOCATION } from '@shared/events/fan-out';
import { TASK_SK, taskPk } from '@shared/tasks/task-store';
import type { LocalGateway } from '@local/runtime';
import {
  accessToken,
  ADMIN_CLIENT,
  registerTestClient,
  useAdminClient,
} from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';
import { callApi } from '@test/fixtures/task-api';
import {
  connectEvents,
  UpgradeRefusedError,
  type EventsClient,
  type TokenPlace,
} from '@test/fixtures/websocket';

let gateway: LocalGateway;
let dynamo: DynamoDBClient;
let eventStore: DynamoDbEventStore;
const tokens: Record<'readerA' | 'readerB' | 'auditor' | 'admin', string> = {
  readerA: '',
  readerB: '',
  auditor: '',
  admin: '',
};
const open: EventsClient[] = [];

const READER_A = 'ws-reader-a';
const READER_B = 'ws-reader-b';
const AUDITOR = 'ws-auditor';

/** Time for the executor to run a `data_analysis` of the sample, from its creation. */
const EXECUTED_WAIT_MS = 20_000;

const tableOf = (id: 'connections' | 'audit' | 'tasks' | 'events'): string =>
  physicalTableName(gateway.stage, id);

const connect = async (
  token: string | undefined,
  place: TokenPlace = 'header',
): Promise<EventsClient> => {
  const client = await connectEvents(gateway, token, place);
  open.push(client);

  return client;
};

const refusal = async (token: string | undefined, place: TokenPlace = 'header') =>
  connect(token, place).then(
    () => 0,
    (error: unknown) => (error instanceof UpgradeRefusedError ? error.status : -1),
  );

const connectionItems = async () =>
  (await dynamo.send(new ScanCommand({ TableName: tableOf('connections') }))).Items ?? [];

// The replay and stale-connection tests publish straight into the event store, not through
// tasks: they need events of a set owner at a set moment, one older than the 24-hour window
// (a store with a clock two days back) and interleaved events of two identities, which the
// Tasks API and its executor cannot produce on demand. The fan-out they test is the same.
const publish = async (drafts: EventDraft[]) => eventStore.append(drafts);

const taskDraft = (owner: string, status: string): EventDraft => ({
  channel: 'task_updates',
  type: 'task.updated',
  data: { task_id: `task_${status}`, status },
  timestamp: new Date().toISOString(),
  owner,
});

beforeAll(async () => {
  useAdminClient();
  gateway = await startTestGateway();
  dynamo = new DynamoDBClient({ endpoint: gateway.dynamoEndpoint });
  eventStore = new DynamoDbEventStore(dynamo, tableOf('events'));
  const clients = [
    [READER_A, ['tasks:read', 'tasks:write']],
    [READER_B, ['tasks:read']],
    [AUDITOR, ['audit:read']],
  ] as const;
  for (const [id, scopes] of clients) {
    const secret = await registerTestClient(gateway, { clientId: id, scopes: [...scopes] });
    const key = id === READER_A ? 'readerA' : id === READER_B ? 'readerB' : 'auditor';
    tokens[key] = await accessToken(gateway, id, secret);
  }
  tokens.admin = await accessToken(gateway, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
});

afterAll(async () => {
  await Promise.all(open.map(async (client) => client.close()));
  dynamo.destroy();
  await gateway.stop();
});

describe('connecting to /v1/events', () => {
  it.each(['header', 'query', 'subprotocol'] as const)(
    'accepts a token in the %s and answers a ping',
    async (place) => {
      const client = await connect(tokens.readerA, place);

      const pong = await client.request({ type: 'ping' });

      expect(pong).toMatchObject({ type: 'pong' });
      expect(Date.parse(String(pong.timestamp))).not.toBeNaN();
      expect(client.socket.protocol).toBe(place === 'subprotocol' ? 'bearer' : '');
    },
  );

  it('refuses a connection without a token or with a bad one, storing nothing and auditing it', async () => {
    const before = await connectionItems();

    expect(await refusal(undefined)).toBe(401);
    expect(await refusal(`${tokens.readerA.slice(0, -4)}AAAA`)).toBe(401);
    expect(await refusal('not a token', 'query')).toBe(401);
    expect(await refusal('garbage.garbage.garbage', 'subprotocol')).toBe(401);

    expect(await connectionItems()).toHaveLength(before.length);
    const audit = await dynamo.send(new ScanCommand({ TableName: tableOf('audit') }));
    const refused = (audit.Items ?? []).filter(
      (item) => item.operation?.S === 'auth.refused' && JSON.stringify(item).includes('wsConnect'),
    );
    expect(refused.length).toBeGreaterThanOrEqual(4);
  });

  it('stores the connection with its identity and removes it on close', async () => {
    const client = await connect(tokens.readerB);
    await client.request({ type: 'subscribe', channels: ['task_updates'] });
    const mine = (await connectionItems()).filter(
      (item) => item.identity_id?.S === `service:${READER_B}`,
    );
    expect(mine.map((item) => item.sk?.S).sort()).toEqual([
      'connection',
      'subscription#task_updates',
    ]);

    await client.close();
    await gateway.websocket.whenIdle();

    const left = (await connectionItems()).filter(
      (item) => item.connection_id?.S === mine[0]?.connection_id?.S,
    );
    expect(left).toEqual([]);
  });
});

describe('messages', () => {
  it('acknowledges subscribe and unsubscribe', async () => {
    const client = await connect(tokens.admin);

    const subscribed = await client.request({
      type: 'subscribe',
      channels: ['task_updates', 'audit_events'],
    });
    const unsubscribed = await client.request({ type: 'unsubscribe', channels: ['audit_events'] });

    expect(subscribed).toMatchObject({
      type: 'subscribed',
      channels: ['task_updates', 'audit_events'],
      replayed: {},
      events_missed: [],
    });
    expect(unsubscribed).toMatchObject({ type: 'unsubscribed', channels: ['audit_events'] });
  });

  it('answers an unknown channel and a channel without its scope with an error and stays open', async () => {
    const client = await connect(tokens.readerA);

    const unknown = await client.request({ type: 'subscribe', channels: ['everything'] });
    const forbidden = await client.request({ type: 'subscribe', channels: ['audit_events'] });

    expect(unknown).toMatchObject({
      type: 'error',
      error: { code: 'VALIDATION_FAILED', details: { channels: ['everything'] } },
    });
    expect(forbidden).toMatchObject({
      type: 'error',
      error: {
        code: 'FORBIDDEN',
        details: {
          reason: 'insufficient_scope',
          channels: ['audit_events'],
          required: ['audit:read'],
        },
      },
    });
    expect(String((forbidden.error as { audit_id: unknown }).audit_id)).toMatch(/^aud_/);
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it('answers malformed JSON, an unknown type and bad fields with an error and stays open', async () => {
    const client = await connect(tokens.readerA);

    client.send('{"type": "subscribe", ');
    const malformed = await client.next((message) => message.type === 'error');
    const unknownType = await client.request({ type: 'shout' });
    const badFields = await client.request({ type: 'subscribe', channels: 'task_updates' });

    expect(malformed).toMatchObject({
      error: { code: 'VALIDATION_FAILED', details: { fields: [{ field: 'message' }] } },
    });
    expect(unknownType).toMatchObject({
      type: 'error',
      error: { code: 'VALIDATION_FAILED', details: { fields: [{ field: 'message.type' }] } },
    });
    expect(badFields).toMatchObject({
      type: 'error',
      error: { details: { fields: [{ field: 'message.channels' }] } },
    });
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });

  it('answers a message after the token expired with UNAUTHORIZED and closes the connection', async () => {
    const before = new Set((await connectionItems()).map((item) => item.connection_id?.S));
    const client = await connect(tokens.readerB);
    const [item] = (await connectionItems()).filter(
      (candidate) => candidate.sk?.S === 'connection' && !before.has(candidate.connection_id?.S),
    );
    const store = new DynamoDbConnectionStore(dynamo, tableOf('connections'));
    await store.saveConnection({
      connectionId: String(item?.connection_id?.S),
      identityId: `service:${READER_B}`,
      scopes: ['tasks:read'],
      connectedAt: Date.now(),
      credentialsExpireAt: Math.floor(Date.now() / 1_000) - 1,
    });

    const reply = await client.request({ type: 'ping' });

    expect(reply).toMatchObject({
      type: 'error',
      error: { code: 'UNAUTHORIZED', details: { reason: 'expired' } },
    });
    expect(await client.closed()).toBe(1000);
  });

  it('closes with 1009 on a frame over 32 KB', async () => {
    const client = await connect(tokens.readerA);

    client.send(JSON.stringify({ type: 'ping', padding: 'x'.repeat(40 * 1024) }));

    expect(await client.closed()).toBe(1009);
    expect(client.received).toEqual([]);
  });

  it('accepts a message of 100 KB in 16 KB frames and closes with 1009 on one over 128 KB', async () => {
    const client = await connect(tokens.readerA);
    const sendInFrames = (text: string): void => {
      const bytes = Buffer.from(text);
      for (let start = 0; start < bytes.length; start += 16 * 1024) {
        const last = start + 16 * 1024 >= bytes.length;
        client.socket.send(bytes.subarray(start, start + 16 * 1024), { fin: last, binary: false });
      }
    };

    sendInFrames(JSON.stringify({ type: 'ping', id: 'big', padding: 'x'.repeat(100 * 1024) }));
    const reply = await client.next((message) => message.id === 'big');
    sendInFrames(JSON.stringify({ type: 'ping', padding: 'x'.repeat(130 * 1024) }));

    expect(reply).toMatchObject({ type: 'error', error: { code: 'VALIDATION_FAILED' } });
    expect(await client.closed()).toBe(1009);
  });
});

describe('delivery', () => {
  it('subscribe, create a task, receive each of its transitions in order; another identity receives none', async () => {
    const owner = await connect(tokens.readerA);
    const other = await connect(tokens.readerB);
    await owner.request({ type: 'subscribe', channels: ['task_updates'] });
    await other.request({ type: 'subscribe', channels: ['task_updates'] });

    const created = await callApi(gateway, 'POST', '/v1/tasks', {
      token: tokens.readerA,
      body: { type: 'data_analysis', payload: { data_references: ['ref://dataset/sample'] } },
    });
    const taskId = String(created.body.task_id);
    await owner.next(
      (message) => taskIdOf(message) === taskId && hasStatus(message, 'completed'),
      EXECUTED_WAIT_MS,
    );
    const stored = await callApi(gateway, 'GET', `/v1/tasks/${taskId}`, { token: tokens.readerA });
    await gateway.whenIdle();
    await other.request({ type: 'ping' });

    const mine = owner.events().filter((event) => taskIdOf(event) === taskId);
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(mine.map((event) => (event.data as { status: string }).status)).toEqual([
      'accepted',
      'running',
      'completed',
    ]);
    expect(mine.map((event) => Number(event.id))).toEqual(
      [...mine.map((event) => Number(event.id))].sort((a, b) => a - b),
    );
    expect(mine[0]).toMatchObject({ type: 'task.updated', channel: 'task_updates' });
    expect(Object.keys(mine[0] ?? {}).sort()).toEqual([
      'channel',
      'data',
      'id',
      'timestamp',
      'type',
    ]);
    expect(stored.body).toMatchObject({ status: 'completed', attempts: 1 });
    expect(stored.body.result.insights_count).toBeGreaterThan(0);
    expect((mine[2]?.data as { result?: unknown }).result).toEqual({
      analysis_complete: true,
      insights_count: stored.body.result.insights_count,
    });
    expect(other.events().filter((event) => taskIdOf(event) === taskId)).toEqual([]);
  });

  it('carries the X-Request-Id of POST /v1/tasks to the task, its audit trail and its stored events', async () => {
    const owner = await connect(tokens.readerA);
    await owner.request({ type: 'subscribe', channels: ['task_updates'] });
    const requestId = `e2e-ws-${randomBytes(6).toString('hex')}`;

    const created = await callApi(gateway, 'POST', '/v1/tasks', {
      token: tokens.readerA,
      headers: { 'x-request-id': requestId },
      body: { type: 'data_analysis', payload: { data_references: ['ref://dataset/sample'] } },
    });
    const taskId = String(created.body.task_id);
    await owner.next(
      (message) => taskIdOf(message) === taskId && hasStatus(message, 'completed'),
      EXECUTED_WAIT_MS,
    );
    const taskItem = await dynamo.send(
      new GetItemCommand({
        TableName: tableOf('tasks'),
        Key: { pk: { S: taskPk(taskId) }, sk: { S: TASK_SK } },
      }),
    );
    const stored = await callApi(gateway, 'GET', `/v1/tasks/${taskId}`, { token: tokens.readerA });
    const eventItems = await dynamo.send(
      new QueryCommand({
        TableName: tableOf('events'),
        KeyConditionExpression: 'pk = :pk',
        FilterExpression: 'contains(data_json, :task)',
        ExpressionAttributeValues: { ':pk': { S: 'channel#task_updates' }, ':task': { S: taskId } },
      }),
    );

    expect(created.status, JSON.stringify(created.body)).toBe(202);
    expect(created.headers.get('x-request-id')).toBe(requestId);
    expect(taskItem.Item?.request_id?.S).toBe(requestId);
    const trail = await Promise.all(
      (stored.body.audit_trail as string[]).map(async (auditId) => {
        const entry = await dynamo.send(
          new GetItemCommand({
            TableName: tableOf('audit'),
            Key: { pk: { S: `entry#${auditId}` }, sk: { S: 'entry' } },
          }),
        );

        return [entry.Item?.operation?.S, entry.Item?.request_id?.S];
      }),
    );
    expect(trail).toEqual([
      ['task.create', requestId],
      ['task.execute', requestId],
      ['task.complete', requestId],
    ]);
    const events = (eventItems.Items ?? []).map((item) => ({
      id: item.event_id?.S,
      status: (JSON.parse(String(item.data_json?.S)) as { status: string }).status,
      requestId: item.request_id?.S,
    }));
    expect(events.map((event) => [event.status, event.requestId])).toEqual([
      ['accepted', requestId],
      ['running', requestId],
      ['completed', requestId],
    ]);
    // The request id is kept for correlation in the store; subscribers are not sent it.
    const delivered = owner.events().filter((event) => taskIdOf(event) === taskId);
    expect(delivered.map((event) => event.id)).toEqual(events.map((event) => event.id));
    expect(JSON.stringify(delivered)).not.toContain(requestId);
  });

  it('delivers audit entries to an audit:read subscriber', async () => {
    const auditor = await connect(tokens.auditor);
    await auditor.request({ type: 'subscribe', channels: ['audit_events'] });

    // A refused request leaves an audit entry, which the audit table's stream publishes.
    const refused = await fetch(`${gateway.url}/v1/audit`);
    const auditId = ((await refused.json()) as { error: { audit_id: string } }).error.audit_id;

    const event = await auditor.next(
      (message) => (message.data as { audit_id?: string } | undefined)?.audit_id === auditId,
    );
    expect(event).toMatchObject({
      channel: 'audit_events',
      type: 'audit.created',
      data: { operation: 'auth.refused', outcome: 'refused' },
    });
  });

  it('replays exactly the missed events on a resumed subscription', async () => {
    const first = await connect(tokens.readerA);
    await first.request({ type: 'subscribe', channels: ['task_updates'] });
    const [seen] = await publish([taskDraft(`service:${READER_A}`, 'seen')]);
    await first.next((message) => message.id === seen?.id && message.channel === 'task_updates');
    await first.close();
    await gateway.websocket.whenIdle();

    const missed = await publish([
      taskDraft(`service:${READER_A}`, 'missed-1'),
      taskDraft(`service:${READER_B}`, 'not-mine'),
      taskDraft(`service:${READER_A}`, 'missed-2'),
    ]);
    await gateway.whenIdle();
    const second = await connect(tokens.readerA);
    const subscribed = await second.request({
      type: 'subscribe',
      channels: ['task_updates'],
      last_event_ids: { task_updates: seen?.id },
    });

    const expected = [missed[0], missed[2]].map((event) => event?.id);
    expect(second.events().map((event) => event.id)).toEqual(expected);
    expect(subscribed).toMatchObject({ replayed: { task_updates: 2 }, events_missed: [] });
    const [later] = await publish([taskDraft(`service:${READER_A}`, 'later')]);
    await second.next((message) => message.id === later?.id);
    expect(second.events().map((event) => event.id)).toEqual([...expected, later?.id]);
  });

  it('says events were missed when a resume reaches back past the kept events', async () => {
    const lastSeen = await eventStore.latestSeq('task_updates');
    const twoDaysAgo = new Date(Date.now() - 48 * 60 * 60 * 1_000);
    const expiredStore = new DynamoDbEventStore(dynamo, tableOf('events'), {
      now: () => twoDaysAgo,
    });
    await expiredStore.append([taskDraft(`service:${READER_A}`, 'expired')]);
    const [kept] = await publish([taskDraft(`service:${READER_A}`, 'kept')]);
    await gateway.whenIdle();

    const client = await connect(tokens.readerA);
    const subscribed = await client.request({
      type: 'subscribe',
      channels: ['task_updates'],
      last_event_ids: { task_updates: String(lastSeen) },
    });

    expect(client.events().map((event) => event.id)).toEqual([kept?.id]);
    expect(subscribed).toMatchObject({
      replayed: { task_updates: 1 },
      events_missed: ['task_updates'],
    });
  });

  it('deletes a stale connection that answers 410 and still delivers to the others', async () => {
    const live = await connect(tokens.readerA);
    await live.request({ type: 'subscribe', channels: ['task_updates'] });
    const store = new DynamoDbConnectionStore(dynamo, tableOf('connections'));
    const stale = {
      connectionId: 'StaleConnId01=',
      identityId: `service:${READER_A}`,
      scopes: ['tasks:read'],
      connectedAt: Date.now(),
    };
    await store.saveConnection(stale);
    await store.subscribe(stale, 'task_updates', 0);

    const [event] = await publish([taskDraft(`service:${READER_A}`, 'after-stale')]);
    await live.next((message) => message.id === event?.id);
    await gateway.whenIdle();

    expect(await store.findConnection(stale.connectionId)).toBeUndefined();
    expect(await store.subscriptionsOf(stale.connectionId)).toEqual([]);
  });
});

describe('fan-out at scale', () => {
  it('delivers one event to a thousand connections', { timeout: 120_000 }, async () => {
    const clients: EventsClient[] = [];
    const startedAt = Date.now();
    for (let batch = 0; batch < 20; batch += 1) {
      const opened = await Promise.all(
        Array.from({ length: 50 }, async () => connect(tokens.auditor)),
      );
      await Promise.all(
        opened.map(async (client) =>
          client.request({ type: 'subscribe', channels: ['audit_events'] }),
        ),
      );
      clients.push(...opened);
    }
    const connectedMs = Date.now() - startedAt;

    const [event] = await publish([
      {
        channel: 'audit_events',
        type: 'audit.created',
        data: { audit_id: 'aud_fanout_test', operation: 'test.fanout' },
        timestamp: new Date().toISOString(),
      },
    ]);
    const sentAt = Date.now();
    await Promise.all(
      clients.map(async (client) => client.next((message) => message.id === event?.id, 60_000)),
    );

    expect(
      clients.every((client) => client.events().some((message) => message.id === event?.id)),
    ).toBe(true);
    // One invocation per 500 subscribers: each after the first began with a continuation item.
    const store = new DynamoDbConnectionStore(dynamo, tableOf('connections'));
    let total = 0;
    let cursor: string | undefined;
    do {
      const page = await store.listSubscribers('audit_events', 1_000, cursor);
      total += page.subscribers.length;
      cursor = page.cursor;
    } while (cursor !== undefined);
    const continuations = await dynamo.send(
      new ScanCommand({
        TableName: tableOf('events'),
        FilterExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: `fanout#audit_events#${event?.id}` } },
      }),
    );
    expect((continuations.Items ?? []).map((item) => Number(item.sk?.N)).sort()).toEqual(
      Array.from(
        { length: Math.ceil(total / FAN_OUT_MAX_SUBSCRIBERS_PER_INVOCATION) - 1 },
        (_, index) => index + 1,
      ),
    );
    console.info(
      `1000 connections: connected and subscribed in ${connectedMs} ms, delivered in ${Date.now() - sentAt} ms`,
    );
    await Promise.all(clients.map(async (client) => client.close()));
  });
});

const hasStatus = (message: Record<string, unknown>, status: string): boolean =>
  (message.data as { status?: string } | undefined)?.status === status;

const taskIdOf = (message: Record<string, unknown>): string | undefined =>
  (message.data as { task_id?: string } | undefined)?.task_id;
