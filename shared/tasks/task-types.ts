/**
 * The task types the gateway accepts, declared once in code. A type says what its payload looks
 * like, which scopes a caller needs to create it beyond `tasks:write`, how long it may run, how
 * long it usually runs (for `estimated_completion` until real durations exist), how often it is
 * tried, and who runs it: the gateway itself (`internal`) or an outside worker that claims it
 * through the API with `tasks:execute` (`external`).
 */
import { Buffer } from 'node:buffer';
import { ValidationError, type FieldIssue } from '@shared/errors/gateway-error';
import { fieldIssues, z } from '@shared/validation/schema';
import { MAX_DATA_REFERENCES } from '@shared/tasks/data-analysis/data-analysis-limits';
import { parseDatasetReference } from '@shared/tasks/datasets/dataset-store';

/** The scope every task creation needs; a type's own `scopes` come on top of it. */
export const TASK_WRITE_SCOPE = 'tasks:write';

/** The scope an external worker needs to claim, extend, complete and fail tasks. */
export const TASK_EXECUTE_SCOPE = 'tasks:execute';

/** Bytes the request's `context` may take as JSON (UTF-8). */
export const MAX_TASK_CONTEXT_BYTES = 4096;

/** Characters of `context.user_id`: `user:<user_id>` then fits an audit entry's identity. */
export const MAX_CONTEXT_USER_ID_CHARS = 200;

/** Characters of a `document_review` task's instructions. */
export const MAX_REVIEW_INSTRUCTIONS_CHARS = 2000;

/** Characters of a `document_review` task's document URL. */
export const MAX_DOCUMENT_URL_CHARS = 2048;

/** Insights a `data_analysis` task may ask to keep at most. */
export const MAX_ANALYSIS_INSIGHTS = 100;

export type TaskExecution = 'internal' | 'external';

export interface TaskType<TPayload = unknown> {
  /** The `type` of a create request: lower-case words joined by `_`. */
  readonly name: string;
  readonly payload: z.ZodType<TPayload>;
  /** Scopes the creator needs beyond `tasks:write`. */
  readonly scopes: readonly string[];
  /** Scopes a worker needs to execute it: `tasks:execute` for an external type, none otherwise. */
  readonly workerScopes: readonly string[];
  /** Seconds one attempt may run before it fails as timed out. */
  readonly timeoutSeconds: number;
  /** Seconds one attempt usually takes, used before there is any real duration to go by. */
  readonly expectedDurationSeconds: number;
  /** Attempts in all, the first one included. */
  readonly maxAttempts: number;
  readonly execution: TaskExecution;
}

const isDatasetReference = (reference: string): boolean => {
  try {
    parseDatasetReference(reference);

    return true;
  } catch {
    return false;
  }
};

const dataAnalysisPayload = z.strictObject({
  data_references: z
    .array(
      z.string().refine(isDatasetReference, {
        message:
          'must be a dataset reference, ref://dataset/<name>, where the name is letters, ' +
          'digits, dots, underscores and dashes',
      }),
    )
    .min(1, 'must name at least one dataset')
    .max(MAX_DATA_REFERENCES, `may name at most ${MAX_DATA_REFERENCES} datasets`),
  options: z
    .strictObject({
      // The analyser always computes every insight; the executor keeps the first ones only.
      max_insights: z.int().min(1).max(MAX_ANALYSIS_INSIGHTS).optional(),
    })
    .optional(),
});

export type DataAnalysisPayload = z.infer<typeof dataAnalysisPayload>;

const isHttpsUrl = (text: string): boolean =>
  URL.canParse(text) && new URL(text).protocol === 'https:';

const documentReviewPayload = z.strictObject({
  document_url: z
    .string()
    .max(MAX_DOCUMENT_URL_CHARS, `must be at most ${MAX_DOCUMENT_URL_CHARS} characters`)
    .refine(isHttpsUrl, { message: 'must be an absolute https URL' }),
  instructions: z
    .string()
    .max(
      MAX_REVIEW_INSTRUCTIONS_CHARS,
      `must be at most ${MAX_REVIEW_INSTRUCTIONS_CHARS} characters`,
    )
    .optional(),
});

export type DocumentReviewPayload = z.infer<typeof documentReviewPayload>;

/** Statistics over the sample datasets in a few seconds; the timeout leaves room for 100 MiB. */
export const DATA_ANALYSIS_TASK_TYPE: TaskType<DataAnalysisPayload> = {
  name: 'data_analysis',
  payload: dataAnalysisPayload,
  scopes: [],
  workerScopes: [],
  timeoutSeconds: 300,
  expectedDurationSeconds: 10,
  maxAttempts: 3,
  execution: 'internal',
};

/** A document read by an outside reviewing service, which may take a human in the loop. */
export const DOCUMENT_REVIEW_TASK_TYPE: TaskType<DocumentReviewPayload> = {
  name: 'document_review',
  payload: documentReviewPayload,
  scopes: [],
  workerScopes: [TASK_EXECUTE_SCOPE],
  timeoutSeconds: 3600,
  expectedDurationSeconds: 300,
  maxAttempts: 3,
  execution: 'external',
};

/** Every registered type, in the order the docs list them. */
export const TASK_TYPES: readonly TaskType[] = [
  DATA_ANALYSIS_TASK_TYPE,
  DOCUMENT_REVIEW_TASK_TYPE,
] as const;

/** The registered names, for messages and docs. */
export const TASK_TYPE_NAMES: readonly string[] = TASK_TYPES.map((type) => type.name);

// Types added at run time by the local runtime for its tests (`registerTaskType`); the stack
// adds none, so a deployed gateway knows `TASK_TYPES` alone.
const processTypes = new Map<string, TaskType>();

/**
 * Adds a type to this process only, for the local runtime's test-only types (its
 * `extraTaskTypes` option). The executor registry calls it; nothing deployed does.
 */
export const registerTaskType = (type: TaskType): void => {
  processTypes.set(type.name, type);
};

/** Removes a type `registerTaskType` added. */
export const unregisterTaskType = (name: string): void => {
  processTypes.delete(name);
};

/** The registered type called `name`, or `undefined`. */
export const findTaskType = (name: string): TaskType | undefined =>
  TASK_TYPES.find((type) => type.name === name) ?? processTypes.get(name);

/**
 * `context.user_id` names the end user a service acts for: a subject that `user:<subject>`
 * turns into an identity, so visible ASCII without spaces. A `user:` prefix passes as well.
 */
const taskContext = z.looseObject({
  user_id: z
    .string()
    .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII characters without spaces')
    .max(MAX_CONTEXT_USER_ID_CHARS, `must be at most ${MAX_CONTEXT_USER_ID_CHARS} characters`)
    .optional(),
});

// Only the shape of the envelope here: each member is checked on its own below, so that a bad
// type does not hide a bad context.
const taskRequestEnvelope = z.object({
  type: z.unknown().optional(),
  context: z.unknown().optional(),
  payload: z.unknown().optional(),
});

/** A create request that passed validation, with its type resolved. */
export interface TaskRequest {
  readonly type: TaskType;
  readonly context: Readonly<Record<string, unknown>>;
  readonly payload: unknown;
}

const checkContext = (context: unknown, issues: FieldIssue[]): Record<string, unknown> => {
  if (context === undefined) {
    return {};
  }
  const parsed = taskContext.safeParse(context);
  if (!parsed.success) {
    issues.push(...fieldIssues('body.context', parsed.error));

    return {};
  }
  // Measured as stored: the JSON text in UTF-8, so that a multi-byte character counts in full.
  const sizeBytes = Buffer.byteLength(JSON.stringify(parsed.data), 'utf8');
  if (sizeBytes > MAX_TASK_CONTEXT_BYTES) {
    issues.push({
      field: 'body.context',
      message: `must be at most ${MAX_TASK_CONTEXT_BYTES} bytes as JSON, not ${sizeBytes}`,
    });
  }

  return parsed.data;
};

const checkPayload = (type: TaskType | undefined, payload: unknown, issues: FieldIssue[]) => {
  if (type === undefined) {
    return undefined;
  }
  const parsed = type.payload.safeParse(payload);
  if (!parsed.success) {
    issues.push(...fieldIssues('body.payload', parsed.error));
  }

  return parsed.data;
};

/**
 * Checks a `POST /v1/tasks` body: `type` a registered type, `payload` valid for that type,
 * `context` an object of at most `MAX_TASK_CONTEXT_BYTES` (absent is an empty one). Throws one
 * `ValidationError` naming every offending field (`body.type`, `body.payload.<path>`,
 * `body.context.<path>`), so that a client fixes them all in one round.
 */
export const validateTaskRequest = (body: unknown): TaskRequest => {
  const envelope = taskRequestEnvelope.safeParse(body);
  if (!envelope.success) {
    throw new ValidationError('The request body is invalid.', fieldIssues('body', envelope.error));
  }
  const issues: FieldIssue[] = [];

  const name = envelope.data.type;
  const type = typeof name === 'string' ? findTaskType(name) : undefined;
  if (type === undefined) {
    issues.push({
      field: 'body.type',
      message: `must be a registered task type: ${TASK_TYPE_NAMES.join(', ')}`,
    });
  }
  const context = checkContext(envelope.data.context, issues);
  const payload = checkPayload(type, envelope.data.payload, issues);

  if (type === undefined || issues.length > 0) {
    throw new ValidationError('The request body is invalid.', issues);
  }

  return { type, context, payload };
};
