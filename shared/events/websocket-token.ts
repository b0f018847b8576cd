/**
 * Where a WebSocket client may put its bearer token when it connects. Browsers cannot set
 * headers on a WebSocket, so besides `Authorization: Bearer <token>` two more places count:
 *
 * - the query string, `wss://…/v1/events?access_token=<token>` (RFC 6750 §2.3); the token then
 *   shows in access logs that record query strings, so prefer the others where possible;
 * - the subprotocol list, `new WebSocket(url, ['bearer', token])`, sent as
 *   `Sec-WebSocket-Protocol: bearer, <token>`. The server accepts the `bearer` subprotocol,
 *   never echoes the token, and a JWT is a valid subprotocol token (letters, digits, `-._`).
 *
 * When several are present the header wins, then the subprotocol, then the query string.
 */
import { UnauthorizedError } from '@shared/errors/gateway-error';

/** The subprotocol that announces a token as the next one in the list. */
export const BEARER_SUBPROTOCOL = 'bearer';

export const ACCESS_TOKEN_PARAMETER = 'access_token';

export const SUBPROTOCOL_HEADER = 'sec-websocket-protocol';

const TOKEN_68 = /^[A-Za-z0-9\-._~+/]+=*$/;

export type HeaderMap = Readonly<Record<string, string | undefined>> | null | undefined;

/** A header by name, whatever its case: WebSocket events keep header names as sent. */
export const headerValue = (headers: HeaderMap, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  const entry = Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === wanted);

  return entry?.[1];
};

/** The subprotocols a client offered, in its order. */
export const offeredSubprotocols = (headers: HeaderMap): string[] =>
  (headerValue(headers, SUBPROTOCOL_HEADER) ?? '')
    .split(',')
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol !== '');

const fromSubprotocols = (headers: HeaderMap): string | undefined => {
  const offered = offeredSubprotocols(headers);
  const index = offered.findIndex((protocol) => protocol.toLowerCase() === BEARER_SUBPROTOCOL);

  return index < 0 ? undefined : (offered[index + 1] ?? '');
};

export interface ConnectRequest {
  readonly headers?: HeaderMap;
  readonly queryStringParameters?: HeaderMap;
}

/**
 * The `Authorization` value that stands for the token the client presented, so that the one
 * authenticator checks it as it checks any request. Throws `UnauthorizedError` (`missing` or
 * `malformed_token`) when there is no token or it cannot be a token.
 */
export const connectAuthorization = (request: ConnectRequest): string => {
  const header = headerValue(request.headers, 'authorization');
  if (header !== undefined) {
    return header;
  }
  const token =
    fromSubprotocols(request.headers) ?? request.queryStringParameters?.[ACCESS_TOKEN_PARAMETER];
  if (token === undefined) {
    throw new UnauthorizedError(
      'missing',
      'Send a bearer token in Authorization, ?access_token= or Sec-WebSocket-Protocol.',
    );
  }
  if (!TOKEN_68.test(token)) {
    throw new UnauthorizedError('malformed_token', 'The bearer token is malformed.');
  }

  return `Bearer ${token}`;
};

/** The subprotocol to accept: `bearer` when the client offered it, otherwise none. */
export const acceptedSubprotocol = (headers: HeaderMap): string | undefined =>
  offeredSubprotocols(headers).some((protocol) => protocol.toLowerCase() === BEARER_SUBPROTOCOL)
    ? BEARER_SUBPROTOCOL
    : undefined;
