/**
 * Reads and validates the request body and query string before the handler runs. The size
 * limit is checked on the decoded bytes, before any parsing, so an oversized body costs
 * nothing more than its length.
 */
import {
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '@shared/errors/gateway-error';
import { parseOrThrow, type z } from '@shared/validation/schema';
import type { HttpEvent, HttpMiddleware } from '../types';

/** Bodies above this are refused with 413; API Gateway itself allows 10 MB. */
export const MAX_BODY_BYTES = 1_048_576;

export const JSON_MEDIA_TYPE = 'application/json';
export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';

export interface BodyOptions {
  readonly body?: z.ZodType;
  readonly query?: z.ZodType;
  /** Media types the route accepts; JSON only unless a route says otherwise. */
  readonly mediaTypes?: readonly string[];
  readonly maxBodyBytes?: number;
}

/** `application/json; charset=utf-8` → `application/json`; `+json` suffixes count as JSON. */
export const mediaTypeOf = (contentType: string | undefined): string | undefined => {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase();
  if (bare === undefined || bare === '') {
    return undefined;
  }

  return /^application\/[a-z0-9.+-]+\+json$/.test(bare) ? JSON_MEDIA_TYPE : bare;
};

/** Form fields; a name sent twice keeps every value, so a route can refuse repeats. */
export const formFields = (text: string): Record<string, string | string[]> => {
  const fields: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    const seen = fields[name];
    fields[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }

  return fields;
};

const rawBody = (event: HttpEvent): Buffer =>
  Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');

const decode = (bytes: Buffer, mediaType: string): unknown => {
  const text = bytes.toString('utf8');
  if (mediaType === FORM_MEDIA_TYPE) {
    return formFields(text);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ValidationError(
      'The request body is not valid JSON.',
      [{ field: 'body', message: error instanceof Error ? error.message : 'malformed JSON' }],
      error,
    );
  }
};

const parseBody = (event: HttpEvent, schema: z.ZodType, options: BodyOptions): unknown => {
  const bytes = rawBody(event);
  const limit = options.maxBodyBytes ?? MAX_BODY_BYTES;
  if (bytes.length > limit) {
    throw new PayloadTooLargeError(bytes.length, limit);
  }
  if (bytes.length === 0) {
    return parseOrThrow(schema, undefined, 'body');
  }
  const supported = options.mediaTypes ?? [JSON_MEDIA_TYPE];
  const mediaType = mediaTypeOf(event.headers['content-type']);
  if (mediaType === undefined || !supported.includes(mediaType)) {
    throw new UnsupportedMediaTypeError(event.headers['content-type'], supported);
  }

  return parseOrThrow(schema, decode(bytes, mediaType), 'body');
};

export const bodyParser = (options: BodyOptions): HttpMiddleware => ({
  before: (request) => {
    const event = request.event;
    if (options.query !== undefined) {
      event.blux.query = parseOrThrow(options.query, event.queryStringParameters ?? {}, 'query');
    }
    if (options.body !== undefined) {
      event.blux.body = parseBody(event, options.body, options);
    }
  },
});
