/**
 * `next_page_token` of `GET /v1/tasks`. The listing's cursor is only a task id, but a client
 * must neither forge one nor carry it to another query, so the token is signed:
 *
 *   token = base64url(cursor) "." base64url(HMAC-SHA-256(secret, signed text))
 *   signed text = "blux-task-page-token/v1" \n identity \n canonical JSON of the filters \n cursor
 *
 * as the audit listing's tokens are, with a context line of its own, so that a token of one
 * listing never verifies for the other even under the same secret. The filters and the caller
 * are in the MAC only: the token reveals neither. The page size is not bound; it may change
 * between pages.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '@shared/audit/canonical-json';
import { ValidationError } from '@shared/errors/gateway-error';
import { isTaskId } from './task';

/** Far longer than any token this module makes; a longer one is refused before any work. */
export const MAX_TASK_PAGE_TOKEN_CHARS = 512;

export const TASK_PAGE_TOKEN_FIELD = 'query.page_token';

const TOKEN_CONTEXT = 'blux-task-page-token/v1';

const MAC_BYTES = 32;

/** What a token is bound to besides its cursor. */
export interface TaskPageTokenBinding {
  /** The caller's `Identity.id`. */
  readonly identity: string;
  /** Every filter of the listing, `null` for one not given. */
  readonly filters: Readonly<Record<string, string | null>>;
}

const macOf = (secret: string, binding: TaskPageTokenBinding, cursor: string): Buffer =>
  createHmac('sha256', secret)
    .update([TOKEN_CONTEXT, binding.identity, canonicalJson(binding.filters), cursor].join('\n'))
    .digest();

const invalidToken = (): ValidationError =>
  new ValidationError('The page token is invalid.', [
    {
      field: TASK_PAGE_TOKEN_FIELD,
      message: 'must be a next_page_token of this same listing, presented by the same caller',
    },
  ]);

/** The token that resumes a listing after the task `cursor`, for this binding only. */
export const encodeTaskPageToken = (
  cursor: string,
  binding: TaskPageTokenBinding,
  secret: string,
): string =>
  `${Buffer.from(cursor, 'utf8').toString('base64url')}.` +
  macOf(secret, binding, cursor).toString('base64url');

/**
 * The cursor inside `token` once its MAC holds for this caller and these filters. Whatever is
 * wrong with a token (altered, another listing's, another caller's, not a token at all), the
 * answer is the same `VALIDATION_FAILED` on `query.page_token`.
 */
export const decodeTaskPageToken = (
  token: string,
  binding: TaskPageTokenBinding,
  secret: string,
): string => {
  const parts = token.split('.');
  const [payload, signature] = parts;
  if (
    token.length > MAX_TASK_PAGE_TOKEN_CHARS ||
    parts.length !== 2 ||
    payload === undefined ||
    signature === undefined
  ) {
    throw invalidToken();
  }
  const cursor = Buffer.from(payload, 'base64url').toString('utf8');
  const given = Buffer.from(signature, 'base64url');
  // Node's decoder skips characters outside the alphabet: text that does not round-trip is
  // not what this module wrote.
  const canonical =
    given.length === MAC_BYTES &&
    given.toString('base64url') === signature &&
    Buffer.from(cursor, 'utf8').toString('base64url') === payload;

  if (!canonical || !timingSafeEqual(given, macOf(secret, binding, cursor))) {
    throw invalidToken();
  }
  // Only this module signs; a valid MAC over something else is a bug or a leaked secret.
  if (!isTaskId(cursor)) {
    throw invalidToken();
  }

  return cursor;
};
