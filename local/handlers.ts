/**
 * Loads handler modules the way Lambda does: once per function, kept warm, called with an
 * event and a context.
 */
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { createLambdaContext } from './lambda-context';

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));

export class HandlerTimeoutError extends Error {
  override readonly name = 'HandlerTimeoutError';
}

/** Imports `handler` from a module named relative to the repository root. */
export const loadHandler = async (modulePath: string): Promise<LambdaHandler> => {
  const url = pathToFileURL(resolve(REPOSITORY_ROOT, modulePath)).href;
  const loaded = (await import(url)) as { handler?: unknown };
  if (typeof loaded.handler !== 'function') {
    throw new Error(`handlers.noHandler: ${modulePath} does not export a handler function`);
  }

  return loaded.handler as LambdaHandler;
};

/** Invokes a handler with a fresh context, failing like Lambda when it runs out of time. */
export const invokeHandler = async (
  handler: LambdaHandler,
  functionName: string,
  event: unknown,
  timeoutMs?: number,
): Promise<unknown> => {
  const context = createLambdaContext(functionName, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HandlerTimeoutError(`${functionName} timed out`)),
      context.getRemainingTimeInMillis(),
    );
  });

  try {
    return await Promise.race([handler(event, context), timedOut]);
  } finally {
    clearTimeout(timer);
  }
};
