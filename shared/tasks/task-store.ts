/**
 * Where tasks are kept, as the task API, the executor and the external-worker protocol see it.
 * The DynamoDB implementation lives in `dynamodb-task-store.ts`; the item layout, which the
 * event producer of `task_updates` also reads from the tasks table's stream, is this:
 *
 *   pk `task#<task_id>`, sk `task`
 *   task_id S, owner S, type S, status S, attempts N, version N (+1 on every write),
 *   created_at S, updated_at S, started_at S?, finished_at S?, request_id S (the creating
 *   request's id, passed on to executors, events and audit entries for correlation),
 *   context_json S, payload_json S, result_json S? (JSON texts, so that any JSON survives),
 *   error M? { code S, message S }, lease M? { worker S, expires_at S }, retry_at S?,
 *   audit_trail L of S (audit ids, oldest first),
 *   queue_pk S? and available_at S? (index `by_queue`): while a task is `accepted` or `running`,
 *   `queue_pk` is its type and `available_at` when something is next due for it: its creation
 *   or `retry_at` while accepted, its lease's expiry while running. A final status removes
 *   both, so the index holds only live tasks, and a claim or a sweep queries it by key.
 *
 * Every other item of the table (idempotency records, ...) has a `pk` that does not start with
 * `task#`, so a stream reader tells tasks apart by that prefix alone.
 */
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import type { Task, TaskError, TaskLease, TaskStatus } from './task';

export const TASK_PK_PREFIX = 'task#';

export const TASK_SK = 'task';

/** The `pk` of a task's item. */
export const taskPk = (taskId: string): string => `${TASK_PK_PREFIX}${taskId}`;

/** A stored task and what the store keeps beside it. */
export interface StoredTask extends Task {
  /** Incremented by every write; a conditional write may expect it. */
  readonly version: number;
  readonly updated_at: string;
  /** The creating request's id, for log and event correlation. */
  readonly request_id: string;
  /** ISO 8601: not to be started again before this (a retry's backoff). */
  readonly retry_at?: string;
}

/**
 * One status change, written conditionally together with its audit entry: it happens only if
 * the task is still in `from` (and, when given, at `expectedVersion`), and the entry's id is
 * appended to the task's `audit_trail` in the same write.
 */
export interface TaskTransition {
  readonly taskId: string;
  readonly from: TaskStatus;
  readonly to: TaskStatus;
  readonly expectedVersion?: number;
  readonly audit: UnsealedAuditEntry;
  /** Fields set by the change; `null` removes one. */
  readonly set?: {
    readonly attempts?: number;
    readonly started_at?: string;
    readonly finished_at?: string;
    readonly result?: unknown;
    readonly error?: TaskError | null;
    readonly lease?: TaskLease | null;
    readonly retry_at?: string | null;
  };
}

export interface TaskListQuery {
  readonly owner: string;
  readonly status?: TaskStatus;
  readonly type?: string;
  readonly limit: number;
  /** Opaque to callers: what the previous page returned. */
  readonly cursor?: string;
}

export interface TaskPage {
  readonly tasks: readonly StoredTask[];
  readonly cursor?: string;
}

/**
 * Raised when a conditional write finds the task elsewhere than expected: another delivery or
 * request moved it first. Callers decide whether that is a 409 or simply nothing to do.
 */
export class TaskConflictError extends Error {
  override readonly name = 'TaskConflictError';

  constructor(
    readonly taskId: string,
    readonly expected: TaskStatus,
    options?: ErrorOptions,
  ) {
    super(`task.conflict: task ${taskId} is no longer ${expected}`, options);
  }
}

export interface TaskStore {
  /** Stores a new `accepted` task and its `task.create` entry in one transaction. */
  create(task: StoredTask, audit: UnsealedAuditEntry): Promise<void>;
  /** The task, whoever owns it; the API checks ownership. */
  get(taskId: string): Promise<StoredTask | undefined>;
  /** The owner's tasks, newest first. */
  list(query: TaskListQuery): Promise<TaskPage>;
  /** Applies `change`, or throws `TaskConflictError`; returns the task as written. */
  transition(change: TaskTransition): Promise<StoredTask>;
  /** Seconds the latest completed tasks of `type` took, newest first, at most `limit`. */
  recentDurations(type: string, limit: number): Promise<number[]>;
  /**
   * Live tasks of `type` with `available_at` at or before `now` (ISO 8601), oldest first, at
   * most `limit`: accepted tasks ready to start and running tasks whose lease has run out.
   */
  dueTasks(type: string, now: string, limit: number): Promise<StoredTask[]>;
  /**
   * Moves a running task's lease to `expiresAt` if `worker` still holds it, or throws
   * `TaskConflictError`.
   */
  extendLease(taskId: string, worker: string, expiresAt: string): Promise<StoredTask>;
}
