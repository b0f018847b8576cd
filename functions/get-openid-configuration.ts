/**
 * `GET /.well-known/openid-configuration`: where the token endpoint and the keys are, in the
 * fields of OAuth 2.0 authorization server metadata (RFC 8414) that OIDC libraries read.
 */
import { tokenIssuer } from '@shared/config';
import { SCOPE_NAMES } from '@shared/identity/scopes';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';

export const handler = httpRoute('getOpenIdConfiguration', {
  handle: async () => {
    const issuer = tokenIssuer();

    return json(
      200,
      {
        issuer,
        token_endpoint: `${issuer}/v1/auth/token`,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        introspection_endpoint: `${issuer}/v1/identities/validate`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        scopes_supported: SCOPE_NAMES,
        response_types_supported: ['token'],
      },
      { 'Cache-Control': 'public, max-age=300' },
    );
  },
});
