/**
 * Why a token is refused, in words that stay stable for logs, metrics and clients, and how any
 * failure met while verifying becomes a `GatewayError`, so that a bad token is never a 500.
 */
import {
  FetchError,
  JwkInvalidKtyError,
  JwkInvalidUseError,
  JwkValidationError,
  JwksValidationError,
  JwtExpiredError,
  JwtInvalidAudienceError,
  JwtInvalidIssuerError,
  JwtInvalidSignatureAlgorithmError,
  JwtInvalidSignatureError,
  JwtNotBeforeError,
  JwtParseError,
  JwtWithoutValidKidError,
  KidNotFoundInJwksError,
  WaitPeriodNotYetEndedJwkError,
} from 'aws-jwt-verify/error';
import {
  GatewayError,
  ServiceUnavailableError,
  UnauthorizedError,
} from '@shared/errors/gateway-error';

/** When an issuer's keys cannot be had, how soon a client may try again. */
export const KEYS_RETRY_AFTER_SECONDS = 1;

/** Why a token was refused: the stable `reason` of the 401, with what each one means. */
export const TOKEN_FAILURE_REASONS = {
  malformed: 'not a compact JWS with a JSON header and JSON claims',
  too_large: 'longer than MAX_TOKEN_BYTES (8 KiB)',
  unsupported_alg: 'an algorithm the issuer is not configured with (including none and HMAC)',
  forbidden_header: 'a jku, x5u, jwk, x5c or crit header',
  invalid_kid: 'a kid that is missing, not a string, too long or of odd characters',
  unknown_kid: 'a kid the issuer does not publish',
  unusable_key: 'the published key cannot verify signatures',
  bad_signature: 'the signature does not verify',
  expired: 'exp has passed',
  not_yet_valid: 'nbf or iat lies in the future',
  wrong_issuer: 'an issuer the gateway does not trust',
  wrong_audience: 'an audience other than the gateway',
  wrong_typ: 'a typ header other than the one the issuer uses',
  invalid_claims: 'a required claim is missing or a claim has the wrong type',
  invalid_token: 'the token could not be verified',
} as const;

export type TokenFailureReason = keyof typeof TOKEN_FAILURE_REASONS;

/** The 401 for `reason`; `cause` is for the operator's log line, never shown to the client. */
export const rejectToken = (reason: TokenFailureReason, cause?: unknown): UnauthorizedError =>
  new UnauthorizedError(reason, undefined, cause);

/** aws-jwt-verify's errors and the reason each one becomes, most specific first. */
const LIBRARY_FAILURES: readonly [abstract new (...args: never[]) => Error, TokenFailureReason][] =
  [
    [JwtExpiredError, 'expired'],
    [JwtNotBeforeError, 'not_yet_valid'],
    [JwtInvalidIssuerError, 'wrong_issuer'],
    [JwtInvalidAudienceError, 'wrong_audience'],
    [JwtInvalidSignatureAlgorithmError, 'unsupported_alg'],
    [JwtInvalidSignatureError, 'bad_signature'],
    [JwtWithoutValidKidError, 'invalid_kid'],
    [KidNotFoundInJwksError, 'unknown_kid'],
    [WaitPeriodNotYetEndedJwkError, 'unknown_kid'],
    [JwkInvalidUseError, 'unusable_key'],
    [JwkInvalidKtyError, 'unusable_key'],
    [JwkValidationError, 'unusable_key'],
    [JwtParseError, 'malformed'],
  ];

/**
 * Every failure leaves as a `GatewayError`: a 401 with its reason, or a 503 when an issuer's
 * keys cannot be had. An unexpected error (node throws on some malformed signatures) is a 401
 * too, with the error kept as the cause for the operator's log line.
 */
export const toVerificationError = (error: unknown): GatewayError => {
  if (error instanceof GatewayError) {
    return error;
  }
  if (error instanceof FetchError || error instanceof JwksValidationError) {
    return new ServiceUnavailableError(
      "The token issuer's keys are unavailable.",
      KEYS_RETRY_AFTER_SECONDS,
      error,
    );
  }
  const known = LIBRARY_FAILURES.find(([type]) => error instanceof type);

  return rejectToken(known?.[1] ?? 'invalid_token', error);
};
