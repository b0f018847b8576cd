/**
 * The shapes the HTTP pipeline passes between its middlewares. Only this folder and
 * `functions/` know Lambda's event types; domain code in `shared/` never sees them.
 */
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { MiddlewareObj, Request } from '@middy/core';
import type { RouteDeclaration } from '@shared/catalog/routes';
import type { Identity } from '@shared/identity/identity';

/** What the pipeline has learned about a request so far. */
export interface RequestState {
  readonly requestId: string;
  readonly route: RouteDeclaration;
  readonly startedAtMs: number;
  body?: unknown;
  query?: unknown;
  /** Set by the authentication step on routes that need a caller. */
  identity?: Identity;
}

export type HttpEvent = APIGatewayProxyEventV2 & { blux: RequestState };

export type HttpResult = APIGatewayProxyStructuredResultV2;

export type HttpRequest = Request<HttpEvent, HttpResult, Error, Context>;

export type HttpMiddleware = MiddlewareObj<HttpEvent, HttpResult, Error, Context>;
