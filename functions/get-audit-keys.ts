/**
 * `GET /v1/audit/keys`: the public keys of the audit trail as a JWKS, retired ones included,
 * so that entries sealed before a rotation still verify.
 */
import { gatewayAuditCheckpointStore } from '@shared/audit/dynamodb-audit-checkpoint-store';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';

/** Verifiers may cache the set this long; a key is published before it seals anything. */
const AUDIT_KEYS_MAX_AGE_SECONDS = 300;

export const handler = httpRoute('getAuditKeys', {
  handle: async () => {
    const keys = await gatewayAuditCheckpointStore().publishedKeys();

    return json(
      200,
      { keys: keys.map((key) => key.jwk) },
      { 'Cache-Control': `public, max-age=${AUDIT_KEYS_MAX_AGE_SECONDS}` },
    );
  },
});
