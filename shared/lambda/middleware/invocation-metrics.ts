/**
 * The outermost step of every HTTP route: registers the Lambda metric sink before anything is
 * counted and flushes the invocation's metrics after the request-context step has counted the
 * response, so a request's metrics leave with its invocation.
 */
import { ensureLambdaMetricSink, flushInvocationMetrics } from '@shared/metrics/metrics-invocation';
import type { HttpMiddleware } from '../types';

export const invocationMetrics = (): HttpMiddleware => ({
  before: () => {
    ensureLambdaMetricSink();
  },
  after: flushInvocationMetrics,
  onError: flushInvocationMetrics,
});
