/**
 * The `task_updates` producer: turns the tasks table's stored changes into `task.updated`
 * events. A task's creation (INSERT) and every write that changes its status (MODIFY with a
 * new status) is announced; writes that leave the status alone (a lease extension, a trail
 * entry) and removals are not. The item layout read here is the one `task-store.ts` documents.
 */
import { TASK_PK_PREFIX } from '@shared/tasks/task-store';
import type { EventDraft } from './event-store';
import {
  ProducerError,
  optionalInteger,
  optionalString,
  requiredString,
  type StoredChange,
  type StreamImage,
} from './stream-change';

export const TASK_UPDATED = 'task.updated';

/** The result fields of a `data_analysis` task that its event repeats. */
const ANALYSIS_SUMMARY_FIELDS = ['analysis_complete', 'insights_count'] as const;

/** At most this many top-level keys of another result are named in its summary. */
export const MAX_SUMMARY_KEYS = 20;

const WHAT = 'a task item';

const isTaskImage = (image: StreamImage | undefined): image is StreamImage =>
  image?.pk?.S?.startsWith(TASK_PK_PREFIX) === true;

const parseResult = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProducerError(
      'producer.malformedImage',
      `${WHAT} has a result_json that is not JSON`,
    );
  }
};

/**
 * A small summary of a completed task's result, so that an event stays small whatever the
 * result holds: the headline fields of a data analysis, else the names of the result's
 * top-level keys (or its JSON type when it is no object). The whole result is one
 * `GET /v1/tasks/{task_id}` away.
 */
export const resultSummary = (type: string, result: unknown): Record<string, unknown> => {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    return { type: Array.isArray(result) ? 'array' : result === null ? 'null' : typeof result };
  }
  const fields = result as Record<string, unknown>;
  if (type === 'data_analysis') {
    return Object.fromEntries(
      ANALYSIS_SUMMARY_FIELDS.filter((name) => name in fields).map((name) => [name, fields[name]]),
    );
  }

  return { keys: Object.keys(fields).slice(0, MAX_SUMMARY_KEYS) };
};

const taskError = (image: StreamImage): { code: string; message: string } | undefined => {
  const error = image.error?.M;
  if (error === undefined) {
    return undefined;
  }

  return {
    code: requiredString(error, 'a task error', 'code'),
    message: requiredString(error, 'a task error', 'message'),
  };
};

/** What the event says of the task: who it is, where it stands, and how it ended. */
const eventData = (image: StreamImage, status: string): Record<string, unknown> => {
  const type = requiredString(image, WHAT, 'type');
  const resultJson = optionalString(image, 'result_json');
  const error = taskError(image);

  return {
    task_id: requiredString(image, WHAT, 'task_id'),
    status,
    type,
    attempts: optionalInteger(image, WHAT, 'attempts') ?? 0,
    updated_at: requiredString(image, WHAT, 'updated_at'),
    ...(status === 'completed' && resultJson !== undefined
      ? { result: resultSummary(type, parseResult(resultJson)) }
      : {}),
    ...(status === 'failed' && error !== undefined ? { error } : {}),
  };
};

/**
 * What makes this change unique: the task and its version, which every write increments. A
 * retried stream batch carries the same version again, so the store publishes it once.
 */
const sourceIdOf = (image: StreamImage, status: string): string => {
  const taskId = requiredString(image, WHAT, 'task_id');
  const version = optionalInteger(image, WHAT, 'version');

  return version === undefined
    ? `task#${taskId}#${requiredString(image, WHAT, 'updated_at')}#${status}`
    : `task#${taskId}#v${version}`;
};

/**
 * The `task.updated` event of a change to the tasks table, or `undefined` when the change is
 * not a task's creation or status change. Throws `producer.malformedImage` for a task item
 * that does not follow the layout.
 */
export const taskEventOf = (change: StoredChange): EventDraft | undefined => {
  const image = change.newImage;
  if (change.kind === 'REMOVE' || !isTaskImage(image)) {
    return undefined;
  }
  const status = requiredString(image, WHAT, 'status');
  if (change.kind === 'MODIFY' && change.oldImage?.status?.S === status) {
    return undefined;
  }
  const requestId = optionalString(image, 'request_id');

  return {
    channel: 'task_updates',
    type: TASK_UPDATED,
    data: eventData(image, status),
    timestamp: requiredString(image, WHAT, 'updated_at'),
    owner: requiredString(image, WHAT, 'owner'),
    ...(requestId === undefined ? {} : { requestId }),
    sourceId: sourceIdOf(image, status),
  };
};
