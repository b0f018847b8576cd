import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LocalGateway } from '@local/runtime';
import { accessToken, registerTestClient, useAdminClient } from '@test/fixtures/identity';
import { startTestGateway } from '@test/fixtures/local-gateway';
import { openSse, sseUrl, type ReceivedSseEvent, type SseClient } from '@test/fixtures/sse';
import { callApi, reviewRequest } from '@test/fixtures/task-api';

// Every task here is created, and every transition made, through the Tasks API or its
// executor; nothing is written into the tasks table by hand. Tasks that only need to exist
// are `document_review` tasks, an external type that no executor of the gateway picks up, so
// they stay `accepted` and announce nothing more than their creation.
let gateway: LocalGateway;
let alice: string;
let bob: string;
let bobWriter: string;
let auditor: string;
let noScopes: string;
const clients: SseClient[] = [];

/** Time for the executor to run a `data_analysis` of the sample, from its creation. */
const EXECUTED_WAIT_MS = 20_000;

const tokenFor = async (clientId: string, scopes: string[]): Promise<string> => {
  const secret = await registerTestClient(gateway, { clientId, scopes });

  return accessToken(gateway, clientId, secret);
};

/** Creates a task over `POST /v1/tasks` in the name of `token`'s identity; its id. */
const createTask = async (token: string, body: unknown = reviewRequest()): Promise<string> => {
  const reply = await callApi(gateway, 'POST', '/v1/tasks', { token, body });
  expect(reply.status, JSON.stringify(reply.body)).toBe(202);

  return String(reply.body.task_id);
};

const ofTask = (events: ReceivedSseEvent[], taskId: string): ReceivedSseEvent[] =>
  events.filter((event) => event.type === 'task.updated' && event.data.data?.task_id === taskId);

/** The events of `taskId` once one of them has `status`; fails after `timeoutMs`. */
const waitForStatus = async (
  client: SseClient,
  taskId: string,
  status: string,
  timeoutMs = EXECUTED_WAIT_MS,
): Promise<ReceivedSseEvent[]> => {
  const deadline = Date.now() + timeoutMs;
  while (!ofTask(client.received, taskId).some((event) => event.data.data.status === status)) {
    if (Date.now() > deadline) {
      throw new Error(`sse: no ${status} event of ${taskId} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  return ofTask(client.received, taskId);
};

const follow = (options: Parameters<typeof openSse>[1]): SseClient => {
  const client = openSse(gateway, options);
  clients.push(client);

  return client;
};

/**
 * Resolves once the stream is open. No pause after it: the stream fixes its position before it
 * answers, so whatever is written once the client sees it open must reach it.
 */
const opened = async (client: SseClient): Promise<void> => {
  await new Promise<void>((resolve, reject) => {
    client.source.addEventListener('open', () => resolve());
    client.source.addEventListener('error', (error) => reject(new Error(String(error.code))));
  });
};

beforeAll(async () => {
  useAdminClient();
  gateway = await startTestGateway();
  alice = await tokenFor('e2e-sse-alice', ['tasks:read', 'tasks:write']);
  // Bob follows the stream with a token for tasks:read alone, and creates with another one.
  const bobSecret = await registerTestClient(gateway, {
    clientId: 'e2e-sse-bob',
    scopes: ['tasks:read', 'tasks:write'],
  });
  bob = await accessToken(gateway, 'e2e-sse-bob', bobSecret, 'tasks:read');
  bobWriter = await accessToken(gateway, 'e2e-sse-bob', bobSecret);
  auditor = await tokenFor('e2e-sse-auditor', ['audit:read', 'tasks:read', 'tasks:write']);
  noScopes = await tokenFor('e2e-sse-nobody', []);
});

afterEach(() => {
  for (const client of clients.splice(0)) {
    client.close();
  }
  delete process.env.SSE_MAX_STREAM_SECONDS;
  delete process.env.SSE_HEARTBEAT_INTERVAL_MS;
});

afterAll(async () => {
  await gateway.stop();
});

describe('GET /v1/events as Server-Sent Events', () => {
  it('subscribe, create a task, receive each of its transitions in order; another identity receives none', async () => {
    const aliceStream = follow({ channels: 'task_updates', token: alice });
    const bobStream = follow({ channels: 'task_updates', token: bob });
    await Promise.all([opened(aliceStream), opened(bobStream)]);

    const taskId = await createTask(alice, {
      type: 'data_analysis',
      payload: { data_references: ['ref://dataset/sample'] },
    });
    const received = await waitForStatus(aliceStream, taskId, 'completed');
    const stored = await callApi(gateway, 'GET', `/v1/tasks/${taskId}`, { token: alice });
    // Bob's own task shows that his stream delivers. Its event comes after Alice's on the
    // channel, and a stream sends in channel order, so any of hers sent to him is in by then.
    const bobTask = await createTask(bobWriter);
    const bobReceived = await waitForStatus(bobStream, bobTask, 'accepted');

    expect(received.map((event) => [event.data.data.task_id, event.data.data.status])).toEqual([
      [taskId, 'accepted'],
      [taskId, 'running'],
      [taskId, 'completed'],
    ]);
    expect(stored.body).toMatchObject({ status: 'completed', attempts: 1 });
    expect(stored.body.result.insights_count).toBeGreaterThan(0);
    expect(received[2]?.data).toMatchObject({
      channel: 'task_updates',
      type: 'task.updated',
      data: { type: 'data_analysis', attempts: 1 },
    });
    expect(received[2]?.data.data.result).toEqual({
      analysis_complete: true,
      insights_count: stored.body.result.insights_count,
    });
    expect(received.map((event) => Number(event.data.id))).toEqual(
      [...received.map((event) => Number(event.data.id))].sort((a, b) => a - b),
    );
    expect(received[0]?.lastEventId).toBe(`task_updates:${received[0]?.data.id}`);
    expect(received[0]?.data).not.toHaveProperty('owner');
    expect(bobReceived.map((event) => event.data.data.status)).toEqual(['accepted']);
    expect(bobStream.received.map((event) => event.data.data.task_id)).toEqual([bobTask]);
  });

  it('delivers audit entries to an audit:read client as they are written', async () => {
    const stream = follow({ channels: 'audit_events', token: auditor });
    await opened(stream);

    // A refused request writes an auth.refused entry, and its envelope names the entry.
    const refusal = await fetch(`${gateway.url}/v1/audit`);
    const { error } = (await refusal.json()) as { error: { audit_id: string } };
    await stream.waitFor(1, 'audit.created');
    const events = await (async () => {
      for (let attempt = 0; attempt < 40; attempt += 1) {
        const found = stream.received.filter((e) => e.data.data?.audit_id === error.audit_id);
        if (found.length > 0) return found;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return [];
    })();

    expect(refusal.status).toBe(401);
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toMatchObject({
      channel: 'audit_events',
      type: 'audit.created',
      data: {
        audit_id: error.audit_id,
        service: 'blux-guard',
        operation: 'auth.refused',
        identity: 'anonymous',
        outcome: 'refused',
        resource: { type: 'route', id: 'listAuditEntries' },
      },
    });
  });

  it('resumes after Last-Event-ID with exactly the events missed, across two channels', async () => {
    const first = follow({ channels: 'task_updates,audit_events', token: auditor });
    await opened(first);
    const before = await createTask(auditor);
    const [seen] = await waitForStatus(first, before, 'accepted');
    first.close();

    // While no stream is open: the seen task is cancelled and two new ones are created.
    const cancel = await callApi(gateway, 'POST', `/v1/tasks/${before}/cancel`, {
      token: auditor,
    });
    const after = await createTask(auditor);
    const last = await createTask(auditor);
    const resumed = follow({
      channels: 'task_updates,audit_events',
      token: auditor,
      lastEventId: seen?.lastEventId,
    });
    const replayed = await resumed.waitFor(3, 'task.updated');
    await new Promise((resolve) => setTimeout(resolve, 700));

    const statuses = resumed.received
      .filter((event) => event.type === 'task.updated')
      .map((event) => `${event.data.data.task_id}:${event.data.data.status}`);
    expect(cancel.status).toBe(200);
    expect(statuses).toEqual([`${before}:cancelled`, `${after}:accepted`, `${last}:accepted`]);
    expect(replayed.map((event) => Number(event.data.id))).toEqual([
      Number(seen?.data.id) + 1,
      Number(seen?.data.id) + 2,
      Number(seen?.data.id) + 3,
    ]);
    expect(seen?.lastEventId).toMatch(/^task_updates:\d+,audit_events:\d+$/);
  });

  it('ends a stream at its time limit, and the client reconnects without loss or repeat', async () => {
    process.env.SSE_MAX_STREAM_SECONDS = '1';
    const stream = follow({ channels: 'task_updates', token: alice });
    await opened(stream);

    const taskIds: string[] = [];
    for (let round = 0; round < 3; round += 1) {
      taskIds.push(await createTask(alice));
      await new Promise((resolve) => setTimeout(resolve, 900));
    }
    const received = await stream.waitFor(3, 'task.updated', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    expect(stream.opens()).toBeGreaterThanOrEqual(2);
    expect(
      stream.received
        .filter((event) => event.type === 'task.updated')
        .map((event) => event.data.data.task_id),
    ).toEqual(taskIds);
    expect(received).toHaveLength(3);
  });

  it('accepts the token as ?access_token= for browsers', async () => {
    const stream = follow({ channels: 'task_updates', token: alice, tokenInQuery: true });
    await opened(stream);

    const taskId = await createTask(alice);
    const [event] = await waitForStatus(stream, taskId, 'accepted');

    expect(event?.data.data).toMatchObject({ task_id: taskId, status: 'accepted' });
  });

  it('writes id, event and data lines, heartbeat comments and a retry hint', async () => {
    process.env.SSE_HEARTBEAT_INTERVAL_MS = '300';
    const controller = new AbortController();
    const response = await fetch(sseUrl(gateway, { channels: 'task_updates' }), {
      headers: { authorization: `Bearer ${alice}`, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
      }
    };

    await readUntil(/: stream open/);
    const taskId = await createTask(alice);
    await readUntil(/event: task\.updated[^]*?\n\n[^]*: heartbeat/);
    controller.abort();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(response.headers.get('x-request-id')).not.toBeNull();
    expect(text.startsWith('retry: 1000\n')).toBe(true);
    const frame = /id: (task_updates:\d+)\nevent: task\.updated\ndata: (.*)\n\n/.exec(text);
    expect(frame?.[1]).toMatch(/^task_updates:\d+$/);
    expect(JSON.parse(frame?.[2] ?? '{}')).toMatchObject({
      id: frame?.[1]?.split(':')[1],
      channel: 'task_updates',
      type: 'task.updated',
      data: { task_id: taskId, status: 'accepted' },
      timestamp: expect.any(String) as string,
    });
  });
});

describe('GET /v1/events refusals, before any stream starts', () => {
  const refusal = async (
    query: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; type: string | null; error: Record<string, unknown> }> => {
    const response = await fetch(sseUrl(gateway, query), {
      headers: { accept: 'text/event-stream', ...headers },
    });
    const body = (await response.json()) as { error: Record<string, unknown> };

    return { status: response.status, type: response.headers.get('content-type'), ...body };
  };

  it('answers 401 with the envelope without a token, and audits the refusal', async () => {
    const reply = await refusal({ channels: 'task_updates' });

    expect(reply.status).toBe(401);
    expect(reply.type).toBe('application/json');
    expect(reply.error).toMatchObject({ code: 'UNAUTHORIZED', details: { reason: 'missing' } });
    expect(reply.error.audit_id).toMatch(/^aud_/);
  });

  it('answers 401 for a token that does not verify', async () => {
    const reply = await refusal(
      { channels: 'task_updates' },
      { authorization: `Bearer ${alice.slice(0, -4)}AAAA` },
    );

    expect(reply.status).toBe(401);
    expect(reply.error.code).toBe('UNAUTHORIZED');
  });

  it('answers 400 naming an unknown channel, and a missing list', async () => {
    const unknown = await refusal(
      { channels: 'task_updates,gossip' },
      { authorization: `Bearer ${alice}` },
    );
    const missing = await refusal({}, { authorization: `Bearer ${alice}` });

    expect(unknown.status).toBe(400);
    expect(unknown.error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { fields: [{ field: 'query.channels', message: 'unknown channel "gossip"' }] },
    });
    expect(missing.status).toBe(400);
    expect(missing.error.code).toBe('VALIDATION_FAILED');
  });

  it('answers 403 naming the channel and the scope it needs', async () => {
    const audit = await refusal({ channels: 'audit_events' }, { authorization: `Bearer ${alice}` });
    const tasksChannel = await refusal(
      { channels: 'task_updates' },
      { authorization: `Bearer ${noScopes}` },
    );

    expect(audit.status).toBe(403);
    expect(audit.error).toMatchObject({
      code: 'FORBIDDEN',
      details: { channel: 'audit_events', missing: ['audit:read'] },
    });
    expect(audit.error.audit_id).toMatch(/^aud_/);
    expect(tasksChannel.status).toBe(403);
    expect(tasksChannel.error).toMatchObject({ details: { channel: 'task_updates' } });
  });

  it('answers 400 for a Last-Event-ID that is not a cursor, and for a non-SSE Accept', async () => {
    const cursor = await refusal(
      { channels: 'task_updates' },
      { authorization: `Bearer ${alice}`, 'last-event-id': 'task_updates:abc' },
    );
    const accept = await refusal(
      { channels: 'task_updates' },
      { authorization: `Bearer ${alice}`, accept: 'application/json' },
    );

    expect(cursor.status).toBe(400);
    expect(cursor.error).toMatchObject({
      details: { fields: [{ field: 'headers.last-event-id' }] },
    });
    expect(accept.status).toBe(400);
    expect(accept.error).toMatchObject({ details: { fields: [{ field: 'headers.accept' }] } });
  });

  it('reports the refusal status to an EventSource, which then stops', async () => {
    const stream = follow({ channels: 'audit_events', token: alice });

    await new Promise<void>((resolve) => {
      stream.source.addEventListener('error', () => resolve());
    });

    expect(stream.errors[0]?.code).toBe(403);
    expect(stream.source.readyState).toBe(stream.source.CLOSED);
  });
});
