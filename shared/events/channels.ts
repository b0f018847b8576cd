/**
 * The event channels, declared once: the WebSocket API, the SSE stream, the producers and the
 * docs all read this list. An event is `{ id, channel, type, data, timestamp }`; its `id` is the
 * channel's sequence number in decimal, increasing by one per event of that channel.
 */
import type { Identity } from '@shared/identity/identity';

export interface GatewayEvent {
  readonly id: string;
  readonly channel: ChannelName;
  readonly type: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly timestamp: string;
}

export interface ChannelDeclaration {
  readonly name: string;
  /** Event types the channel carries. */
  readonly eventTypes: readonly string[];
  /** Scopes a subscriber needs, all of them. */
  readonly scopes: readonly string[];
  /**
   * Whose events a subscriber receives: `owner` only those whose `owner` is the subscriber's
   * identity (a task's events reach whoever may read the task), `all` every event.
   */
  readonly audience: 'owner' | 'all';
}

export const CHANNELS = [
  {
    name: 'task_updates',
    eventTypes: ['task.updated'],
    scopes: ['tasks:read'],
    audience: 'owner',
  },
  {
    name: 'audit_events',
    eventTypes: ['audit.created'],
    scopes: ['audit:read'],
    audience: 'all',
  },
] as const satisfies readonly ChannelDeclaration[];

export type ChannelName = (typeof CHANNELS)[number]['name'];

export const CHANNEL_NAMES: readonly ChannelName[] = CHANNELS.map((channel) => channel.name);

/** The declared channel called `name`, or `undefined`. */
export const findChannel = (name: string): ChannelDeclaration | undefined =>
  CHANNELS.find((channel) => channel.name === name);

/** Whether `identity` holds every scope `channel` asks of its subscribers. */
export const maySubscribe = (
  identity: Pick<Identity, 'scopes'>,
  channel: ChannelDeclaration,
): boolean => channel.scopes.every((scope) => identity.scopes.includes(scope));

/** Whether a subscriber `identity` receives an event of `channel` owned by `owner`. */
export const mayReceive = (
  identity: Pick<Identity, 'id'>,
  channel: ChannelDeclaration,
  owner: string | undefined,
): boolean => channel.audience === 'all' || owner === identity.id;
