/**
 * A task as an item of the tasks table, both ways, with the layout that `task-store.ts`
 * documents. Exported for whoever reads the table's stream (the executor, the event producer):
 * `readTaskItem` accepts the SDK's attribute values and a stream record's alike, and
 * `isTaskItem` tells a task from the other items of the table by its `pk`.
 *
 * Beyond the documented layout the store keeps one attribute of its own: `completed_type`,
 * the task's type, present only once the task is `completed`, which keys the sparse index
 * `by_completed_type` that recent durations are read from.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { ItemValue, ReadableItem } from '@shared/audit/dynamodb-audit-items';
import { isTaskStatus, type TaskError, type TaskLease } from './task';
import { TASK_PK_PREFIX, TASK_SK, taskPk, type StoredTask } from './task-store';

export type TaskItem = Record<string, AttributeValue>;

/** The indexes of the tasks table, by name and key attributes. */
export const TASK_INDEXES = {
  queue: { name: 'by_queue', partitionKey: 'queue_pk', sortKey: 'available_at' },
  owner: { name: 'by_owner', partitionKey: 'owner', sortKey: 'task_id' },
  completed: { name: 'by_completed_type', partitionKey: 'completed_type', sortKey: 'finished_at' },
} as const;

export type TaskItemErrorCode = 'taskItem.malformed';

/** An item that claims to be a task but does not read as one: a fault for the operator. */
export class TaskItemError extends Error {
  override readonly name = 'TaskItemError';
  readonly code: TaskItemErrorCode = 'taskItem.malformed';

  constructor(readonly attribute: string) {
    super(`taskItem.malformed: a task item has no valid ${attribute}`);
  }
}

/** The primary key of a task's item. */
export const taskKey = (taskId: string): TaskItem => ({
  pk: { S: taskPk(taskId) },
  sk: { S: TASK_SK },
});

/** Whether a (stream) item is a task, by its `pk` alone, as the layout promises. */
export const isTaskItem = (item: ReadableItem | undefined): boolean =>
  item?.pk?.S?.startsWith(TASK_PK_PREFIX) === true;

/**
 * Where a task stands in `by_queue`: only `accepted` and `running` tasks are in it, due at
 * their `retry_at` (or creation) while accepted and at their lease's expiry while running.
 * A running task without a lease is due when its `started_at` says it could be stuck; the
 * caller gives that instant, since only the type knows its timeout.
 */
export const queuePosition = (
  task: Pick<StoredTask, 'status' | 'type' | 'created_at' | 'retry_at' | 'lease'>,
  runningDueAt?: string,
): { queue_pk: string; available_at: string } | undefined => {
  if (task.status === 'accepted') {
    return { queue_pk: task.type, available_at: task.retry_at ?? task.created_at };
  }
  if (task.status === 'running') {
    const dueAt = task.lease?.expires_at ?? runningDueAt;

    return dueAt === undefined ? undefined : { queue_pk: task.type, available_at: dueAt };
  }

  return undefined;
};

const optionalString = (name: string, value: string | undefined): TaskItem =>
  value === undefined ? {} : { [name]: { S: value } };

/** The attribute value of a task error. */
export const taskErrorValue = (error: TaskError): AttributeValue => ({
  M: { code: { S: error.code }, message: { S: error.message } },
});

/** The attribute value of a lease. */
export const taskLeaseValue = (lease: TaskLease): AttributeValue => ({
  M: { worker: { S: lease.worker }, expires_at: { S: lease.expires_at } },
});

/** JSON text of a value that JSON may not hold (`undefined`) as `null`. */
export const jsonText = (value: unknown): string => JSON.stringify(value ?? null);

/** The whole item of `task`, as `create` writes it. */
export const taskItem = (task: StoredTask, runningDueAt?: string): TaskItem => {
  const position = queuePosition(task, runningDueAt);

  return {
    ...taskKey(task.task_id),
    task_id: { S: task.task_id },
    owner: { S: task.owner },
    type: { S: task.type },
    status: { S: task.status },
    attempts: { N: String(task.attempts) },
    version: { N: String(task.version) },
    created_at: { S: task.created_at },
    updated_at: { S: task.updated_at },
    request_id: { S: task.request_id },
    context_json: { S: jsonText(task.context) },
    payload_json: { S: jsonText(task.payload) },
    audit_trail: { L: task.audit_trail.map((id) => ({ S: id })) },
    ...optionalString('started_at', task.started_at),
    ...optionalString('finished_at', task.finished_at),
    ...optionalString('retry_at', task.retry_at),
    ...(task.result === undefined ? {} : { result_json: { S: jsonText(task.result) } }),
    ...(task.error === undefined ? {} : { error: taskErrorValue(task.error) }),
    ...(task.lease === undefined ? {} : { lease: taskLeaseValue(task.lease) }),
    ...(task.status === 'completed' ? { completed_type: { S: task.type } } : {}),
    ...(position === undefined
      ? {}
      : { queue_pk: { S: position.queue_pk }, available_at: { S: position.available_at } }),
  };
};

// Reading

const readString = (item: ReadableItem, name: string): string => {
  const value = item[name]?.S;
  if (value === undefined) {
    throw new TaskItemError(name);
  }

  return value;
};

const readOptionalString = (item: ReadableItem, name: string): string | undefined => {
  const value = item[name];
  if (value === undefined) {
    return undefined;
  }
  if (value.S === undefined) {
    throw new TaskItemError(name);
  }

  return value.S;
};

const readInteger = (item: ReadableItem, name: string): number => {
  const value = Number(item[name]?.N);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TaskItemError(name);
  }

  return value;
};

const readJson = (item: ReadableItem, name: string): unknown => {
  try {
    return JSON.parse(readString(item, name)) as unknown;
  } catch {
    throw new TaskItemError(name);
  }
};

const readContext = (item: ReadableItem): Record<string, unknown> => {
  const context = readJson(item, 'context_json');
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new TaskItemError('context_json');
  }

  return context as Record<string, unknown>;
};

const readMap = (
  item: ReadableItem,
  name: string,
  members: readonly string[],
): Record<string, string> | undefined => {
  const value = item[name];
  if (value === undefined || value.NULL === true) {
    return undefined;
  }
  const map: Readonly<Record<string, ItemValue>> | undefined = value.M;
  const read: Record<string, string> = {};
  for (const member of members) {
    const text = map?.[member]?.S;
    if (text === undefined) {
      throw new TaskItemError(`${name}.${member}`);
    }
    read[member] = text;
  }

  return read;
};

const readAuditTrail = (item: ReadableItem): string[] => {
  const list = item.audit_trail?.L;
  if (list === undefined) {
    throw new TaskItemError('audit_trail');
  }

  return list.map((value) => {
    if (value.S === undefined) {
      throw new TaskItemError('audit_trail');
    }

    return value.S;
  });
};

/**
 * The task an item holds; throws `TaskItemError` naming the first attribute that does not
 * read as the layout says. Optional members that are absent stay absent in the task.
 */
export const readTaskItem = (item: ReadableItem): StoredTask => {
  const status = readString(item, 'status');
  if (!isTaskStatus(status)) {
    throw new TaskItemError('status');
  }
  const error = readMap(item, 'error', ['code', 'message']) as TaskError | undefined;
  const lease = readMap(item, 'lease', ['worker', 'expires_at']) as TaskLease | undefined;
  const startedAt = readOptionalString(item, 'started_at');
  const finishedAt = readOptionalString(item, 'finished_at');
  const retryAt = readOptionalString(item, 'retry_at');

  return {
    task_id: readString(item, 'task_id'),
    owner: readString(item, 'owner'),
    type: readString(item, 'type'),
    status,
    attempts: readInteger(item, 'attempts'),
    version: readInteger(item, 'version'),
    created_at: readString(item, 'created_at'),
    updated_at: readString(item, 'updated_at'),
    request_id: readString(item, 'request_id'),
    context: readContext(item),
    payload: readJson(item, 'payload_json'),
    audit_trail: readAuditTrail(item),
    ...(startedAt === undefined ? {} : { started_at: startedAt }),
    ...(finishedAt === undefined ? {} : { finished_at: finishedAt }),
    ...(retryAt === undefined ? {} : { retry_at: retryAt }),
    ...(item.result_json === undefined ? {} : { result: readJson(item, 'result_json') }),
    ...(error === undefined ? {} : { error }),
    ...(lease === undefined ? {} : { lease }),
  };
};
