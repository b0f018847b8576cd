/**
 * Metrics per invocation: in Lambda, the EMF sink is registered on first use and flushed at
 * the end of every invocation, so that what an invocation counted reaches its log before the
 * process is frozen. HTTP routes get this from a middleware in `http-route.ts`; stream
 * consumers and other handlers wrap themselves with `withInvocationMetrics`.
 *
 * Outside Lambda (the local runtime, tests) nothing is registered here: the local runtime
 * installs its Prometheus sink itself, and tests register the sinks they inspect.
 */
import type { Context } from 'aws-lambda';
import { logger } from '@shared/logging/logger';
import { createEmfSink } from './emf-sink';
import { flushMetrics, recordMetric, registerMetricSink } from './metrics';

let lambdaSinkRegistered = false;
const startedFunctions = new Set<string>();

/** Registers the EMF sink once, when the process is a Lambda function (Lambda sets the name). */
export const ensureLambdaMetricSink = (): void => {
  if (lambdaSinkRegistered || process.env.AWS_LAMBDA_FUNCTION_NAME === undefined) {
    return;
  }

  lambdaSinkRegistered = true;
  registerMetricSink(
    createEmfSink({
      stage: process.env.BLUX_STAGE ?? 'unknown',
      onUnknownMetric: (name) => {
        logger.warn('a metric the catalog does not declare was dropped', { metric: name });
      },
    }),
  );
};

/**
 * True on the first invocation of `functionName` in this process, and then never again; it
 * counts `ColdStarts` when it is. Keyed by function because the local runtime serves every
 * function from one process, where Lambda gives each its own.
 */
export const takeColdStart = (functionName: string): boolean => {
  if (startedFunctions.has(functionName)) {
    return false;
  }

  startedFunctions.add(functionName);
  recordMetric('ColdStarts', 1, { function: functionName });

  return true;
};

/** Writes out what the invocation recorded; a failing sink never fails the invocation. */
export const flushInvocationMetrics = async (): Promise<void> => {
  try {
    await flushMetrics();
  } catch {
    // Metrics lost for one invocation are not worth a failed batch or a 500.
  }
};

/**
 * Wraps a handler that is not an HTTP route (a stream consumer, a scheduled job): registers
 * the sink, counts its cold start, and flushes after it, whether it resolved or threw.
 */
export const withInvocationMetrics =
  <TEvent, TResult>(handler: (event: TEvent, context: Context) => Promise<TResult>) =>
  async (event: TEvent, context: Context): Promise<TResult> => {
    ensureLambdaMetricSink();
    // Lambda always passes a context; a test that calls a handler with its event alone does not.
    takeColdStart(context?.functionName ?? process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'unknown');

    try {
      return await handler(event, context);
    } finally {
      await flushInvocationMetrics();
    }
  };
