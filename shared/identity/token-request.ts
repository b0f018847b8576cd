/**
 * Reads a client-credentials token request in every form OAuth 2.0 clients send it (RFC 6749
 * §4.4): JSON or form fields, with the client's credentials in the body or in HTTP Basic
 * (§2.3.1). What is wrong with the request becomes the OAuth error a client library expects.
 */
import { OAuthError } from '@shared/errors/oauth-error';
import { isKnownScope, parseScopes } from './scopes';

export interface TokenRequest {
  readonly clientId: string;
  readonly clientSecret: string;
  /** The scopes asked for; `undefined` means every scope the client is allowed. */
  readonly scopes: readonly string[] | undefined;
  /** How the client sent its credentials, for the `WWW-Authenticate` of a refusal. */
  readonly authentication: 'basic' | 'body';
}

export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before they are base64-encoded. */
const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));

const basicCredentials = (authorization: string | undefined) => {
  const match = /^Basic +([A-Za-z0-9+/]+=*)$/i.exec(authorization?.trim() ?? '');
  if (authorization === undefined) {
    return undefined;
  }
  const decoded = match?.[1] === undefined ? '' : Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) {
    throw new OAuthError('invalid_client', 'The Basic credentials are malformed.', {
      'WWW-Authenticate': 'Basic realm="blux"',
    });
  }
  try {
    return {
      id: formDecode(decoded.slice(0, colon)),
      secret: formDecode(decoded.slice(colon + 1)),
    };
  } catch {
    throw new OAuthError('invalid_client', 'The Basic credentials are malformed.', {
      'WWW-Authenticate': 'Basic realm="blux"',
    });
  }
};

/** One parameter as a single string; repeated or non-string parameters are refused (§3.2). */
const parameter = (fields: Readonly<Record<string, unknown>>, name: string): string | undefined => {
  const value = fields[name];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new OAuthError(
      'invalid_request',
      `The parameter ${name} must be given once, as a string.`,
    );
  }

  return value;
};

const requestedScopes = (scope: string | undefined): string[] | undefined => {
  if (scope === undefined) {
    return undefined;
  }
  const words = parseScopes(scope);
  const unknown = words.filter((word) => !isKnownScope(word));
  if (unknown.length > 0 || words.length === 0) {
    throw new OAuthError('invalid_scope', `Unknown scope: ${unknown.join(' ') || '(empty)'}.`);
  }

  return words;
};

export const parseTokenRequest = (
  fields: Readonly<Record<string, unknown>>,
  authorization: string | undefined,
): TokenRequest => {
  const grantType = parameter(fields, 'grant_type');
  if (grantType === undefined) {
    throw new OAuthError('invalid_request', 'The parameter grant_type is required.');
  }
  if (grantType !== CLIENT_CREDENTIALS_GRANT) {
    throw new OAuthError('unsupported_grant_type', 'Only client_credentials is supported.');
  }
  const basic = basicCredentials(authorization);
  const bodyId = parameter(fields, 'client_id');
  const bodySecret = parameter(fields, 'client_secret');
  if (basic !== undefined && bodySecret !== undefined) {
    throw new OAuthError('invalid_request', 'Send the client credentials one way, not two.');
  }
  if (basic !== undefined && bodyId !== undefined && bodyId !== basic.id) {
    throw new OAuthError('invalid_request', 'client_id differs from the Basic credentials.');
  }
  const clientId = basic?.id ?? bodyId;
  const clientSecret = basic?.secret ?? bodySecret;
  if (clientId === undefined || clientSecret === undefined) {
    throw new OAuthError('invalid_client', 'Client authentication is required.', {
      'WWW-Authenticate': 'Basic realm="blux"',
    });
  }

  return {
    clientId,
    clientSecret,
    scopes: requestedScopes(parameter(fields, 'scope')),
    authentication: basic === undefined ? 'body' : 'basic',
  };
};
