/**
 * `POST /v1/auth/token`: the OAuth 2.0 client-credentials grant, for JSON and form bodies and
 * HTTP Basic credentials. Errors answer as RFC 6749 §5.2 describes, for OAuth client libraries.
 * Each request is counted per source address and per client id before the secret is checked,
 * and each failed check per source address too.
 */
import { tokenAudience, tokenIssuer } from '@shared/config';
import { grantClientCredentials } from '@shared/identity/client-credentials-grant';
import { gatewayClientStore } from '@shared/identity/gateway-identity';
import { tokenKeySource } from '@shared/identity/token-keys';
import { parseTokenRequest } from '@shared/identity/token-request';
import { gatewayTokenEndpointGuard } from '@shared/rate-limit/gateway-rate-limits';
import { httpRoute } from '@shared/lambda/http-route';
import { FORM_MEDIA_TYPE, JSON_MEDIA_TYPE } from '@shared/lambda/middleware/body-parser';
import { json } from '@shared/lambda/responses';
import { z } from '@shared/validation/schema';

/** Token requests are small; anything larger is not one. */
const MAX_TOKEN_REQUEST_BYTES = 8_192;

export const handler = httpRoute('issueToken', {
  body: z.record(z.string(), z.unknown()),
  mediaTypes: [FORM_MEDIA_TYPE, JSON_MEDIA_TYPE],
  maxBodyBytes: MAX_TOKEN_REQUEST_BYTES,
  errorFormat: 'oauth',
  handle: async ({ body, headers, event }) => {
    const request = parseTokenRequest(body, headers.authorization);
    const sourceIp = event.requestContext.http.sourceIp;
    const guard = gatewayTokenEndpointGuard();
    await guard.admit({ clientId: request.clientId, sourceIp });
    const grant = await grantClientCredentials(request, {
      clients: gatewayClientStore(),
      keys: tokenKeySource(),
      issuer: tokenIssuer(),
      audience: tokenAudience(),
      onAuthenticationFailure: () => guard.recordFailure(sourceIp),
    });

    return json(
      200,
      {
        access_token: grant.accessToken,
        token_type: 'Bearer',
        expires_in: grant.expiresIn,
        scope: grant.scope,
      },
      { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
    );
  },
});
