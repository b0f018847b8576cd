/**
 * A task and the moves its status may make. A task is created `accepted`, picked up `running`,
 * and ends `completed`, `failed` or `cancelled`. Every store write that changes a status is
 * conditional on the status it expects to find, and `assertTransition` is the one place that
 * says which such writes exist, so that a duplicate delivery or a late retry cannot move a task
 * backwards out of a final state.
 */
import { AUDIT_ID_PREFIX, newAuditId } from '@shared/audit/audit-ids';

export const TASK_ID_PREFIX = 'tsk_';

// Same body as an audit id: 48 bits of milliseconds, then 80 random bits, in Crockford base32.
const TASK_ID_PATTERN = /^tsk_[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export const TASK_STATUSES = ['accepted', 'running', 'completed', 'failed', 'cancelled'] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];

/**
 * The statuses each status may move to. `running` → `accepted` puts a task back in line, for a
 * retry after a failed attempt or when a worker's lease expired; the final statuses move nowhere.
 */
export const TASK_TRANSITIONS = {
  accepted: ['running', 'cancelled'],
  running: ['completed', 'failed', 'cancelled', 'accepted'],
  completed: [],
  failed: [],
  cancelled: [],
} as const satisfies Readonly<Record<TaskStatus, readonly TaskStatus[]>>;

/** Why a task failed, as its owner reads it. */
export interface TaskError {
  readonly code: string;
  readonly message: string;
}

/** The external worker that holds a task while it runs, until `expires_at` (ISO 8601). */
export interface TaskLease {
  readonly worker: string;
  readonly expires_at: string;
}

export interface Task {
  /** `tsk_` then 26 Crockford base32 characters that sort by creation time. */
  readonly task_id: string;
  /** The identity that created the task and alone may see it (`service:…` or `user:…`). */
  readonly owner: string;
  readonly type: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly payload: unknown;
  readonly status: TaskStatus;
  /** Attempts started so far, the current one included. */
  readonly attempts: number;
  /** ISO 8601 timestamps; `started_at` is the latest attempt's start. */
  readonly created_at: string;
  readonly started_at?: string;
  readonly finished_at?: string;
  readonly result?: unknown;
  readonly error?: TaskError;
  readonly lease?: TaskLease;
  /** The ids of every audit entry about the task, oldest first. */
  readonly audit_trail: readonly string[];
}

export type TaskTransitionErrorCode = 'task.invalidTransition' | 'task.unknownStatus';

/** A status change the lifecycle does not allow: a bug or a lost race, never a client error. */
export class TaskTransitionError extends Error {
  override readonly name = 'TaskTransitionError';
  readonly code: TaskTransitionErrorCode;
  readonly from: string;
  readonly to: string;

  constructor(code: TaskTransitionErrorCode, from: string, to: string) {
    super(`${code}: a task cannot move from ${from} to ${to}`);
    this.code = code;
    this.from = from;
    this.to = to;
  }
}

/** Whether `value` is one of `TASK_STATUSES`. */
export const isTaskStatus = (value: unknown): value is TaskStatus =>
  typeof value === 'string' && (TASK_STATUSES as readonly string[]).includes(value);

/** Whether a task in `status` is done for good: nothing may change it any more. */
export const isFinal = (status: TaskStatus): boolean => TASK_TRANSITIONS[status].length === 0;

/** Whether the lifecycle allows a move from `from` to `to`. */
export const canTransition = (from: TaskStatus, to: TaskStatus): boolean =>
  (TASK_TRANSITIONS[from] as readonly TaskStatus[]).includes(to);

/**
 * Throws a `TaskTransitionError` unless the lifecycle allows the move: `task.unknownStatus` for
 * a status that does not exist (a corrupt record), `task.invalidTransition` otherwise.
 */
export const assertTransition = (from: TaskStatus, to: TaskStatus): void => {
  if (!isTaskStatus(from) || !isTaskStatus(to)) {
    throw new TaskTransitionError('task.unknownStatus', String(from), String(to));
  }
  if (!canTransition(from, to)) {
    throw new TaskTransitionError('task.invalidTransition', from, to);
  }
};

/**
 * A new task id made at `now`. The body comes from `newAuditId`, so task ids and audit ids share
 * one generator and sort by time the same way; it throws `auditEntry.invalidTime` for a date an
 * id cannot hold.
 */
export const newTaskId = (now: Date = new Date()): string =>
  `${TASK_ID_PREFIX}${newAuditId(now).slice(AUDIT_ID_PREFIX.length)}`;

/** Whether `value` has the form of a task id. */
export const isTaskId = (value: unknown): value is string =>
  typeof value === 'string' && TASK_ID_PATTERN.test(value);
