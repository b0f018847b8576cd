/**
 * The gateway's error taxonomy. Every error a client can see is a `GatewayError` with a stable
 * `code` from the BLUX API's list; the error middleware turns it into the error envelope.
 */

/** The API's error codes and the HTTP status each one answers with. */
export const ERROR_CODES = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMIT_EXCEEDED: 429,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Details a client may read; never a secret, a token or an internal message. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface GatewayErrorOptions {
  readonly details?: ErrorDetails;
  readonly cause?: unknown;
  /** Response headers the error needs, such as `Retry-After` or `Allow`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The audit entry that recorded this refusal, when there is one. */
  readonly auditId?: string;
}

export class GatewayError extends Error {
  override readonly name: string = 'GatewayError';
  readonly code: ErrorCode;
  readonly status: number;
  /** Whether `message` may be shown to the client: only below 500, as in middy's http errors. */
  readonly expose: boolean;
  readonly details: ErrorDetails;
  readonly headers: Readonly<Record<string, string>>;
  auditId: string | undefined;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = ERROR_CODES[code];
    this.expose = this.status < 500;
    this.details = options.details ?? {};
    this.headers = options.headers ?? {};
    this.auditId = options.auditId;
  }
}

/** One field that failed validation, named by its path in the request (`body.payload.type`). */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

export class ValidationError extends GatewayError {
  override readonly name = 'ValidationError';

  constructor(message: string, issues: readonly FieldIssue[], cause?: unknown) {
    super('VALIDATION_FAILED', message, { details: { fields: issues }, cause });
  }
}

/**
 * No valid credentials. `reason` is a short stable word for logs and metrics (`expired`,
 * `bad_signature`, `missing`); the client sees it in `details` and in `WWW-Authenticate`.
 */
export class UnauthorizedError extends GatewayError {
  override readonly name = 'UnauthorizedError';
  readonly reason: string;

  constructor(reason: string, message = 'Valid credentials are required.', cause?: unknown) {
    super('UNAUTHORIZED', message, {
      details: { reason },
      headers: {
        'WWW-Authenticate': `Bearer realm="blux", error="invalid_token", error_description="${reason}"`,
      },
      cause,
    });
    this.reason = reason;
  }
}

/** Valid credentials without the scopes the route needs. */
export class ForbiddenError extends GatewayError {
  override readonly name = 'ForbiddenError';

  constructor(requiredScopes: readonly string[], missingScopes: readonly string[]) {
    const scope = requiredScopes.join(' ');
    super('FORBIDDEN', 'The token lacks a scope this route needs.', {
      details: { reason: 'insufficient_scope', required: requiredScopes, missing: missingScopes },
      headers: {
        'WWW-Authenticate': `Bearer realm="blux", error="insufficient_scope", scope="${scope}"`,
      },
    });
  }
}

export class NotFoundError extends GatewayError {
  override readonly name = 'NotFoundError';

  constructor(message = 'The requested resource does not exist.', details?: ErrorDetails) {
    super('NOT_FOUND', message, { details });
  }
}

export class MethodNotAllowedError extends GatewayError {
  override readonly name = 'MethodNotAllowedError';

  constructor(method: string, allowed: readonly string[]) {
    super('METHOD_NOT_ALLOWED', `${method} is not allowed on this path.`, {
      details: { method, allowed },
      headers: { Allow: allowed.join(', ') },
    });
  }
}

export class ConflictError extends GatewayError {
  override readonly name = 'ConflictError';

  constructor(message: string, details?: ErrorDetails, cause?: unknown) {
    super('CONFLICT', message, { details, cause });
  }
}

/**
 * An `Idempotency-Key` sent again with another body than the request it first came with: the
 * draft's 422. The client must pick a new key for a new request.
 */
export class IdempotencyKeyReusedError extends GatewayError {
  override readonly name = 'IdempotencyKeyReusedError';

  constructor() {
    super(
      'IDEMPOTENCY_KEY_REUSED',
      'This Idempotency-Key was used for a request with another body.',
      { details: { field: 'headers.idempotency-key' } },
    );
  }
}

export class PayloadTooLargeError extends GatewayError {
  override readonly name = 'PayloadTooLargeError';

  constructor(sizeBytes: number, limitBytes: number) {
    super('PAYLOAD_TOO_LARGE', `The request body is larger than ${limitBytes} bytes.`, {
      details: { field: 'body', size_bytes: sizeBytes, limit_bytes: limitBytes },
    });
  }
}

export class UnsupportedMediaTypeError extends GatewayError {
  override readonly name = 'UnsupportedMediaTypeError';

  constructor(received: string | undefined, supported: readonly string[]) {
    super('UNSUPPORTED_MEDIA_TYPE', `Send the body as ${supported.join(' or ')}.`, {
      details: { field: 'content-type', received: received ?? null, supported },
    });
  }
}

/** A dependency is throttled or unreachable; the client may retry after `retryAfterSeconds`. */
export class ServiceUnavailableError extends GatewayError {
  override readonly name = 'ServiceUnavailableError';

  constructor(message: string, retryAfterSeconds: number, cause?: unknown) {
    super('SERVICE_UNAVAILABLE', message, {
      details: { retry_after: retryAfterSeconds },
      headers: { 'Retry-After': String(retryAfterSeconds) },
      cause,
    });
  }
}

/**
 * A rate limit is spent: `limit` is the budget of the limit that refused, `resetInSeconds` when
 * it is whole again, also sent as `Retry-After`. `headers` carries the rate-limit headers.
 */
export class RateLimitExceededError extends GatewayError {
  override readonly name = 'RateLimitExceededError';

  constructor(
    limit: number,
    resetInSeconds: number,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super('RATE_LIMIT_EXCEEDED', `Rate limit exceeded; retry in ${resetInSeconds} s.`, {
      details: { limit, reset_in: resetInSeconds },
      headers: { ...headers, 'Retry-After': String(resetInSeconds) },
    });
  }
}

export const isGatewayError = (error: unknown): error is GatewayError =>
  error instanceof GatewayError;
