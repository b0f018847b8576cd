import { describe, expect, it } from 'vitest';
import {
  assertTransition,
  canTransition,
  isFinal,
  isTaskId,
  newTaskId,
  TASK_STATUSES,
  TaskTransitionError,
  type TaskStatus,
} from '@shared/tasks/task';

const ALLOWED: ReadonlyArray<readonly [TaskStatus, TaskStatus]> = [
  ['accepted', 'running'],
  ['accepted', 'cancelled'],
  ['running', 'completed'],
  ['running', 'failed'],
  ['running', 'cancelled'],
  ['running', 'accepted'],
];

const isAllowed = (from: TaskStatus, to: TaskStatus): boolean =>
  ALLOWED.some(([a, b]) => a === from && b === to);

const FORBIDDEN = TASK_STATUSES.flatMap((from) =>
  TASK_STATUSES.filter((to) => !isAllowed(from, to)).map((to) => [from, to] as const),
);

const errorOf = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    return error;
  }

  return undefined;
};

describe('task transitions', () => {
  it.each(ALLOWED)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it('forbids every other move, 19 of the 25 pairs, staying put included', () => {
    expect(FORBIDDEN).toHaveLength(19);
    expect(FORBIDDEN).toContainEqual(['running', 'running']);
  });

  it.each(FORBIDDEN)('refuses %s → %s with task.invalidTransition', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    const error = errorOf(() => assertTransition(from, to));

    expect(error).toBeInstanceOf(TaskTransitionError);
    expect(error).toMatchObject({
      name: 'TaskTransitionError',
      code: 'task.invalidTransition',
      from,
      to,
    });
  });

  it('refuses a status that does not exist with task.unknownStatus', () => {
    const error = errorOf(() => assertTransition('paused' as TaskStatus, 'running'));

    expect(error).toMatchObject({ code: 'task.unknownStatus', from: 'paused', to: 'running' });
  });

  it('lets nothing leave a final state', () => {
    for (const status of ['completed', 'failed', 'cancelled'] as const) {
      expect(isFinal(status)).toBe(true);
      for (const to of TASK_STATUSES) {
        expect(canTransition(status, to)).toBe(false);
      }
    }
  });

  it('counts accepted and running as not final', () => {
    expect(isFinal('accepted')).toBe(false);
    expect(isFinal('running')).toBe(false);
  });
});

describe('newTaskId', () => {
  it('makes tsk_ and 26 Crockford base32 characters', () => {
    const id = newTaskId(new Date('2026-12-03T12:00:00.000Z'));

    expect(id).toMatch(/^tsk_[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
    expect(isTaskId(id)).toBe(true);
  });

  it('sorts ids by the millisecond they were made in', () => {
    const earlier = newTaskId(new Date('2026-12-03T12:00:00.000Z'));
    const later = newTaskId(new Date('2026-12-03T12:00:00.001Z'));

    expect(earlier < later).toBe(true);
  });

  it('makes different ids in the same millisecond', () => {
    const now = new Date('2026-12-03T12:00:00.000Z');

    expect(newTaskId(now)).not.toBe(newTaskId(now));
  });

  it('does not take an audit id or a lower-case id for a task id', () => {
    const id = newTaskId();

    expect(isTaskId(`aud_${id.slice(4)}`)).toBe(false);
    expect(isTaskId(id.toLowerCase())).toBe(false);
    expect(isTaskId(id.slice(0, -1))).toBe(false);
  });
});
