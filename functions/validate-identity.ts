/**
 * `POST /v1/identities/validate`: tells an authenticated caller whether a token is valid and
 * whom it stands for. An invalid token is an answer (`"valid": false` and a reason), not an
 * error: like RFC 7662 introspection, the caller must itself authenticate, with the
 * `identities:validate` scope, so the route is no oracle for anonymous token guessing.
 */
import { isGatewayError } from '@shared/errors/gateway-error';
import { gatewayTokenVerifier } from '@shared/identity/gateway-identity';
import { missingScopes } from '@shared/identity/scopes';
import { MAX_TOKEN_BYTES } from '@shared/identity/tokens/token-verifier';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';
import { z } from '@shared/validation/schema';

const MAX_REQUIRED_SCOPES = 20;

const body = z.strictObject({
  token: z.string().min(1),
  required_scope: z
    .union([z.array(z.string().min(1).max(64)).max(MAX_REQUIRED_SCOPES), z.string().max(1_024)])
    .optional(),
});

const requiredScopes = (value: string | string[] | undefined): string[] =>
  typeof value === 'string' ? value.split(' ').filter((word) => word !== '') : (value ?? []);

export const handler = httpRoute('validateIdentity', {
  body,
  handle: async ({ body: request }) => {
    if (Buffer.byteLength(request.token) > MAX_TOKEN_BYTES) {
      return json(200, { valid: false, reason: 'too_large' });
    }
    try {
      const identity = await gatewayTokenVerifier().verify(request.token);
      const missing = missingScopes(identity.scopes, requiredScopes(request.required_scope));
      const expiresAt =
        identity.expiresAt === undefined ? null : new Date(identity.expiresAt * 1000).toISOString();
      const answer = { identity: identity.id, scopes: identity.scopes, expires_at: expiresAt };

      return json(
        200,
        missing.length === 0
          ? { valid: true, ...answer }
          : { valid: false, reason: 'insufficient_scope', missing_scopes: missing, ...answer },
      );
    } catch (error) {
      if (isGatewayError(error) && error.code === 'UNAUTHORIZED') {
        return json(200, { valid: false, reason: error.details.reason ?? 'invalid_token' });
      }
      throw error;
    }
  },
});
