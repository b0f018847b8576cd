/**
 * `POST /v1/auth/token`: the OAuth 2.0 client-credentials grant, for JSON and form bodies and
 * HTTP Basic credentials. Errors answer as RFC 6749 §5.2 describes, for OAuth client libraries.
 * Each request is counted per source address and per client id before the secret is checked,
 * and each failed check per source address too.
 */
import { recordAudit } from '@shared/audit/record-audit';
import { tokenAudience, tokenIssuer } from '@shared/config';
import { isGatewayError } from '@shared/errors/gateway-error';
import { oauthCodeOf } from '@shared/errors/oauth-error';
import { grantClientCredentials } from '@shared/identity/client-credentials-grant';
import { gatewayClientStore } from '@shared/identity/gateway-identity';
import { tokenKeySource } from '@shared/identity/token-keys';
import { parseTokenRequest } from '@shared/identity/token-request';
import { gatewayTokenEndpointGuard } from '@shared/rate-limit/gateway-rate-limits';
import { httpRoute } from '@shared/lambda/http-route';
import { FORM_MEDIA_TYPE, JSON_MEDIA_TYPE } from '@shared/lambda/middleware/body-parser';
import { json } from '@shared/lambda/responses';
import { recordMetric } from '@shared/metrics/metrics';
import { z } from '@shared/validation/schema';

/** Token requests are small; anything larger is not one. */
const MAX_TOKEN_REQUEST_BYTES = 8_192;

/** A claimed client id is the caller's words: kept short in the audit entry. */
const MAX_AUDITED_CLIENT_ID_CHARS = 64;

/** Failed client authentications and rate-limit refusals, counted like other routes' own. */
const countRefusal = (error: unknown): void => {
  if (!isGatewayError(error)) {
    return;
  }
  if (error.code === 'UNAUTHORIZED') {
    recordMetric('AuthenticationFailures', 1, { reason: 'invalid_client' });
  }
  if (error.code === 'RATE_LIMIT_EXCEEDED') {
    recordMetric('RateLimited', 1, { route: 'issueToken' });
  }
};

export const handler = httpRoute('issueToken', {
  body: z.record(z.string(), z.unknown()),
  mediaTypes: [FORM_MEDIA_TYPE, JSON_MEDIA_TYPE],
  maxBodyBytes: MAX_TOKEN_REQUEST_BYTES,
  errorFormat: 'oauth',
  handle: async ({ body, headers, event, requestId }) => {
    const sourceIp = event.requestContext.http.sourceIp;
    const audit = { service: 'blux-reg', operation: 'auth.token', requestId } as const;
    let claimedClientId: string | null = null;
    const grant = await (async () => {
      const request = parseTokenRequest(body, headers.authorization);
      claimedClientId = request.clientId.slice(0, MAX_AUDITED_CLIENT_ID_CHARS);
      const guard = gatewayTokenEndpointGuard();
      await guard.admit({ clientId: request.clientId, sourceIp });

      return grantClientCredentials(request, {
        clients: gatewayClientStore(),
        keys: tokenKeySource(),
        issuer: tokenIssuer(),
        audience: tokenAudience(),
        onAuthenticationFailure: () => guard.recordFailure(sourceIp),
      });
    })().catch(async (error: unknown) => {
      countRefusal(error);
      // Every refusal is audited, the claimed client id included (it is the caller's word).
      if (isGatewayError(error) && error.status < 500) {
        error.auditId = await recordAudit({
          ...audit,
          identity: 'anonymous',
          outcome: 'refused',
          details: { client_id: claimedClientId, reason: oauthCodeOf(error), source_ip: sourceIp },
        });
      }
      throw error;
    });
    // No token leaves without its entry: if the entry cannot be written, the request fails.
    await recordAudit({
      ...audit,
      identity: `service:${grant.clientId}`,
      outcome: 'success',
      resource: { type: 'client', id: grant.clientId },
      details: { scope: grant.scope, token_id: grant.tokenId },
    });
    recordMetric('TokensIssued');

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
