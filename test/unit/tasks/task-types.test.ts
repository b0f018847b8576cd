import { describe, expect, it } from 'vitest';
import { ValidationError, type FieldIssue } from '@shared/errors/gateway-error';
import { MAX_DATA_REFERENCES } from '@shared/tasks/data-analysis/data-analysis-limits';
import {
  DATA_ANALYSIS_TASK_TYPE,
  DOCUMENT_REVIEW_TASK_TYPE,
  findTaskType,
  MAX_REVIEW_INSTRUCTIONS_CHARS,
  MAX_TASK_CONTEXT_BYTES,
  TASK_EXECUTE_SCOPE,
  TASK_TYPES,
  validateTaskRequest,
} from '@shared/tasks/task-types';

const VALID_BODY = {
  type: 'data_analysis',
  context: { user_id: 'user_123', session_id: 'sess_abc' },
  payload: { data_references: ['ref://dataset/1', 'ref://dataset/sample'] },
};

/** The field issues of the `ValidationError` that `body` is refused with. */
const issuesOf = (body: unknown): readonly FieldIssue[] => {
  try {
    validateTaskRequest(body);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });

    return (error as ValidationError).details.fields as FieldIssue[];
  }

  throw new Error('the body was accepted');
};

const fieldsOf = (body: unknown): string[] => issuesOf(body).map((issue) => issue.field);

describe('task type registry', () => {
  it('finds data_analysis and document_review by name, and nothing else', () => {
    expect(findTaskType('data_analysis')).toBe(DATA_ANALYSIS_TASK_TYPE);
    expect(findTaskType('document_review')).toBe(DOCUMENT_REVIEW_TASK_TYPE);
    expect(findTaskType('Data_Analysis')).toBeUndefined();
    expect(findTaskType('toString')).toBeUndefined();
  });

  it('runs data_analysis inside the gateway and document_review by an outside worker', () => {
    expect(DATA_ANALYSIS_TASK_TYPE.execution).toBe('internal');
    expect(DATA_ANALYSIS_TASK_TYPE.workerScopes).toEqual([]);
    expect(DOCUMENT_REVIEW_TASK_TYPE.execution).toBe('external');
    expect(DOCUMENT_REVIEW_TASK_TYPE.workerScopes).toEqual([TASK_EXECUTE_SCOPE]);
  });

  it('declares names once, and limits that a lifecycle can work with', () => {
    const names = TASK_TYPES.map((type) => type.name);

    expect(new Set(names).size).toBe(names.length);
    for (const type of TASK_TYPES) {
      expect(type.name).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(type.maxAttempts).toBeGreaterThanOrEqual(1);
      expect(type.expectedDurationSeconds).toBeGreaterThan(0);
      expect(type.expectedDurationSeconds).toBeLessThan(type.timeoutSeconds);
    }
  });
});

describe('validateTaskRequest', () => {
  it('accepts a valid data_analysis request and resolves its type', () => {
    const request = validateTaskRequest(VALID_BODY);

    expect(request.type).toBe(DATA_ANALYSIS_TASK_TYPE);
    expect(request.context).toEqual(VALID_BODY.context);
    expect(request.payload).toEqual(VALID_BODY.payload);
  });

  it('accepts a request without context as an empty context', () => {
    const request = validateTaskRequest({ type: 'data_analysis', payload: VALID_BODY.payload });

    expect(request.context).toEqual({});
  });

  it('accepts a document_review request with an https URL and instructions', () => {
    const payload = { document_url: 'https://docs.example.com/a.pdf', instructions: 'Check it' };
    const request = validateTaskRequest({ type: 'document_review', context: {}, payload });

    expect(request.type).toBe(DOCUMENT_REVIEW_TASK_TYPE);
    expect(request.payload).toEqual(payload);
  });

  it('refuses a body that is not an object on body', () => {
    expect(fieldsOf('data_analysis')).toEqual(['body']);
    expect(fieldsOf(null)).toEqual(['body']);
  });

  it('refuses an unknown type on body.type, naming the registered ones', () => {
    const issues = issuesOf({ ...VALID_BODY, type: 'mine_bitcoin' });

    expect(issues).toHaveLength(1);
    expect(issues[0]?.field).toBe('body.type');
    expect(issues[0]?.message).toContain('data_analysis, document_review');
  });

  it('refuses a missing or non-string type on body.type', () => {
    expect(fieldsOf({ context: {}, payload: {} })).toEqual(['body.type']);
    expect(fieldsOf({ ...VALID_BODY, type: 7 })).toEqual(['body.type']);
  });

  it('names a bad data reference by its index under body.payload', () => {
    const payload = { data_references: ['ref://dataset/1', 'ref://dataset/../etc/passwd'] };
    const issues = issuesOf({ ...VALID_BODY, payload });

    expect(issues.map((issue) => issue.field)).toEqual(['body.payload.data_references.1']);
    expect(issues[0]?.message).toContain('ref://dataset/<name>');
  });

  it('refuses an empty list of references and one over the limit', () => {
    const many = Array.from({ length: MAX_DATA_REFERENCES + 1 }, (_, i) => `ref://dataset/d${i}`);

    expect(fieldsOf({ ...VALID_BODY, payload: { data_references: [] } })).toEqual([
      'body.payload.data_references',
    ]);
    expect(fieldsOf({ ...VALID_BODY, payload: { data_references: many } })).toEqual([
      'body.payload.data_references',
    ]);
    expect(() =>
      validateTaskRequest({ ...VALID_BODY, payload: { data_references: many.slice(1) } }),
    ).not.toThrow();
  });

  it('refuses a missing payload and bad options with their paths', () => {
    expect(fieldsOf({ type: 'data_analysis' })).toEqual(['body.payload']);
    expect(
      fieldsOf({
        ...VALID_BODY,
        payload: { ...VALID_BODY.payload, options: { max_insights: 0 } },
      }),
    ).toEqual(['body.payload.options.max_insights']);
  });

  it('refuses an unknown payload member rather than ignoring it', () => {
    const issues = issuesOf({ ...VALID_BODY, payload: { ...VALID_BODY.payload, extra: 1 } });

    expect(issues.map((issue) => issue.field)).toEqual(['body.payload']);
    expect(issues[0]?.message).toContain('extra');
  });

  it('refuses a document_review URL that is not https, and instructions over the limit', () => {
    const payload = {
      document_url: 'http://docs.example.com/a.pdf',
      instructions: 'x'.repeat(MAX_REVIEW_INSTRUCTIONS_CHARS + 1),
    };

    expect(fieldsOf({ type: 'document_review', payload })).toEqual([
      'body.payload.document_url',
      'body.payload.instructions',
    ]);
  });

  it('refuses a context over MAX_TASK_CONTEXT_BYTES on body.context', () => {
    const context = { note: 'x'.repeat(MAX_TASK_CONTEXT_BYTES) };
    const issues = issuesOf({ ...VALID_BODY, context });

    expect(issues.map((issue) => issue.field)).toEqual(['body.context']);
    expect(issues[0]?.message).toContain(`${MAX_TASK_CONTEXT_BYTES} bytes`);
  });

  it('counts the context in UTF-8 bytes, not characters', () => {
    // 1,400 three-byte characters: under the limit in characters, over it in bytes.
    const context = { note: '€'.repeat(1400) };

    expect(JSON.stringify(context).length).toBeLessThan(MAX_TASK_CONTEXT_BYTES);
    expect(fieldsOf({ ...VALID_BODY, context })).toEqual(['body.context']);
  });

  it('refuses a context that is not an object, and a bad user_id', () => {
    expect(fieldsOf({ ...VALID_BODY, context: ['a'] })).toEqual(['body.context']);
    expect(fieldsOf({ ...VALID_BODY, context: { user_id: 'has space' } })).toEqual([
      'body.context.user_id',
    ]);
    expect(fieldsOf({ ...VALID_BODY, context: { user_id: 42 } })).toEqual(['body.context.user_id']);
  });

  it('reports every offending field at once', () => {
    const body = {
      type: 'data_analysis',
      context: { user_id: '' },
      payload: { data_references: ['nope'] },
    };

    expect(fieldsOf(body)).toEqual(['body.context.user_id', 'body.payload.data_references.0']);
  });

  it('reports a bad context together with an unknown type', () => {
    expect(fieldsOf({ type: 'nope', context: 'x', payload: {} })).toEqual([
      'body.type',
      'body.context',
    ]);
  });
});
