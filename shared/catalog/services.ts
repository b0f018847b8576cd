/**
 * The three BLUX service names that `/health` and audit entries speak of, and the part of the
 * gateway each one stands for.
 */
export const SERVICES = {
  /** Tasks: creation, tracking and execution. */
  'blux-lite': { description: 'tasks: creation, tracking and execution' },
  /** The guard: authentication, rate limiting and the audit trail. */
  'blux-guard': { description: 'the guard: authentication, rate limits and the audit trail' },
  /** The identity registry: registered clients and their scopes. */
  'blux-reg': { description: 'the identity registry: clients, secrets and scopes' },
} as const;

export type ServiceName = keyof typeof SERVICES;

export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];
