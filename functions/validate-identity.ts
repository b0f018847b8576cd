/**
 * `POST /v1/identities/validate`: tells an authenticated caller whether a token is valid and
 * whom it stands for. An invalid token is an answer (`"valid": false` and a reason), not an
 * error: like RFC 7662 introspection, the caller must itself authenticate, with the
 * `identities:validate` scope, so the route is no oracle for anonymous token guessing.
 */
import { recordAudit } from '@shared/audit/record-audit';
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

type Verdict = Record<string, unknown> & { readonly valid: boolean };

const judge = async (token: string, required: readonly string[]): Promise<Verdict> => {
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) {
    return { valid: false, reason: 'too_large' };
  }
  try {
    const identity = await gatewayTokenVerifier().verify(token);
    const missing = missingScopes(identity.scopes, required);
    const expiresAt =
      identity.expiresAt === undefined ? null : new Date(identity.expiresAt * 1000).toISOString();
    const answer = { identity: identity.id, scopes: identity.scopes, expires_at: expiresAt };

    return missing.length === 0
      ? { valid: true, ...answer }
      : { valid: false, reason: 'insufficient_scope', missing_scopes: missing, ...answer };
  } catch (error) {
    if (isGatewayError(error) && error.code === 'UNAUTHORIZED') {
      return { valid: false, reason: error.details.reason ?? 'invalid_token' };
    }
    throw error;
  }
};

export const handler = httpRoute('validateIdentity', {
  body,
  handle: async ({ body: request, identity, requestId }) => {
    const verdict = await judge(request.token, requiredScopes(request.required_scope));
    await recordAudit({
      service: 'blux-reg',
      operation: 'identity.validate',
      identity: identity?.id ?? 'anonymous',
      outcome: 'success',
      requestId,
      details: {
        valid: verdict.valid,
        reason: typeof verdict.reason === 'string' ? verdict.reason : null,
        subject: typeof verdict.identity === 'string' ? verdict.identity : null,
      },
    });

    return json(200, verdict);
  },
});
