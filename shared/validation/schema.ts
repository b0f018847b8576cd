/**
 * Request validation with zod. Zod checks values by walking the schema: nothing is compiled
 * when a function starts, and JIT compilation of object schemas is turned off so that a cold
 * start never pays for it.
 */
import { z } from 'zod';
import { ValidationError, type FieldIssue } from '@shared/errors/gateway-error';

z.config({ jitless: true });

export { z };

const fieldPath = (root: string, path: readonly PropertyKey[]): string =>
  [root, ...path.map((segment) => String(segment))].join('.');

/** The field issues of a failed parse, each named by its path under `root` (`body.type`). */
export const fieldIssues = (root: string, error: z.ZodError): FieldIssue[] =>
  error.issues.map((issue) => ({ field: fieldPath(root, issue.path), message: issue.message }));

/** Parses `value` with `schema`, or throws `VALIDATION_FAILED` naming every offending field. */
export const parseOrThrow = <T>(schema: z.ZodType<T>, value: unknown, root: string): T => {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new ValidationError(`The request ${root} is invalid.`, fieldIssues(root, result.error));
  }

  return result.data;
};
