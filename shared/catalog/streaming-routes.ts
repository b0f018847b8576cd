/**
 * HTTP routes whose response is a stream, declared once. An HTTP API buffers a function's whole
 * response, so these routes are not on it: in AWS each is a REST API method whose Lambda proxy
 * integration streams (`responseTransferMode: STREAM`), mapped on the custom domain at the
 * route's path, and its function is written for Lambda response streaming. The local runtime
 * serves them on the same port as every other route. The CDK stack, the local runtime, the
 * OpenAPI test and the docs read this list.
 */
import type { RouteDeclaration } from './routes';

export interface StreamingRouteDeclaration extends RouteDeclaration {
  readonly method: 'GET';
  /** The media type the route streams; a request that accepts none of it is refused. */
  readonly mediaType: string;
  /**
   * The longest one response may stream before the function ends it and the client reconnects:
   * Lambda stops any invocation after 15 minutes, and a stream must end before that.
   */
  readonly maxStreamSeconds: number;
}

/** Lambda's limit on one invocation, and so on one streamed response. */
export const LAMBDA_MAX_DURATION_SECONDS = 900;

export const STREAMING_ROUTES = [
  {
    id: 'streamEvents',
    method: 'GET',
    path: '/v1/events',
    handler: 'functions/stream-events.ts',
    service: 'blux-lite',
    access: 'identified',
    // Each channel asks for its own scopes (`shared/events/channels.ts`), checked per request.
    scopes: [],
    tables: { events: 'read', clients: 'read', rateCounters: 'readWrite', audit: 'append' },
    tokenKeys: 'verify',
    mediaType: 'text/event-stream',
    // A minute short of Lambda's limit, for the function to close the stream cleanly.
    maxStreamSeconds: LAMBDA_MAX_DURATION_SECONDS - 60,
  },
] as const satisfies readonly StreamingRouteDeclaration[];

export type StreamingRouteId = (typeof STREAMING_ROUTES)[number]['id'];

export const findStreamingRoute = (id: StreamingRouteId): StreamingRouteDeclaration => {
  const route = STREAMING_ROUTES.find((candidate) => candidate.id === id);
  if (route === undefined) {
    throw new Error(`catalog.unknownStreamingRoute: no streaming route with id ${id}`);
  }

  return route;
};
