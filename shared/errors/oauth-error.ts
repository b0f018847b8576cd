/**
 * Errors of the token endpoint, in the words OAuth 2.0 clients parse (RFC 6749 §5.2). They are
 * gateway errors like any other, so the one error middleware handles them; it renders them as
 * `{"error": "<oauth code>", "error_description"}` on routes that speak OAuth.
 */
import { GatewayError, type ErrorCode } from './gateway-error';

export const OAUTH_ERROR_CODES = {
  invalid_request: 'VALIDATION_FAILED',
  invalid_client: 'UNAUTHORIZED',
  invalid_grant: 'VALIDATION_FAILED',
  unauthorized_client: 'VALIDATION_FAILED',
  unsupported_grant_type: 'VALIDATION_FAILED',
  invalid_scope: 'VALIDATION_FAILED',
  temporarily_unavailable: 'SERVICE_UNAVAILABLE',
  server_error: 'INTERNAL',
} as const satisfies Record<string, ErrorCode>;

export type OAuthErrorCode = keyof typeof OAUTH_ERROR_CODES;

export class OAuthError extends GatewayError {
  override readonly name = 'OAuthError';
  readonly oauthCode: OAuthErrorCode;

  constructor(
    oauthCode: OAuthErrorCode,
    description: string,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(OAUTH_ERROR_CODES[oauthCode], description, {
      details: { oauth_error: oauthCode },
      headers,
    });
    this.oauthCode = oauthCode;
  }
}

/** Raised when a client is refused for a while after repeated failures. */
export class ClientLockedError extends GatewayError {
  override readonly name = 'ClientLockedError';

  constructor(retryAfterSeconds: number) {
    super('RATE_LIMIT_EXCEEDED', 'Too many failed attempts for this client; retry later.', {
      details: { reset_in: retryAfterSeconds },
      headers: { 'Retry-After': String(retryAfterSeconds) },
    });
  }
}

/** The OAuth code for any gateway error that reaches a route speaking OAuth. */
export const oauthCodeOf = (error: GatewayError): OAuthErrorCode => {
  if (error instanceof OAuthError) {
    return error.oauthCode;
  }
  switch (error.code) {
    case 'UNAUTHORIZED':
      return 'invalid_client';
    case 'RATE_LIMIT_EXCEEDED':
    case 'SERVICE_UNAVAILABLE':
      return 'temporarily_unavailable';
    case 'INTERNAL':
      return 'server_error';
    default:
      return 'invalid_request';
  }
};
