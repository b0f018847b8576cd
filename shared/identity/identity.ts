/**
 * Who is calling. Every request the gateway serves on behalf of someone carries one identity:
 * a service (`service:<client_id>`, from client credentials or a client certificate) or an end
 * user (`user:<subject>`, from a token of a trusted user issuer). The identity string is what
 * audit entries, task ownership and rate limits are keyed by.
 */

export type IdentityKind = 'service' | 'user';

/** How the caller proved who it is. */
export type AuthenticationMethod = 'bearer' | 'mtls';

export interface Identity {
  /** `service:<client_id>` or `user:<subject>`. */
  readonly id: string;
  readonly kind: IdentityKind;
  /** The client id for a service, the token subject for a user. */
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly method: AuthenticationMethod;
  /** The issuer that vouched for the identity: the gateway's own, or a trusted user issuer. */
  readonly issuer: string;
  /** Epoch seconds after which the credentials no longer hold; absent for certificates. */
  readonly expiresAt?: number;
  /** The token's `jti`, when there is a token. */
  readonly tokenId?: string;
}

export const serviceIdentity = (clientId: string): string => `service:${clientId}`;

export const userIdentity = (subject: string): string => `user:${subject}`;
