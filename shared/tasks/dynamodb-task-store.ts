/**
 * The DynamoDB implementation of `TaskStore` on the tasks table (layout in `task-store.ts`,
 * items in `dynamodb-task-items.ts`).
 *
 * Every status change is one `TransactWriteItems`: the task's new item, put under the
 * condition that the task is still in the status (and at the version) it was read in, and the
 * audit entry's put on the audit table. Both are written or neither. A transition reads the
 * task first, consistently, because the task as written is what callers need back and a
 * transaction returns nothing; the version in the condition makes that read-then-write safe
 * against any writer in between. A writer that only moved the version (a lease extension)
 * costs a re-read and a new try, at most `MAX_TRANSITION_TRIES` in all; a move to another
 * status is a `TaskConflictError`.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type QueryCommandInput,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { gatewayAuditStore } from '@shared/audit/dynamodb-audit-store';
import { dynamoDb, withDynamoDbErrors } from '@shared/aws/dynamodb';
import { tableName } from '@shared/config';
import { recordMetric } from '@shared/metrics/metrics';
import { assertTransition, isFinal, type TaskStatus } from './task';
import {
  TaskConflictError,
  type StoredTask,
  type TaskListQuery,
  type TaskPage,
  type TaskStore,
  type TaskTransition,
} from './task-store';
import { findTaskType } from './task-types';
import {
  TASK_INDEXES,
  readTaskItem,
  taskItem,
  taskKey,
  type TaskItem,
} from './dynamodb-task-items';
import { gatewayIdempotencyStore } from './dynamodb-idempotency-store';
import { IdempotencyKeyLostError, type IdempotencyCompletion } from './idempotency-store';

/** Read-then-write rounds of one transition before a moving version counts as a conflict. */
export const MAX_TRANSITION_TRIES = 3;

/** Index queries one listing page may make before it ends early, with a cursor. */
export const MAX_LIST_QUERIES_PER_PAGE = 10;

/** Items one listing query reads at least: a selective filter then costs fewer rounds. */
const MIN_LIST_READ_ITEMS = 25;

const MS_PER_SECOND = 1000;

/** Writes the audit entry of a change as one item of the change's transaction. */
export interface AuditPutItems {
  putItem(entry: UnsealedAuditEntry): TransactWriteItem;
}

/** Puts the record that completes an idempotency key, in the creating transaction. */
export interface IdempotencyCompletionItems {
  completionItem(completion: IdempotencyCompletion): TransactWriteItem;
}

export interface DynamoDbTaskStoreOptions {
  /** The clock of `updated_at` and of lease expiry checks; tests pass their own. */
  readonly now?: () => Date;
  /** Needed by `createWithIdempotency` only. */
  readonly idempotency?: IdempotencyCompletionItems;
}

/** Whether a transaction was cancelled by the condition of its item number `index`. */
const failedConditionAt = (error: unknown, index: number): boolean =>
  error instanceof TransactionCanceledException &&
  error.CancellationReasons?.[index]?.Code === 'ConditionalCheckFailed';

/** When a running task without a lease counts as stuck: its type's timeout after its start. */
const runningDueAt = (task: StoredTask): string | undefined => {
  const type = findTaskType(task.type);
  if (task.started_at === undefined || type === undefined) {
    return task.started_at;
  }

  return new Date(Date.parse(task.started_at) + type.timeoutSeconds * MS_PER_SECOND).toISOString();
};

type SetFields = NonNullable<TaskTransition['set']>;

/** `base` with each field of `set` applied: a value sets it, `null` removes it. */
const applySet = (base: StoredTask, set: SetFields): StoredTask => {
  const next: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(set)) {
    if (value === null) {
      delete next[name];
    } else if (value !== undefined) {
      next[name] = value;
    }
  }

  return next as unknown as StoredTask;
};

/**
 * The task after `change`, written at `now`. Beyond the fields the change sets, the store
 * keeps the layout's rules: a lease exists only while running, `retry_at` only while
 * accepted, a final status has a `finished_at` (now, unless the change says), and a move to
 * running has a `started_at` (likewise).
 */
export const applyTransition = (
  task: StoredTask,
  change: TaskTransition,
  now: string,
): StoredTask => {
  const { lease, retry_at: retryAt, ...rest } = applySet(task, change.set ?? {});
  const to: TaskStatus = change.to;

  return {
    ...rest,
    status: to,
    version: task.version + 1,
    updated_at: now,
    audit_trail: [...task.audit_trail, change.audit.audit_id],
    ...(to === 'running' && lease !== undefined ? { lease } : {}),
    ...(to === 'accepted' && retryAt !== undefined ? { retry_at: retryAt } : {}),
    ...(to === 'running' ? { started_at: rest.started_at ?? now } : {}),
    ...(isFinal(to) ? { finished_at: change.set?.finished_at ?? now } : {}),
  };
};

/** A task store on one tasks table, writing audit entries through `audit`. */
export class DynamoDbTaskStore implements TaskStore {
  private readonly now: () => Date;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly audit: AuditPutItems,
    private readonly options: DynamoDbTaskStoreOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  async create(task: StoredTask, audit: UnsealedAuditEntry): Promise<void> {
    await this.writeNew(task, audit, []);
  }

  /**
   * `create`, and in the same transaction the completion of the creating request's
   * idempotency key. Throws `IdempotencyKeyLostError`, and stores nothing, when the key is no
   * longer held by the request's own record.
   */
  async createWithIdempotency(
    task: StoredTask,
    audit: UnsealedAuditEntry,
    completion: IdempotencyCompletion,
  ): Promise<void> {
    const items = this.options.idempotency;
    if (items === undefined) {
      throw new Error('taskStore.noIdempotency: this store was built without idempotency items');
    }
    await this.writeNew(task, audit, [items.completionItem(completion)]);
  }

  async get(taskId: string): Promise<StoredTask | undefined> {
    const output = await withDynamoDbErrors(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.tableName,
          Key: taskKey(taskId),
          ConsistentRead: true,
        }),
      ),
    );

    return output.Item === undefined ? undefined : readTaskItem(output.Item);
  }

  /**
   * The owner's tasks from `by_owner`, newest first. Known shortcoming: `status` and `type`
   * are a FilterExpression on that index, not keys of their own, so the reads a page costs grow
   * with the tasks the filter skips; a page ends early, with a cursor, after
   * `MAX_LIST_QUERIES_PER_PAGE` queries. Indexes keyed on owner and status (or type) would make
   * a filtered page cost what an unfiltered one does, for one more index write per transition.
   */
  async list(query: TaskListQuery): Promise<TaskPage> {
    const tasks: StoredTask[] = [];
    const filter = listFilter(query);
    let startAfter = query.cursor;

    for (let round = 0; round < MAX_LIST_QUERIES_PER_PAGE; round += 1) {
      const output = await this.query({
        IndexName: TASK_INDEXES.owner.name,
        KeyConditionExpression: '#owner = :owner',
        ScanIndexForward: false,
        Limit: Math.max(query.limit - tasks.length, MIN_LIST_READ_ITEMS),
        ...filter,
        ExpressionAttributeNames: { ...filter.ExpressionAttributeNames, '#owner': 'owner' },
        ExpressionAttributeValues: {
          ...filter.ExpressionAttributeValues,
          ':owner': { S: query.owner },
        },
        ...(startAfter === undefined
          ? {}
          : {
              ExclusiveStartKey: {
                ...taskKey(startAfter),
                owner: { S: query.owner },
                task_id: { S: startAfter },
              },
            }),
      });
      const found = (output.Items ?? []).map(readTaskItem);
      const room = query.limit - tasks.length;
      tasks.push(...found.slice(0, room));
      const last = output.LastEvaluatedKey?.task_id?.S;

      if (found.length > room) {
        return { tasks, cursor: tasks.at(-1)?.task_id };
      }
      if (last === undefined) {
        return { tasks };
      }
      if (tasks.length === query.limit) {
        return { tasks, cursor: last };
      }
      startAfter = last;
    }

    // The budget is spent on a filter that matches rarely: a short page, and more to come.
    return { tasks, cursor: startAfter };
  }

  async transition(change: TaskTransition): Promise<StoredTask> {
    assertTransition(change.from, change.to);

    for (let attempt = 1; ; attempt += 1) {
      const current = await this.get(change.taskId);
      const stale =
        change.expectedVersion !== undefined && current?.version !== change.expectedVersion;
      if (current === undefined || current.status !== change.from || stale) {
        throw new TaskConflictError(change.taskId, change.from);
      }

      const next = applyTransition(current, change, this.now().toISOString());
      try {
        await this.writeTransition(current, next, change.audit);

        return next;
      } catch (error) {
        // Another writer came first. Try again only when it may have moved the version alone
        // and the caller did not pin one; a move to another status shows on the re-read.
        const retry = change.expectedVersion === undefined && attempt < MAX_TRANSITION_TRIES;
        if (!(error instanceof TaskConflictError) || !retry) {
          throw error;
        }
      }
    }
  }

  async recentDurations(type: string, limit: number): Promise<number[]> {
    const output = await this.query({
      IndexName: TASK_INDEXES.completed.name,
      KeyConditionExpression: 'completed_type = :type',
      ExpressionAttributeValues: { ':type': { S: type } },
      ScanIndexForward: false,
      Limit: limit,
    });

    return (output.Items ?? []).map(readTaskItem).flatMap((task) => {
      if (task.started_at === undefined || task.finished_at === undefined) {
        return [];
      }

      return [(Date.parse(task.finished_at) - Date.parse(task.started_at)) / MS_PER_SECOND];
    });
  }

  async dueTasks(type: string, now: string, limit: number): Promise<StoredTask[]> {
    const output = await this.query({
      IndexName: TASK_INDEXES.queue.name,
      KeyConditionExpression: 'queue_pk = :type AND available_at <= :now',
      ExpressionAttributeValues: { ':type': { S: type }, ':now': { S: now } },
      ScanIndexForward: true,
      Limit: limit,
    });

    return (output.Items ?? []).map(readTaskItem);
  }

  async extendLease(taskId: string, worker: string, expiresAt: string): Promise<StoredTask> {
    const now = this.now().toISOString();
    try {
      const output = await withDynamoDbErrors(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: taskKey(taskId),
            UpdateExpression:
              'SET lease.expires_at = :expires_at, available_at = :expires_at, ' +
              'updated_at = :now, version = version + :one',
            // The holder only, and only while its lease has not run out: an expired lease is
            // the task's way back to the queue, and a late worker must not pull it out again.
            ConditionExpression:
              '#status = :running AND lease.worker = :worker AND lease.expires_at > :now',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':expires_at': { S: expiresAt },
              ':now': { S: now },
              ':one': { N: '1' },
              ':running': { S: 'running' },
              ':worker': { S: worker },
            },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );

      return readTaskItem(output.Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new TaskConflictError(taskId, 'running', { cause: error });
      }
      throw error;
    }
  }

  private async writeNew(
    task: StoredTask,
    audit: UnsealedAuditEntry,
    extra: readonly TransactWriteItem[],
  ): Promise<void> {
    const trail = task.audit_trail.includes(audit.audit_id)
      ? task.audit_trail
      : [...task.audit_trail, audit.audit_id];
    const put: TransactWriteItem = {
      Put: {
        TableName: this.tableName,
        Item: taskItem({ ...task, audit_trail: trail }, runningDueAt(task)),
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    };

    try {
      await this.transact([put, this.audit.putItem(audit), ...extra]);
    } catch (error) {
      if (failedConditionAt(error, 0)) {
        throw new TaskConflictError(task.task_id, task.status, { cause: error });
      }
      if (extra.length > 0 && failedConditionAt(error, 2)) {
        throw new IdempotencyKeyLostError({ cause: error });
      }
      throw error;
    }
    recordMetric('AuditEntriesWritten', 1, { service: audit.service });
  }

  private async writeTransition(
    current: StoredTask,
    next: StoredTask,
    audit: UnsealedAuditEntry,
  ): Promise<void> {
    const put: TransactWriteItem = {
      Put: {
        TableName: this.tableName,
        Item: taskItem(next, runningDueAt(next)),
        ConditionExpression: '#status = :from AND version = :version',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':from': { S: current.status },
          ':version': { N: String(current.version) },
        },
      },
    };

    try {
      await this.transact([put, this.audit.putItem(audit)]);
    } catch (error) {
      if (failedConditionAt(error, 0)) {
        throw new TaskConflictError(current.task_id, current.status, { cause: error });
      }
      throw error;
    }
    recordMetric('AuditEntriesWritten', 1, { service: audit.service });
  }

  private async transact(items: TransactWriteItem[]): Promise<void> {
    await withDynamoDbErrors(() =>
      this.client.send(new TransactWriteItemsCommand({ TransactItems: items })),
    );
  }

  private async query(input: Omit<QueryCommandInput, 'TableName'>) {
    return withDynamoDbErrors(() =>
      this.client.send(new QueryCommand({ TableName: this.tableName, ...input })),
    );
  }
}

/** The filter of a listing's status and type, for the index query's FilterExpression. */
const listFilter = (
  query: TaskListQuery,
): {
  FilterExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
} => {
  const terms: string[] = [];
  const names: Record<string, string> = {};
  const values: TaskItem = {};
  if (query.status !== undefined) {
    terms.push('#status = :status');
    names['#status'] = 'status';
    values[':status'] = { S: query.status };
  }
  if (query.type !== undefined) {
    terms.push('#type = :type');
    names['#type'] = 'type';
    values[':type'] = { S: query.type };
  }

  return terms.length === 0
    ? {}
    : {
        FilterExpression: terms.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      };
};

let shared: DynamoDbTaskStore | undefined;

/**
 * The task store of the running function: the shared client, the stack's tasks table, audit
 * entries through the gateway's audit store and idempotency records beside the tasks.
 */
export const gatewayTaskStore = (): DynamoDbTaskStore => {
  shared ??= new DynamoDbTaskStore(dynamoDb(), tableName('tasks'), gatewayAuditStore(), {
    idempotency: gatewayIdempotencyStore(),
  });

  return shared;
};
