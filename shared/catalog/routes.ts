/**
 * Every HTTP route of the gateway, declared once. The CDK stack makes one function and one
 * API Gateway route of each, the local runtime serves the same list, and a test holds the
 * OpenAPI document to it.
 */
import type { ServiceName } from './services';
import type { TableId } from './tables';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * What a function may do to a table; the stack grants exactly this and no more. `append` is
 * put-only: new items, never an update or a delete (the audit writers' access); `readAppend`
 * is that and reads.
 */
export const TABLE_ACCESS_LEVELS = ['read', 'write', 'readWrite', 'append', 'readAppend'] as const;

export type TableAccess = (typeof TABLE_ACCESS_LEVELS)[number];

export interface RouteDeclaration {
  /** Stable identifier, also the function's logical name in the stack. */
  readonly id: string;
  /** `null` for the `$default` route, which answers what no other route matches. */
  readonly method: HttpMethod | null;
  /** API Gateway path template, such as `/v1/tasks/{task_id}`; `$default` for the catch-all. */
  readonly path: string;
  /** Handler module relative to the repository root; it exports `handler`. */
  readonly handler: string;
  readonly service: ServiceName;
  /**
   * Who may call: `public` routes need no credentials; `identified` routes need a bearer token
   * or a registered client certificate holding every scope in `scopes`; `client` routes (the
   * token endpoint) authenticate the client themselves.
   */
  readonly access: 'public' | 'identified' | 'client';
  /** Scopes an identified caller needs, all of them. */
  readonly scopes: readonly string[];
  readonly tables: Readonly<Partial<Record<TableId, TableAccess>>>;
  /**
   * What the function does with the token keys: `verify` reads the public keys (every route
   * that authenticates a caller, and the JWKS), `sign` also signs (the token endpoint only).
   */
  readonly tokenKeys?: 'verify' | 'sign';
  /**
   * `exempt` keeps an identified route out of the rate limits (and off the counters table):
   * the metrics scrape, which a Prometheus server calls on its own schedule and which must not
   * be starved by, nor eat into, the caller's budget for real work.
   */
  readonly rateLimit?: 'exempt';
}

export const DEFAULT_ROUTE_KEY = '$default';

export const ROUTES = [
  {
    id: 'getHealth',
    method: 'GET',
    path: '/health',
    handler: 'functions/get-health.ts',
    service: 'blux-guard',
    access: 'public',
    scopes: [],
    tables: {
      tasks: 'read',
      audit: 'read',
      auditCheckpoints: 'read',
      rateCounters: 'read',
      clients: 'read',
      events: 'read',
      connections: 'read',
    },
    // Health checks that the token keys can be loaded.
    tokenKeys: 'verify',
  },
  {
    id: 'issueToken',
    method: 'POST',
    path: '/v1/auth/token',
    handler: 'functions/issue-token.ts',
    service: 'blux-reg',
    access: 'client',
    scopes: [],
    tables: { clients: 'readWrite', rateCounters: 'readWrite', audit: 'append' },
    tokenKeys: 'sign',
  },
  {
    id: 'validateIdentity',
    method: 'POST',
    path: '/v1/identities/validate',
    handler: 'functions/validate-identity.ts',
    service: 'blux-reg',
    access: 'identified',
    scopes: ['identities:validate'],
    tables: { clients: 'read', rateCounters: 'readWrite', audit: 'append' },
    tokenKeys: 'verify',
  },
  {
    id: 'getJwks',
    method: 'GET',
    path: '/.well-known/jwks.json',
    handler: 'functions/get-jwks.ts',
    service: 'blux-reg',
    access: 'public',
    scopes: [],
    tables: {},
    tokenKeys: 'verify',
  },
  {
    id: 'getOpenIdConfiguration',
    method: 'GET',
    path: '/.well-known/openid-configuration',
    handler: 'functions/get-openid-configuration.ts',
    service: 'blux-reg',
    access: 'public',
    scopes: [],
    tables: {},
  },
  {
    id: 'listAuditEntries',
    method: 'GET',
    path: '/v1/audit',
    handler: 'functions/list-audit-entries.ts',
    service: 'blux-guard',
    access: 'identified',
    scopes: ['audit:read'],
    tables: {
      audit: 'readAppend',
      auditCheckpoints: 'read',
      clients: 'read',
      rateCounters: 'readWrite',
    },
    tokenKeys: 'verify',
  },
  {
    id: 'getAuditKeys',
    method: 'GET',
    path: '/v1/audit/keys',
    handler: 'functions/get-audit-keys.ts',
    service: 'blux-guard',
    access: 'public',
    scopes: [],
    tables: { auditCheckpoints: 'read' },
  },
  // The Tasks API. Every task route writes audit entries: its own changes' (in the change's
  // transaction) and the pipeline's refusals; reads need no more than read access to tasks.
  {
    id: 'createTask',
    method: 'POST',
    path: '/v1/tasks',
    handler: 'functions/create-task.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:write'],
    tables: { tasks: 'readWrite', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'listTasks',
    method: 'GET',
    path: '/v1/tasks',
    handler: 'functions/list-tasks.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:read'],
    tables: { tasks: 'read', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'getTask',
    method: 'GET',
    path: '/v1/tasks/{task_id}',
    handler: 'functions/get-task.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:read'],
    tables: { tasks: 'read', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'cancelTask',
    method: 'POST',
    path: '/v1/tasks/{task_id}/cancel',
    handler: 'functions/cancel-task.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:write'],
    tables: { tasks: 'readWrite', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'claimTask',
    method: 'POST',
    path: '/v1/tasks/claims',
    handler: 'functions/claim-task.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:execute'],
    tables: { tasks: 'readWrite', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'extendTaskLease',
    method: 'POST',
    path: '/v1/tasks/{task_id}/lease',
    handler: 'functions/extend-task-lease.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:execute'],
    tables: { tasks: 'readWrite', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'completeTask',
    method: 'POST',
    path: '/v1/tasks/{task_id}/complete',
    handler: 'functions/complete-task.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:execute'],
    tables: { tasks: 'readWrite', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'failTask',
    method: 'POST',
    path: '/v1/tasks/{task_id}/fail',
    handler: 'functions/fail-task.ts',
    service: 'blux-lite',
    access: 'identified',
    scopes: ['tasks:execute'],
    tables: { tasks: 'readWrite', audit: 'append', clients: 'read', rateCounters: 'readWrite' },
    tokenKeys: 'verify',
  },
  {
    id: 'getMetrics',
    method: 'GET',
    path: '/metrics',
    handler: 'functions/get-metrics.ts',
    service: 'blux-guard',
    access: 'identified',
    scopes: ['metrics:read'],
    // Refusals are audited; certificate callers are looked up in the registry. Not counted
    // against any rate limit, so it needs no counters.
    tables: { clients: 'read', audit: 'append' },
    tokenKeys: 'verify',
    rateLimit: 'exempt',
  },
  {
    id: 'notFound',
    method: null,
    path: DEFAULT_ROUTE_KEY,
    handler: 'functions/not-found.ts',
    service: 'blux-guard',
    access: 'public',
    scopes: [],
    tables: {},
  },
] as const satisfies readonly RouteDeclaration[];

export type RouteId = (typeof ROUTES)[number]['id'];

/** API Gateway's name for a route: `GET /health`, or `$default`. */
export const routeKey = (route: RouteDeclaration): string =>
  route.method === null ? DEFAULT_ROUTE_KEY : `${route.method} ${route.path}`;

export const findRoute = (id: RouteId): RouteDeclaration => {
  const route = ROUTES.find((candidate) => candidate.id === id);
  if (route === undefined) {
    throw new Error(`catalog.unknownRoute: no route with id ${id}`);
  }

  return route;
};
