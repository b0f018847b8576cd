/**
 * `GET /v1/audit`: the audit trail, filtered, newest first unless asked otherwise, a page at a
 * time. Entries not sealed yet are listed too, and say so.
 */
import { auditListQuerySchema, listAuditEntries } from '@shared/audit/audit-listing';
import { gatewayAuditListing } from '@shared/audit/gateway-audit';
import { UnauthorizedError } from '@shared/errors/gateway-error';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';

export const handler = httpRoute('listAuditEntries', {
  query: auditListQuerySchema,
  handle: async ({ query, identity }) => {
    // The pipeline authenticates this route; no identity here is a wiring fault, not a client's.
    if (identity === undefined) {
      throw new UnauthorizedError('missing');
    }
    const page = await listAuditEntries(query, identity.id, await gatewayAuditListing());

    return json(200, page, { 'Cache-Control': 'no-store' });
  },
});
