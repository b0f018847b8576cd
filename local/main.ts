/**
 * `npm start`: the whole gateway on this machine, with no AWS account and no Docker.
 *
 *   PORT           HTTP port (default 8080)
 *   HOST           interface to listen on (default 127.0.0.1)
 *   BLUX_DATA_DIR  keep DynamoDB Local's data in this folder between starts (default: memory)
 */
import { mkdirSync } from 'node:fs';
import { JavaMissingError } from './dynamodb-local';
import { DEFAULT_PORT, PortInUseError, startLocalGateway, type LocalGateway } from './runtime';

process.env.POWERTOOLS_DEV ??= 'true';

const parsePort = (value: string | undefined): number => {
  if (value === undefined || value === '') {
    return DEFAULT_PORT;
  }
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`PORT must be a whole number from 0 to 65535, not "${value}".`);
  }

  return port;
};

const stopOnSignals = (gateway: LocalGateway): void => {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log(`\n${signal}: stopping the gateway and DynamoDB Local...`);
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('could not stop cleanly:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
};

const main = async (): Promise<void> => {
  const dataDir = process.env.BLUX_DATA_DIR;
  if (dataDir !== undefined && dataDir !== '') {
    mkdirSync(dataDir, { recursive: true });
  }
  const gateway = await startLocalGateway({
    port: parsePort(process.env.PORT),
    host: process.env.HOST,
    dataDir: dataDir === '' ? undefined : dataDir,
  });
  stopOnSignals(gateway);
  console.log(
    [
      `BLUX gateway listening on ${gateway.url}`,
      `  health:   curl ${gateway.url}/health`,
      `  DynamoDB: ${gateway.dynamoEndpoint} (${dataDir ? `data in ${dataDir}` : 'in memory'})`,
      '  Ctrl-C stops it.',
    ].join('\n'),
  );
};

main().catch((error: unknown) => {
  if (error instanceof JavaMissingError || error instanceof PortInUseError) {
    console.error(error.message);
  } else {
    console.error('The gateway could not start:', error);
  }
  process.exit(1);
});
