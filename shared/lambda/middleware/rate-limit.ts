/**
 * The rate-limiting step of identified routes, in two middlewares:
 *
 * - `rateLimit`, after authentication: counts the request against its identity (and the user
 *   named in `X-On-Behalf-Of`, for a service) and refuses it with 429 before the handler runs;
 * - `rateLimitHeaders`, just inside the request context: stamps the rate-limit headers on the
 *   finished response. It has to sit there, outside the error envelope, because `onError`
 *   hooks run from the inside out and only the envelope's turns an error into a response;
 *   from there it reaches error responses too, the 429 included.
 *
 * The decision passes from one to the other keyed by the event, never through the response.
 */
import type { IdentityRateLimits } from '@shared/rate-limit/identity-limits';
import type { RateDecision } from '@shared/rate-limit/rate-decision';
import {
  assertAdmitted,
  rateLimitHeaders as headersOf,
} from '@shared/rate-limit/rate-limit-headers';
import { ON_BEHALF_OF_HEADER, onBehalfOf } from '@shared/rate-limit/rate-limit-policies';
import { recordMetric } from '@shared/metrics/metrics';
import type { HttpEvent, HttpMiddleware, HttpRequest } from '../types';

const decisions = new WeakMap<HttpEvent, RateDecision>();

/** Counts the caller's request and throws the 429 when a limit is spent; no caller, no count. */
export const rateLimit = (limits: () => IdentityRateLimits): HttpMiddleware => ({
  before: async (request) => {
    const event = request.event;
    const identity = event.blux.identity;
    if (identity === undefined) {
      return;
    }

    const actingFor = onBehalfOf(event.headers[ON_BEHALF_OF_HEADER], identity);
    const decision = await limits().admit(identity, actingFor);
    decisions.set(event, decision);
    if (!decision.admitted) {
      recordMetric('RateLimited', 1, { route: event.blux.route.id });
    }
    assertAdmitted(decision);
  },
});

const stamp = (request: HttpRequest): void => {
  const decision = decisions.get(request.event);
  const response = request.response;
  if (decision === undefined || response === undefined || response === null) {
    return;
  }
  response.headers = { ...response.headers, ...headersOf(decision) };
};

/** Adds the rate-limit headers of the request's decision to its response, error or not. */
export const rateLimitHeaders = (): HttpMiddleware => ({
  after: stamp,
  onError: stamp,
});
