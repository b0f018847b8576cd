/**
 * The WebSocket API of `/v1/events`, declared once: its routes, the handler of each, the tables
 * each may touch, and its authorizer. The CDK stack makes one API Gateway route per entry, and
 * the local WebSocket server routes messages by the same list, so both pick routes alike.
 *
 * API Gateway picks a message's route by `$request.body.type`: a JSON message whose `type`
 * names a route goes there; anything else (not JSON, no `type`, an unknown one) goes to
 * `$default`. `$connect` runs once per connection, after the authorizer let it in, and
 * `$disconnect` once it is gone.
 */
import type { TableAccess } from './routes';
import type { ServiceName } from './services';
import type { TableId } from './tables';

/** Where the local runtime and the docs say the WebSocket API lives. */
export const WEBSOCKET_PATH = '/v1/events';

/** The API's route selection expression: the `type` field of a JSON message. */
export const WEBSOCKET_ROUTE_SELECTION_EXPRESSION = '$request.body.type';

/**
 * The stage of the WebSocket API, and so the first path segment of its management endpoint
 * (`/events/@connections/{id}`); the same name locally and in AWS.
 */
export const WEBSOCKET_STAGE_NAME = 'events';

/** The variable through which handlers learn the `@connections` endpoint, stage included. */
export const WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE = 'WEBSOCKET_MANAGEMENT_ENDPOINT';

export interface WebSocketRouteDeclaration {
  /** Stable identifier, also the function's logical name in the stack. */
  readonly id: string;
  /** API Gateway's route key: `$connect`, `$disconnect`, `$default` or a message `type`. */
  readonly routeKey: string;
  /** Handler module relative to the repository root; it exports `handler`. */
  readonly handler: string;
  readonly service: ServiceName;
  readonly tables: Readonly<Partial<Record<TableId, TableAccess>>>;
  /**
   * Whether the handler posts to connections through the `@connections` endpoint; only such
   * functions get `execute-api:ManageConnections`.
   */
  readonly postsToConnections: boolean;
}

/**
 * The Lambda REQUEST authorizer of `$connect`. It finds the token in the `Authorization` header,
 * the `access_token` query parameter or the `Sec-WebSocket-Protocol` header (`bearer, <token>`),
 * so it declares no identity source: API Gateway would refuse a connection lacking any one of
 * them before the authorizer could look at the others.
 */
export const WEBSOCKET_AUTHORIZER = {
  id: 'wsAuthorize',
  handler: 'functions/ws-authorize.ts',
  service: 'blux-guard',
  // Refusals are audited; verifying a token needs the token keys, and no table.
  tables: { audit: 'append' },
  tokenKeys: 'verify',
} as const;

/**
 * The scopes a connection needs: none beyond a valid token. Each channel asks for its own
 * scopes at `subscribe` (see `shared/events/channels.ts`), so a token for audit events alone
 * can connect and follow them.
 */
export const WEBSOCKET_CONNECT_SCOPES: readonly string[] = [];

const MESSAGE_TABLES = {
  connections: 'readWrite',
  events: 'read',
  audit: 'append',
} as const satisfies Readonly<Partial<Record<TableId, TableAccess>>>;

export const WEBSOCKET_ROUTES = [
  {
    id: 'wsConnect',
    routeKey: '$connect',
    handler: 'functions/ws-connect.ts',
    service: 'blux-guard',
    tables: { connections: 'write', audit: 'append' },
    postsToConnections: false,
  },
  {
    id: 'wsDisconnect',
    routeKey: '$disconnect',
    handler: 'functions/ws-disconnect.ts',
    service: 'blux-guard',
    tables: { connections: 'readWrite' },
    postsToConnections: false,
  },
  // The three message types and `$default` share one handler: it answers every message,
  // malformed ones included, on the connection it came from.
  {
    id: 'wsSubscribe',
    routeKey: 'subscribe',
    handler: 'functions/ws-message.ts',
    service: 'blux-guard',
    tables: MESSAGE_TABLES,
    postsToConnections: true,
  },
  {
    id: 'wsUnsubscribe',
    routeKey: 'unsubscribe',
    handler: 'functions/ws-message.ts',
    service: 'blux-guard',
    tables: MESSAGE_TABLES,
    postsToConnections: true,
  },
  {
    id: 'wsPing',
    routeKey: 'ping',
    handler: 'functions/ws-message.ts',
    service: 'blux-guard',
    tables: MESSAGE_TABLES,
    postsToConnections: true,
  },
  {
    id: 'wsDefault',
    routeKey: '$default',
    handler: 'functions/ws-message.ts',
    service: 'blux-guard',
    tables: MESSAGE_TABLES,
    postsToConnections: true,
  },
] as const satisfies readonly WebSocketRouteDeclaration[];

export type WebSocketRouteKey = (typeof WEBSOCKET_ROUTES)[number]['routeKey'];

/** The route a message goes to, chosen as API Gateway does by its `type`. */
export const selectWebSocketRoute = (body: string): WebSocketRouteDeclaration => {
  const fallback = findWebSocketRoute('$default');
  let type: unknown;
  try {
    type = (JSON.parse(body) as { type?: unknown } | null)?.type;
  } catch {
    return fallback;
  }
  const match = WEBSOCKET_ROUTES.find(
    (route) => !route.routeKey.startsWith('$') && route.routeKey === type,
  );

  return match ?? fallback;
};

/** The declared route with this key. */
export const findWebSocketRoute = (routeKey: string): WebSocketRouteDeclaration => {
  const route = WEBSOCKET_ROUTES.find((candidate) => candidate.routeKey === routeKey);
  if (route === undefined) {
    throw new Error(`catalog.unknownWebSocketRoute: no WebSocket route ${routeKey}`);
  }

  return route;
};
