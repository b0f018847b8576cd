/**
 * Scopes are exact words: a route needs all of its scopes, and `tasks:writer` is not
 * `tasks:write`. The list here is every scope the gateway knows; a client can hold only these.
 */
export const SCOPES = {
  'tasks:read': "read one's own tasks and follow them on the task_updates channel",
  'tasks:write': 'create and cancel tasks',
  'tasks:execute': 'claim and complete tasks as an external worker',
  'audit:read': 'read the audit trail and follow the audit_events channel',
  'metrics:read': 'scrape GET /metrics',
  'identities:validate': 'validate other tokens with POST /v1/identities/validate',
} as const;

export type Scope = keyof typeof SCOPES;

export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[];

export const isKnownScope = (word: string): word is Scope => Object.hasOwn(SCOPES, word);

/** Splits a `scope` claim or parameter into its words; extra spaces never make empty words. */
export const parseScopes = (value: string | undefined): string[] =>
  value === undefined ? [] : value.split(' ').filter((word) => word !== '');

export const formatScopes = (scopes: readonly string[]): string => scopes.join(' ');

/** The scopes of `required` that `held` lacks, compared as exact words. */
export const missingScopes = (held: readonly string[], required: readonly string[]): string[] => {
  const holding = new Set(held);

  return required.filter((scope) => !holding.has(scope));
};
