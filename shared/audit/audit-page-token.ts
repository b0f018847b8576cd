/**
 * `next_page_token` of `GET /v1/audit`: the listing's cursor, made opaque and tamper-proof.
 *
 *   token = base64url(JSON of the cursor) "." base64url(HMAC-SHA-256(secret, bound text))
 *   bound text = "blux-audit-page-token/v1" \n canonical JSON of the query \n identity \n payload
 *
 * The query (every filter, the order and the window as asked) and the caller's identity are
 * bound into the MAC but not carried in the token: a token only verifies when presented with the
 * query it was made for, by the identity it was made for, and it reveals nothing about either.
 * Any change to the payload breaks the MAC. The page size is not bound, so a client may change
 * it between pages; the cursor does not depend on it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '@shared/errors/gateway-error';
import { z } from '@shared/validation/schema';
import { AUDIT_SHARD_COUNT, type AuditCursor } from './audit-store';
import { canonicalJson } from './canonical-json';

/** Longer than any token this module makes; a longer one is refused before any work. */
export const MAX_AUDIT_PAGE_TOKEN_CHARS = 4_096;

const TOKEN_CONTEXT = 'blux-audit-page-token/v1';

const MAC_BYTES = 32;

/** What a token is bound to besides its cursor. */
export interface AuditPageTokenBinding {
  /** The query as the client asked it, the page size and the token left out. */
  readonly query: Readonly<Record<string, string | null>>;
  /** The `Identity.id` of the caller. */
  readonly identity: string;
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TS_ID = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#aud_[0-9A-Z]{26}$/;

const cursorSchema = z.strictObject({
  since: z.string().regex(ISO_TIMESTAMP),
  until: z.string().regex(ISO_TIMESTAMP),
  segment: z.number().int().min(0),
  shards: z
    .array(
      z.union([
        z.strictObject({ after: z.string().regex(TS_ID) }),
        z.strictObject({ done: z.literal(true) }),
        z.strictObject({}),
      ]),
    )
    .length(AUDIT_SHARD_COUNT),
});

const mac = (secret: string, binding: AuditPageTokenBinding, payload: string): Buffer =>
  createHmac('sha256', secret)
    .update(
      [TOKEN_CONTEXT, canonicalJson(binding.query), binding.identity, payload].join('\n'),
      'utf8',
    )
    .digest();

const invalidToken = (cause?: unknown): ValidationError =>
  new ValidationError(
    'The page token is invalid.',
    [
      {
        field: 'query.page_token',
        message: 'must be a next_page_token of this same query, presented by the same caller',
      },
    ],
    cause,
  );

/** The token that resumes a listing at `cursor`, for this query and this caller only. */
export const encodeAuditPageToken = (
  cursor: AuditCursor,
  binding: AuditPageTokenBinding,
  secret: string,
): string => {
  const payload = Buffer.from(JSON.stringify(cursor), 'utf8').toString('base64url');

  return `${payload}.${mac(secret, binding, payload).toString('base64url')}`;
};

/**
 * The cursor inside `token`, once its MAC holds for this query and this caller. Any other
 * token, altered, made for another query or presented by another identity, is one answer:
 * `VALIDATION_FAILED` on `query.page_token`.
 */
export const decodeAuditPageToken = (
  token: string,
  binding: AuditPageTokenBinding,
  secret: string,
): AuditCursor => {
  const [payload, signature, ...rest] = token.split('.');
  if (
    token.length > MAX_AUDIT_PAGE_TOKEN_CHARS ||
    payload === undefined ||
    signature === undefined ||
    rest.length > 0
  ) {
    throw invalidToken();
  }
  const given = Buffer.from(signature, 'base64url');
  // Node's base64url decoder skips stray characters; a text that does not round-trip is altered.
  if (given.length !== MAC_BYTES || given.toString('base64url') !== signature) {
    throw invalidToken();
  }
  if (!timingSafeEqual(given, mac(secret, binding, payload))) {
    throw invalidToken();
  }

  try {
    return cursorSchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  } catch (error) {
    // Only this module's own output carries a valid MAC; an unreadable one is a bug or a
    // leaked secret, and the client still hears only that the token is invalid.
    throw invalidToken(error);
  }
};
