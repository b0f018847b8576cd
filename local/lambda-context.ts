/** A Lambda `Context` for in-process invocations, with a real remaining-time clock. */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export const LOCAL_FUNCTION_TIMEOUT_MS = 10_000;
export const LOCAL_FUNCTION_MEMORY_MB = 256;

export const createLambdaContext = (
  functionName: string,
  timeoutMs: number = LOCAL_FUNCTION_TIMEOUT_MS,
): Context => {
  const deadline = Date.now() + timeoutMs;
  const unsupported = (): never => {
    throw new Error('lambdaContext.legacyCallback: handlers here are async, without callbacks');
  };

  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: String(LOCAL_FUNCTION_MEMORY_MB),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
};
