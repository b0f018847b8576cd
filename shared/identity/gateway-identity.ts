/**
 * The identity services of a running function, built once per process from the configuration:
 * the token verifier (own issuer plus trusted user issuers), the client store and the
 * authenticator the pipeline uses.
 */
import { tokenAudience, tokenIssuer } from '@shared/config';
import { createAuthenticator, type Authenticator } from './authenticator';
import type { ClientStore } from './client-registry';
import { defaultClientStore } from './dynamodb-client-store';
import { tokenKeySource } from './token-keys';
import { createTokenVerifier, type TokenVerifier } from './tokens/token-verifier';
import { parseTrustedIssuers, TRUSTED_ISSUERS_VARIABLE } from './tokens/trusted-issuers';

let verifier: TokenVerifier | undefined;
let clients: ClientStore | undefined;
let authenticator: Authenticator | undefined;

export const gatewayClientStore = (): ClientStore => {
  clients ??= defaultClientStore();

  return clients;
};

export const gatewayTokenVerifier = (): TokenVerifier => {
  verifier ??= createTokenVerifier({
    issuer: tokenIssuer(),
    audience: tokenAudience(),
    keys: async () =>
      Promise.all((await tokenKeySource().publishedKeys()).map((key) => key.publicJwk())),
    trustedIssuers: parseTrustedIssuers(process.env[TRUSTED_ISSUERS_VARIABLE]),
  });

  return verifier;
};

export const gatewayAuthenticator = (): Authenticator => {
  authenticator ??= createAuthenticator(gatewayTokenVerifier(), gatewayClientStore());

  return authenticator;
};
