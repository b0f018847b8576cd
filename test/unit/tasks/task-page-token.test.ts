import { describe, expect, it } from 'vitest';
import { ValidationError } from '@shared/errors/gateway-error';
import { newTaskId } from '@shared/tasks/task';
import {
  decodeTaskPageToken,
  encodeTaskPageToken,
  MAX_TASK_PAGE_TOKEN_CHARS,
  TASK_PAGE_TOKEN_FIELD,
  type TaskPageTokenBinding,
} from '@shared/tasks/task-page-token';

const SECRET = 'test-secret-for-page-tokens';
const BINDING: TaskPageTokenBinding = {
  identity: 'service:lister',
  filters: { status: 'accepted', type: null },
};
const CURSOR = newTaskId(new Date('2026-12-03T10:00:00.000Z'));

const refusal = (token: string, binding = BINDING, secret = SECRET): unknown => {
  try {
    decodeTaskPageToken(token, binding, secret);
  } catch (error) {
    return error;
  }

  return undefined;
};

const expectRefused = (error: unknown): void => {
  expect(error).toBeInstanceOf(ValidationError);
  expect((error as ValidationError).details.fields).toEqual([
    expect.objectContaining({ field: TASK_PAGE_TOKEN_FIELD }),
  ]);
};

describe('task page tokens', () => {
  it('give back their cursor for the same caller and filters', () => {
    const token = encodeTaskPageToken(CURSOR, BINDING, SECRET);

    expect(decodeTaskPageToken(token, BINDING, SECRET)).toBe(CURSOR);
  });

  it('do not show the caller or the filters', () => {
    const token = encodeTaskPageToken(CURSOR, BINDING, SECRET);

    expect(token).not.toContain('lister');
    expect(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()).toBe(CURSOR);
  });

  it('are refused for another identity, other filters or another secret', () => {
    const token = encodeTaskPageToken(CURSOR, BINDING, SECRET);

    expectRefused(refusal(token, { ...BINDING, identity: 'service:other' }));
    expectRefused(refusal(token, { ...BINDING, filters: { status: null, type: null } }));
    expectRefused(refusal(token, { ...BINDING, filters: { status: 'accepted', type: 'x' } }));
    expectRefused(refusal(token, BINDING, 'another-secret'));
  });

  it('are refused once their cursor or their MAC is altered', () => {
    const token = encodeTaskPageToken(CURSOR, BINDING, SECRET);
    const [payload, mac] = token.split('.') as [string, string];
    const otherCursor = Buffer.from(newTaskId(), 'utf8').toString('base64url');
    const flipped = `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;

    expectRefused(refusal(`${otherCursor}.${mac}`));
    expectRefused(refusal(`${payload}.${flipped}`));
    expectRefused(refusal(`${payload}!.${mac}`));
    expectRefused(refusal(`${payload}.${mac}.extra`));
    expectRefused(refusal(payload));
  });

  it('are refused when far too long, before any MAC is computed', () => {
    expectRefused(refusal('a'.repeat(MAX_TASK_PAGE_TOKEN_CHARS + 1)));
  });

  it('only ever hold a task id, even when signed over something else', () => {
    const token = encodeTaskPageToken('not-a-task-id', BINDING, SECRET);

    expectRefused(refusal(token));
  });
});
