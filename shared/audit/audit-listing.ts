/**
 * `GET /v1/audit`: the query string it accepts, and the page it answers. The store does the
 * reading; this module turns the client's words into a store query and back, binding each page
 * token to the query and the caller that asked.
 */
import { SERVICE_NAMES } from '@shared/catalog/services';
import { z } from '@shared/validation/schema';
import { AUDIT_CHAIN_COUNT, type AuditCheckpoint } from './audit-entry';
import { MAX_AUDIT_IDENTITY_CHARS, MAX_AUDIT_OPERATION_CHARS } from './audit-ids';
import {
  decodeAuditPageToken,
  encodeAuditPageToken,
  MAX_AUDIT_PAGE_TOKEN_CHARS,
  type AuditPageTokenBinding,
} from './audit-page-token';
import {
  isSealedAuditEntry,
  MAX_AUDIT_PAGE_LIMIT,
  type AuditCheckpointStore,
  type AuditOrder,
  type AuditStore,
  type StoredAuditEntry,
} from './audit-store';

/** Entries per page when the client does not say. */
export const DEFAULT_AUDIT_PAGE_LIMIT = 50;

export const DEFAULT_AUDIT_ORDER: AuditOrder = 'desc';

// Four-digit years only: the store compares timestamps as text, which holds for 0000 to 9999.
const DATE_TIME = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);

const instant = DATE_TIME.transform((text) => new Date(text)).refine(
  (date) => !Number.isNaN(date.getTime()) && date.getUTCFullYear() <= 9999,
  'must be a date between the years 0000 and 9999',
);

const parameters = z.strictObject({
  service: z.enum(SERVICE_NAMES).optional(),
  operation: z.string().min(1).max(MAX_AUDIT_OPERATION_CHARS).optional(),
  identity: z.string().min(1).max(MAX_AUDIT_IDENTITY_CHARS).optional(),
  since: instant.optional(),
  until: instant.optional(),
  limit: z
    .string()
    .regex(/^\d{1,6}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_AUDIT_PAGE_LIMIT))
    .optional(),
  order: z.enum(['asc', 'desc']).optional(),
  page_token: z.string().min(1).max(MAX_AUDIT_PAGE_TOKEN_CHARS).optional(),
});

const KNOWN_PARAMETERS = new Set(Object.keys(parameters.shape));

/**
 * The query string of `GET /v1/audit`; any other parameter is refused. Unknown names are
 * reported one by one under their own name (`query.sinse`) before the strict object sees them,
 * where zod would report them all together under `query`.
 */
export const auditListQuerySchema = z
  .record(z.string(), z.string())
  .superRefine((query, context) => {
    for (const name of Object.keys(query).filter((key) => !KNOWN_PARAMETERS.has(key))) {
      context.addIssue({ code: 'custom', path: [name], message: 'is not a filter of this route' });
    }
  })
  .pipe(parameters)
  .refine((query) => !(query.since && query.until && query.since > query.until), {
    path: ['since'],
    message: 'must not be later than until',
  });

export type AuditListQuery = z.infer<typeof auditListQuerySchema>;

/** An entry as the API shows it: as stored, and whether it is sealed yet. */
export type ListedAuditEntry = StoredAuditEntry & { readonly sealed: boolean };

export interface AuditListPage {
  readonly entries: ListedAuditEntry[];
  readonly next_page_token: string | null;
  /** The newest checkpoint of each chain a sealed entry of the page belongs to. */
  readonly checkpoints: AuditCheckpoint[];
}

export interface ListAuditEntriesDependencies {
  readonly entries: AuditStore;
  readonly checkpoints: AuditCheckpointStore;
  readonly pageTokenSecret: string;
}

/** The parts of the query a page token is bound to: every filter, the order, not the size. */
const tokenBinding = (query: AuditListQuery, identity: string): AuditPageTokenBinding => ({
  identity,
  query: {
    service: query.service ?? null,
    operation: query.operation ?? null,
    identity: query.identity ?? null,
    since: query.since?.toISOString() ?? null,
    until: query.until?.toISOString() ?? null,
    order: query.order ?? DEFAULT_AUDIT_ORDER,
  },
});

const listed = (entry: StoredAuditEntry): ListedAuditEntry => ({
  ...entry,
  sealed: isSealedAuditEntry(entry),
});

const ALL_CHAINS = Array.from({ length: AUDIT_CHAIN_COUNT }, (_, chain) => chain);

/** One page of the audit trail for `caller`. */
export const listAuditEntries = async (
  query: AuditListQuery,
  caller: string,
  dependencies: ListAuditEntriesDependencies,
): Promise<AuditListPage> => {
  const binding = tokenBinding(query, caller);
  const cursor =
    query.page_token === undefined
      ? undefined
      : decodeAuditPageToken(query.page_token, binding, dependencies.pageTokenSecret);

  // Checkpoints are read before the entries: an entry sealed in between is then newer than
  // its checkpoint, never missing from it, so a verifier sees no false cut-off tail.
  const allCheckpoints = await dependencies.checkpoints.latestCheckpoints(ALL_CHAINS);
  const page = await dependencies.entries.query({
    service: query.service,
    operation: query.operation,
    identity: query.identity,
    since: query.since,
    until: query.until,
    limit: query.limit ?? DEFAULT_AUDIT_PAGE_LIMIT,
    order: query.order ?? DEFAULT_AUDIT_ORDER,
    cursor,
  });
  const chains = new Set(page.entries.filter(isSealedAuditEntry).map((entry) => entry.chain));
  const checkpoints = allCheckpoints.filter((checkpoint) => chains.has(checkpoint.chain));

  return {
    entries: page.entries.map(listed),
    next_page_token:
      page.cursor === undefined
        ? null
        : encodeAuditPageToken(page.cursor, binding, dependencies.pageTokenSecret),
    checkpoints,
  };
};
