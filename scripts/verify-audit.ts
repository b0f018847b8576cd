/**
 * `npm run audit:verify -- <export.json> --keys <jwks.json>`: verifies an exported audit trail
 * with the public audit keys, and prints one line per problem, naming the entry where the trail
 * breaks.
 *
 * The export is `{ entries, checkpoints }`, one page of `GET /v1/audit`, or a list of such pages.
 * With `--url <gateway> --token <bearer>` the tool reads the pages itself, following
 * `next_page_token` (sent back as the `page_token` query parameter), and without `--keys` it reads
 * the keys from `GET /v1/audit/keys`; keys from the gateway under test only show that the trail
 * is consistent with what that gateway says, so `--keys` with a copy kept elsewhere is the check
 * that counts.
 *
 * A listing of `GET /v1/audit` (a page has `next_page_token`) is read as what it is, not as an
 * export: it is sorted by time, not by each chain's seq, so order is not checked; and of the
 * checkpoints of one chain only the first read (the lowest seq) is kept, since a later page's
 * checkpoint may vouch for entries sealed after the listing's window ended.
 *
 * Exit codes: 0 the trail verifies (notices aside), 1 it has problems, 2 the command line or its
 * inputs are wrong, or anything else kept it from verifying: 1 is never a crash.
 */
import type { JsonWebKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  verifyAuditTrail,
  type AuditProblem,
  type AuditVerificationReport,
} from '@shared/audit/audit-verifier';

/** What `runVerifyAudit` returns and the process exits with. */
export const EXIT_CODES = { clean: 0, problems: 1, usage: 2 } as const;

/** A gateway that answers more pages than this is taken to be looping. */
export const MAX_AUDIT_PAGES = 100_000;

/** How long one request to the gateway may take. */
export const AUDIT_FETCH_TIMEOUT_MS = 30_000;

/** Printed on `--help` and, on stderr, after a usage error. */
export const USAGE = `Usage: npm run audit:verify -- <export.json> --keys <jwks.json>
       npm run audit:verify -- --url <gateway base URL> --token <bearer> [--keys <jwks.json>]

  <export.json>  { "entries": [...], "checkpoints": [...] }, a GET /v1/audit page or a list of them
  --keys         the public audit keys, a JWKS ({ "keys": [...] }) kept apart from the gateway
  --url          read the entries (and, without --keys, the keys) from a running gateway
  --token        the bearer token for --url
  --any-order    the export is not in each chain's seq order (implied for GET /v1/audit pages)

Exit codes: 0 intact, 1 problems found, 2 usage or unreadable input.`;

/** Where the tool writes and how it reads, injected so that tests can run it in-process. */
export interface VerifyAuditIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  /** Default: files relative to the current directory. */
  readonly readFile?: (path: string) => Promise<string>;
  /** Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/** The command line or an input is wrong: exit 2 without verifying anything. */
class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'verifyAudit.usage';
}

/** An input cannot be read or is not what it should be: exit 2, without the usage text. */
class InputError extends Error {
  override readonly name = 'InputError';
  readonly code = 'verifyAudit.badInput';
}

interface AuditExport {
  readonly entries: unknown[];
  readonly checkpoints: unknown[];
  /** Whether it came from `GET /v1/audit`, sorted by time, rather than from an export. */
  readonly listing: boolean;
}

interface Options {
  readonly file?: string;
  readonly keys?: string;
  readonly url?: string;
  readonly token?: string;
  readonly help: boolean;
  readonly anyOrder: boolean;
}

const parseOptions = (argv: readonly string[]): Options => {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: {
        keys: { type: 'string' },
        url: { type: 'string' },
        token: { type: 'string' },
        'any-order': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 1) {
      throw new UsageError('give one export file');
    }

    return {
      keys: values.keys,
      url: values.url,
      token: values.token,
      file: positionals[0],
      help: values.help === true,
      anyOrder: values['any-order'] === true,
    };
  } catch (error) {
    // parseArgs reports an unknown or incomplete option as a TypeError with an ERR_PARSE_ARGS code.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const parseJson = (text: string, source: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InputError(`${source} is not JSON`);
  }
};

/** One page or export: `entries` must be a list, `checkpoints` may be left out. */
const pageOf = (value: unknown, source: string): AuditExport => {
  const notExport = new InputError(
    `${source} is not an audit export: expected { "entries": [...], "checkpoints": [...] } or ` +
      'a list of GET /v1/audit pages',
  );
  if (!isRecord(value) || !Array.isArray(value.entries)) {
    throw notExport;
  }
  if (value.checkpoints !== undefined && !Array.isArray(value.checkpoints)) {
    throw notExport;
  }

  return {
    entries: value.entries,
    checkpoints: (value.checkpoints as unknown[]) ?? [],
    listing: Object.hasOwn(value, 'next_page_token'),
  };
};

const joinPages = (pages: readonly AuditExport[]): AuditExport => ({
  entries: pages.flatMap((page) => page.entries),
  checkpoints: pages.flatMap((page) => page.checkpoints),
  listing: pages.some((page) => page.listing),
});

/** Per chain the checkpoint with the lowest seq; one that is not a checkpoint stays as it is. */
const earliestCheckpoints = (checkpoints: readonly unknown[]): unknown[] => {
  const byChain = new Map<number, Record<string, unknown>>();
  const others: unknown[] = [];
  for (const checkpoint of checkpoints) {
    if (!isRecord(checkpoint) || typeof checkpoint.chain !== 'number') {
      others.push(checkpoint);
      continue;
    }
    const kept = byChain.get(checkpoint.chain);
    if (kept === undefined || Number(checkpoint.seq) < Number(kept.seq)) {
      byChain.set(checkpoint.chain, checkpoint);
    }
  }

  return [...byChain.values(), ...others];
};

/** What the verifier is given: a listing with its first checkpoints, an export as it is. */
const trailToVerify = (trail: AuditExport): AuditExport =>
  trail.listing ? { ...trail, checkpoints: earliestCheckpoints(trail.checkpoints) } : trail;

const exportOf = (value: unknown, source: string): AuditExport =>
  Array.isArray(value)
    ? joinPages(value.map((page) => pageOf(page, source)))
    : pageOf(value, source);

/** A JWKS, or a bare list of JWKs. */
const keysOf = (value: unknown, source: string): JsonWebKey[] => {
  const list = isRecord(value) ? value.keys : value;
  if (!Array.isArray(list) || !list.every(isRecord)) {
    throw new InputError(`${source} is not a key set: expected { "keys": [ <JWK>, ... ] }`);
  }

  return list as JsonWebKey[];
};

const readJsonFile = async (path: string, io: VerifyAuditIo): Promise<unknown> => {
  const read = io.readFile ?? ((file: string) => readFile(resolve(file), 'utf8'));
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InputError(`cannot read ${path} (${reason})`);
  }

  return parseJson(text, path);
};

// Reading from a gateway

interface Gateway {
  readonly base: URL;
  readonly token: string;
  readonly fetch: typeof fetch;
}

const openGateway = (url: string, token: string | undefined, io: VerifyAuditIo): Gateway => {
  if (token === undefined || token === '') {
    throw new UsageError('--url needs --token <bearer>');
  }
  let base: URL;
  try {
    // A trailing slash keeps a stage path (`/dev`) when the routes are resolved against it.
    base = new URL(url.endsWith('/') ? url : `${url}/`);
  } catch {
    throw new UsageError(`--url must be an absolute URL, not "${url}"`);
  }

  return { base, token, fetch: io.fetch ?? fetch };
};

const getJson = async (gateway: Gateway, url: URL): Promise<unknown> => {
  let response: Response;
  try {
    response = await gateway.fetch(url, {
      headers: { authorization: `Bearer ${gateway.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(AUDIT_FETCH_TIMEOUT_MS),
    });
  } catch (error) {
    throw new InputError(`GET ${url.pathname} failed: ${(error as Error).message}`);
  }
  if (!response.ok) {
    throw new InputError(`GET ${url.pathname} answered ${response.status}`);
  }

  return parseJson(await response.text(), `the answer of GET ${url.pathname}`);
};

const fetchExport = async (gateway: Gateway): Promise<AuditExport> => {
  const pages: AuditExport[] = [];
  let pageToken: string | undefined;
  do {
    if (pages.length >= MAX_AUDIT_PAGES) {
      throw new InputError(`GET /v1/audit gave more than ${MAX_AUDIT_PAGES} pages`);
    }
    const url = new URL('v1/audit', gateway.base);
    if (pageToken !== undefined) {
      url.searchParams.set('page_token', pageToken);
    }
    const body = await getJson(gateway, url);
    pages.push(pageOf(body, 'a GET /v1/audit page'));
    const next = isRecord(body) ? body.next_page_token : undefined;
    pageToken = typeof next === 'string' && next !== '' ? next : undefined;
  } while (pageToken !== undefined);

  return { ...joinPages(pages), listing: true };
};

// Output

const describeProblem = (found: AuditProblem): string =>
  `${found.severity.padEnd(6)} ${found.kind.padEnd(24)} ${found.message}`;

const printReport = (report: AuditVerificationReport, io: VerifyAuditIo): void => {
  report.problems.forEach((found) => io.stdout(describeProblem(found)));

  const errors = report.problems.filter((found) => found.severity === 'error').length;
  const notices = report.problems.length - errors;
  io.stdout(
    `Checked ${report.entriesChecked} entries and ${report.checkpointsChecked} checkpoints: ` +
      `${errors} ${errors === 1 ? 'error' : 'errors'}, ` +
      `${notices} ${notices === 1 ? 'notice' : 'notices'}.`,
  );
  io.stdout(report.ok ? 'The audit trail is intact.' : 'The audit trail does NOT verify.');
};

const loadInputs = async (
  options: Options,
  io: VerifyAuditIo,
): Promise<{ trail: AuditExport; keys: JsonWebKey[] }> => {
  if (options.url !== undefined) {
    if (options.file !== undefined) {
      throw new UsageError('give an export file or --url, not both');
    }
    const gateway = openGateway(options.url, options.token, io);
    const trail = await fetchExport(gateway);
    if (options.keys !== undefined) {
      return { trail, keys: keysOf(await readJsonFile(options.keys, io), options.keys) };
    }
    io.stderr(
      'warning: the keys come from the gateway being checked; pass --keys with a copy kept ' +
        'elsewhere for an independent check',
    );
    const keysUrl = new URL('v1/audit/keys', gateway.base);

    return { trail, keys: keysOf(await getJson(gateway, keysUrl), 'GET /v1/audit/keys') };
  }

  if (options.file === undefined) {
    throw new UsageError('an export file (or --url) is required');
  }
  if (options.keys === undefined) {
    throw new UsageError('--keys <jwks.json> is required with an export file');
  }
  const trail = exportOf(await readJsonFile(options.file, io), options.file);

  return { trail, keys: keysOf(await readJsonFile(options.keys, io), options.keys) };
};

/**
 * Runs one `audit:verify` command line (without `node` and the script) and returns its exit
 * code. Output goes through `io`, so tests can read it.
 */
export const runVerifyAudit = async (
  argv: readonly string[],
  io: VerifyAuditIo,
): Promise<number> => {
  try {
    const options = parseOptions(argv);
    if (options.help) {
      io.stdout(USAGE);

      return EXIT_CODES.clean;
    }
    const { trail, keys } = await loadInputs(options, io);
    const { entries, checkpoints, listing } = trailToVerify(trail);

    const report = verifyAuditTrail({
      entries,
      checkpoints,
      keys,
      listedInSeqOrder: !listing && !options.anyOrder,
    });
    printReport(report, io);

    return report.ok ? EXIT_CODES.clean : EXIT_CODES.problems;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`error: ${error.message}`);
      io.stderr(USAGE);

      return EXIT_CODES.usage;
    }
    // Anything else also means nothing was verified: never exit 1, which says "tampered".
    const message = error instanceof Error ? error.message : String(error);
    io.stderr(`error: ${error instanceof InputError ? '' : 'unexpected: '}${message}`);

    return EXIT_CODES.usage;
  }
};

const invokedDirectly =
  process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);

if (invokedDirectly) {
  process.exitCode = await runVerifyAudit(process.argv.slice(2), {
    stdout: (line) => console.log(line),
    stderr: (line) => console.error(line),
  });
}
