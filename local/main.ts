/**
 * `npm start`: the whole gateway on this machine, with no AWS account and no Docker.
 *
 *   PORT           HTTP port (default 8080)
 *   HOST           interface to listen on (default 127.0.0.1)
 *   BLUX_DATA_DIR  keep DynamoDB Local's data and the token keys here (default: memory)
 *   BLUX_CLIENT_ID, BLUX_CLIENT_SECRET, BLUX_CLIENT_SCOPES
 *                  the first client; without them a `local-dev` client is made and printed
 *   BLUX_MTLS_PORT, BLUX_MTLS_CA_FILE, BLUX_MTLS_CERT_FILE, BLUX_MTLS_KEY_FILE
 *                  an HTTPS listener that requires client certificates from the CA bundle
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { JavaMissingError } from './dynamodb-local';
import {
  DEFAULT_PORT,
  PortInUseError,
  startLocalGateway,
  type LocalGateway,
  type MutualTlsOptions,
} from './runtime';

/** Where `npm run clients` finds the running gateway's DynamoDB Local. */
const RUNTIME_FILE = '.blux/runtime.json';

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

const mutualTls = (): MutualTlsOptions | undefined => {
  const port = process.env.BLUX_MTLS_PORT;
  if (port === undefined || port === '') {
    return undefined;
  }
  const file = (name: string): string => {
    const path = process.env[name];
    if (path === undefined || path === '') {
      throw new Error(`BLUX_MTLS_PORT is set, so ${name} must name a PEM file too.`);
    }

    return readFileSync(path, 'utf8');
  };

  return {
    port: parsePort(port),
    ca: file('BLUX_MTLS_CA_FILE'),
    cert: file('BLUX_MTLS_CERT_FILE'),
    key: file('BLUX_MTLS_KEY_FILE'),
  };
};

const howToGetAToken = (gateway: LocalGateway): string[] => {
  const { clientId, secret } = gateway.firstClient;
  const shownSecret = secret ?? '<its secret>';

  return [
    secret === undefined
      ? `  client:   ${clientId} (registered earlier; its secret was printed then)`
      : `  client:   ${clientId}  secret: ${secret}  (shown once: keep it)`,
    '  a token:',
    `    curl -s -X POST ${gateway.url}/v1/auth/token \\`,
    `      -d grant_type=client_credentials -d client_id=${clientId} \\`,
    `      --data-urlencode client_secret=${shownSecret}`,
  ];
};

const stopOnSignals = (gateway: LocalGateway): void => {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log(`\n${signal}: stopping the gateway and DynamoDB Local...`);
    rmSync(RUNTIME_FILE, { force: true });
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
    mtls: mutualTls(),
  });
  stopOnSignals(gateway);
  mkdirSync('.blux', { recursive: true });
  writeFileSync(
    RUNTIME_FILE,
    JSON.stringify({ dynamoEndpoint: gateway.dynamoEndpoint, stage: gateway.stage }),
  );
  console.log(
    [
      `BLUX gateway listening on ${gateway.url}`,
      ...(gateway.mtlsUrl === undefined ? [] : [`  mutual TLS on ${gateway.mtlsUrl}`]),
      `  health:   curl ${gateway.url}/health`,
      ...howToGetAToken(gateway),
      '  clients:  npm run clients -- list | create --id <id> --scopes "<scopes>" | rotate | disable',
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
