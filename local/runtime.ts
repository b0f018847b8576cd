/**
 * The local gateway: DynamoDB Local with the stack's tables, the HTTP routes behind a Node
 * server, and the stream consumers behind pollers, all from the same catalog the CDK stack
 * reads. `npm start` runs it; end-to-end tests start it in-process.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { ROUTES, routeKey, type RouteDeclaration } from '@shared/catalog/routes';
import { SCHEDULES, type ScheduleDeclaration } from '@shared/catalog/schedules';
import { STREAM_CONSUMERS, type StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import { STREAMING_ROUTES } from '@shared/catalog/streaming-routes';
import { TABLE_IDS, TABLES, physicalTableName } from '@shared/catalog/tables';
import {
  WEBSOCKET_AUTHORIZER,
  WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE,
  WEBSOCKET_STAGE_NAME,
} from '@shared/catalog/websocket-routes';
import { ensureFirstClient, type BootstrapResult } from '@shared/identity/bootstrap';
import { DynamoDbClientStore } from '@shared/identity/dynamodb-client-store';
import { openLocalKeyRing } from '@shared/identity/tokens/local-key-ring';
import {
  DATASETS_DIR_VARIABLE,
  resetGatewayDatasetStore,
} from '@shared/tasks/executors/dataset-stores';
import {
  registerTaskExecutor,
  unregisterTaskExecutor,
  type ExecutableTaskType,
} from '@shared/tasks/executors/executor-registry';
import { registerMetricSink, unregisterMetricSink } from '@shared/metrics/metrics';
import { createPrometheusSink, installPrometheusSink } from '@shared/metrics/prometheus-sink';
import { LOCAL_AWS_ENV, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local';
import { invokeHandler, loadHandler, type LambdaHandler } from './handlers';
import { createHttpServer, createRequestListener, type LocalLogger } from './http-server';
import { startSchedule, type LocalSchedule } from './scheduler';
import { startStreamPoller, type StreamPoller } from './stream-poller';
import { loadStreamingRoutes } from './streaming';
import { ensureTables } from './tables';
import { withConnectionsEndpoint } from './connections-endpoint';
import { startLocalWebSocketApi, type LocalWebSocketApi } from './websocket-server';

export const DEFAULT_PORT = 8080;
export const LOCAL_STAGE = 'local';

export interface LocalGatewayOptions {
  /** Port for HTTP; 0 picks a free one. Default 8080. */
  readonly port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  readonly host?: string;
  /** Persist DynamoDB Local's data here; in memory when absent. */
  readonly dataDir?: string;
  /** Use an already running DynamoDB Local instead of starting one (tests share one). */
  readonly dynamoEndpoint?: string;
  /** Stage name in the physical table names; tests use a unique one each. Default `local`. */
  readonly stage?: string;
  /** Consumers besides the catalog's, for tests of the stream mechanism. */
  readonly extraStreamConsumers?: readonly StreamConsumerDeclaration[];
  readonly logger?: LocalLogger & { info(message: string, fields: Record<string, unknown>): void };
  /** An HTTPS listener that asks for client certificates, as a mutual-TLS custom domain does. */
  readonly mtls?: MutualTlsOptions;
  /**
   * Task types with their executors, for tests only (an executor that fails on purpose, one
   * that runs long): registered in this process before any handler loads, so that the Tasks
   * API accepts them and the executor runs them; removed again by `stop`. No stack has them.
   */
  readonly extraTaskTypes?: readonly ExecutableTaskType[];
  /** The folder `data_analysis` reads datasets from. Default `datasets/` of the repository. */
  readonly datasetsDir?: string;
  /** Scheduled functions besides the catalog's, or instead of them with `schedules: []`. */
  readonly schedules?: readonly ScheduleDeclaration[];
}

export interface MutualTlsOptions {
  readonly port: number;
  /** PEM bundle of the CAs whose client certificates are trusted (API Gateway's truststore). */
  readonly ca: string;
  /** The server's own certificate and key, PEM. */
  readonly cert: string;
  readonly key: string;
}

export interface LocalGateway {
  readonly url: string;
  readonly port: number;
  readonly dynamoEndpoint: string;
  readonly stage: string;
  /** The mutual-TLS listener's base URL, when one was asked for. */
  readonly mtlsUrl?: string;
  /** The route keys this runtime serves, each with the handler Lambda would run. */
  readonly routeKeys: readonly string[];
  /** The client made or confirmed at start from `BLUX_CLIENT_*`; its secret only when new. */
  readonly firstClient: BootstrapResult;
  /** The WebSocket API at `/v1/events` on the same port, and its `@connections` endpoint. */
  readonly websocket: LocalWebSocketApi;
  /** Resolves once every stream record written so far has been handled. */
  whenIdle(): Promise<void>;
  stop(): Promise<void>;
}

/** Raised when the HTTP port is taken, with the words to tell the user. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';

  constructor(readonly port: number) {
    super(`Port ${port} is already in use: stop what listens there, or start with PORT=<other>.`);
  }
}

const consoleLogger = {
  info: (message: string, fields: Record<string, unknown>) => console.log(message, fields),
  error: (message: string, fields: Record<string, unknown>) => console.error(message, fields),
};

/** The variables the stack gives every function, pointed at the local tables and keys. */
const configureEnvironment = (
  stage: string,
  dynamoEndpoint: string,
  issuer: string,
  keyRingDir: string,
): void => {
  for (const [name, value] of Object.entries(LOCAL_AWS_ENV)) {
    process.env[name] ??= value;
  }
  for (const id of TABLE_IDS) {
    process.env[TABLES[id].envVar] = physicalTableName(stage, id);
  }
  process.env.DYNAMODB_ENDPOINT = dynamoEndpoint;
  process.env.BLUX_STAGE = stage;
  process.env.BLUX_ISSUER = issuer;
  process.env.BLUX_LOCAL_KEY_RING_DIR = keyRingDir;
  // Page tokens of GET /v1/audit need only outlive one run; in AWS the stack passes a secret.
  process.env.AUDIT_PAGE_TOKEN_SECRET ??= randomBytes(32).toString('base64url');
  process.env.POWERTOOLS_SERVICE_NAME ??= 'blux-gateway';
};

const listen = async (server: Server, port: number, host: string): Promise<number> =>
  new Promise((resolvePort, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(port) : error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolvePort((server.address() as AddressInfo).port);
    });
  });

const loadRouteHandlers = async (
  routes: readonly RouteDeclaration[],
): Promise<Map<string, LambdaHandler>> => {
  const handlers = new Map<string, LambdaHandler>();
  for (const route of routes) {
    handlers.set(route.id, await loadHandler(route.handler));
  }

  return handlers;
};

const startConsumers = async (
  consumers: readonly StreamConsumerDeclaration[],
  streamArns: Partial<Record<string, string>>,
  dynamoEndpoint: string,
  logger: LocalLogger,
): Promise<{ pollers: StreamPoller[]; client: DynamoDBStreamsClient }> => {
  const client = new DynamoDBStreamsClient({ endpoint: dynamoEndpoint });
  const pollers: StreamPoller[] = [];
  for (const consumer of consumers) {
    const streamArn = streamArns[consumer.table];
    if (streamArn === undefined) {
      throw new Error(`runtime.noStream: table ${consumer.table} declares no stream`);
    }
    const handler = await loadHandler(consumer.handler);
    pollers.push(
      startStreamPoller({
        client,
        streamArn,
        consumer,
        region: LOCAL_AWS_ENV.AWS_REGION,
        invoke: (event) =>
          invokeHandler(
            handler,
            `blux-local-${consumer.id}`,
            event,
            consumer.timeoutSeconds === undefined ? undefined : consumer.timeoutSeconds * 1000,
          ),
        // The failure destination in AWS is an SQS queue; here it is the log.
        onFailure: async (failure) => {
          logger.error('stream batch sent to the failure destination', {
            consumer: consumer.id,
            batch: failure.DDBStreamBatchInfo,
            condition: failure.requestContext.condition,
            error: failure.error,
          });
        },
        logger: { ...consoleLogger, warn: consoleLogger.error, ...logger },
      }),
    );
  }

  return { pollers, client };
};

const startSchedules = async (
  schedules: readonly ScheduleDeclaration[],
  logger: LocalLogger,
): Promise<LocalSchedule[]> => {
  const started: LocalSchedule[] = [];
  for (const schedule of schedules) {
    const handler = await loadHandler(schedule.handler);
    started.push(
      startSchedule({
        schedule,
        region: LOCAL_AWS_ENV.AWS_REGION,
        invoke: (event) =>
          invokeHandler(
            handler,
            `blux-local-${schedule.id}`,
            event,
            schedule.timeoutSeconds * 1000,
          ),
        logger,
      }),
    );
  }

  return started;
};

/** Registers the test-only task types; returns what undoes it. */
const registerExtraTaskTypes = (types: readonly ExecutableTaskType[]): (() => void) => {
  for (const type of types) {
    registerTaskExecutor(type);
  }

  return () => {
    for (const type of types) {
      unregisterTaskExecutor(type.type.name);
    }
  };
};

/** Starts the whole local gateway and resolves once it serves requests. */
export const startLocalGateway = async (
  options: LocalGatewayOptions = {},
): Promise<LocalGateway> => {
  const logger = options.logger ?? consoleLogger;
  const stage = options.stage ?? LOCAL_STAGE;
  const host = options.host ?? '127.0.0.1';
  const http = createHttpServer();
  let ready: ReturnType<typeof createRequestListener> | undefined;
  const https =
    options.mtls === undefined
      ? undefined
      : createHttpsServer(
          {
            ca: options.mtls.ca,
            cert: options.mtls.cert,
            key: options.mtls.key,
            requestCert: true,
            // The listener itself answers untrusted certificates with 403, as API Gateway does.
            rejectUnauthorized: false,
          },
          (request, response) => {
            if (ready === undefined) {
              http.server.emit('request', request, response);
              return;
            }
            void ready(request, response);
          },
        );
  const servers = https === undefined ? [http.server] : [http.server, https];
  const closeServer = async (): Promise<void> => {
    await Promise.all(
      servers.map(async (server) => {
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
      }),
    );
  };
  // Listen first: a port in use is reported before DynamoDB Local spends seconds starting.
  const port = await listen(http.server, options.port ?? DEFAULT_PORT, host);
  const mtlsPort =
    https === undefined || options.mtls === undefined
      ? undefined
      : await listen(https, options.mtls.port, host).catch(async (error: unknown) => {
          await closeServer();
          throw error;
        });
  let dynamo: DynamoDbLocal | undefined;
  // The token keys live with the data; without a data folder, in a folder this run removes.
  const scratch = options.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'blux-')) : undefined;
  const keyRingDir = options.dataDir ?? scratch ?? '';
  const unregisterTaskTypes = registerExtraTaskTypes(options.extraTaskTypes ?? []);
  const removeScratch = (): void => {
    if (scratch !== undefined) {
      rmSync(scratch, { recursive: true, force: true });
    }
    unregisterTaskTypes();
  };

  // Every route and consumer runs in this process, so one registry sees all of them, and
  // GET /metrics renders it.
  const metrics = createPrometheusSink(stage);

  try {
    dynamo =
      options.dynamoEndpoint === undefined
        ? await startDynamoDbLocal({ dataDir: options.dataDir })
        : undefined;
    const dynamoEndpoint = options.dynamoEndpoint ?? dynamo?.endpoint ?? '';
    configureEnvironment(stage, dynamoEndpoint, `http://localhost:${port}`, keyRingDir);
    if (options.datasetsDir !== undefined) {
      process.env[DATASETS_DIR_VARIABLE] = options.datasetsDir;
      resetGatewayDatasetStore();
    }
    // The first start makes the signing key; handlers then read the same ring.
    await openLocalKeyRing({ dataDir: keyRingDir });
    const admin = new DynamoDBClient({ endpoint: dynamoEndpoint });
    const streamArns = await ensureTables(admin, (id) => physicalTableName(stage, id));
    const firstClient = await ensureFirstClient(
      new DynamoDbClientStore(admin, physicalTableName(stage, 'clients')),
    );
    admin.destroy();
    registerMetricSink(metrics);
    installPrometheusSink(metrics);
    const handlers = await loadRouteHandlers(ROUTES);
    // GET /v1/events as SSE: a REST API streaming method in AWS, the same port here.
    const streaming = await loadStreamingRoutes(STREAMING_ROUTES);
    const consumers = [...STREAM_CONSUMERS, ...(options.extraStreamConsumers ?? [])];
    const streams = await startConsumers(consumers, streamArns, dynamoEndpoint, logger);
    const schedules = await startSchedules(options.schedules ?? SCHEDULES, logger);
    ready = createRequestListener({
      routes: ROUTES,
      streaming,
      logger,
      invoke: (route, event) => {
        const handler = handlers.get(route.id);
        if (handler === undefined) {
          throw new Error(`runtime.noHandler: ${route.id}`);
        }

        return invokeHandler(handler, `blux-local-${route.id}`, event);
      },
    });
    // The handlers post to connections through the same port, as they would through the
    // WebSocket API's own stage URL in AWS.
    process.env[WEBSOCKET_MANAGEMENT_ENDPOINT_VARIABLE] =
      `http://localhost:${port}/${WEBSOCKET_STAGE_NAME}`;
    const websocketHandlers = new Map<string, LambdaHandler>();
    const websocket = startLocalWebSocketApi({
      server: http.server,
      authorizer: WEBSOCKET_AUTHORIZER,
      logger,
      invoke: async (functionId, handlerModule, event) => {
        const handler = websocketHandlers.get(handlerModule) ?? (await loadHandler(handlerModule));
        websocketHandlers.set(handlerModule, handler);

        return invokeHandler(handler, `blux-local-${functionId}`, event);
      },
    });
    http.serve(withConnectionsEndpoint(WEBSOCKET_STAGE_NAME, websocket, ready));
    const started = dynamo;

    return {
      url: `http://localhost:${port}`,
      port,
      ...(mtlsPort === undefined ? {} : { mtlsUrl: `https://localhost:${mtlsPort}` }),
      firstClient,
      routeKeys: ROUTES.filter((route) => handlers.has(route.id)).map(routeKey),
      dynamoEndpoint,
      stage,
      websocket,
      whenIdle: async () => {
        await Promise.all(streams.pollers.map((poller) => poller.whenIdle()));
      },
      stop: async () => {
        await websocket.close();
        await closeServer();
        await Promise.all(schedules.map((schedule) => schedule.stop()));
        await Promise.all(streams.pollers.map((poller) => poller.stop()));
        streams.client.destroy();
        unregisterMetricSink(metrics);
        installPrometheusSink(undefined);
        await started?.stop();
        removeScratch();
      },
    };
  } catch (error) {
    unregisterMetricSink(metrics);
    installPrometheusSink(undefined);
    await closeServer();
    await dynamo?.stop();
    removeScratch();
    throw error;
  }
};
