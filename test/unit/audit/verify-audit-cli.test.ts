import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateAuditSigningKey, toPublishedAuditJwk } from '@shared/audit/audit-signing-key';
import { EXIT_CODES, runVerifyAudit } from '../../../scripts/verify-audit';
import { copyOf, entriesByChain, sealChain, sealedTrail, type Trail } from './audit-trail-fixture';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'blux-verify-audit-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  readonly code: number;
  readonly stdout: string[];
  readonly stderr: string[];
}

const run = async (argv: readonly string[], fetchStub?: typeof fetch): Promise<Run> => {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runVerifyAudit(argv, {
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
    ...(fetchStub === undefined ? {} : { fetch: fetchStub }),
  });

  return { code, stdout, stderr };
};

const writeJson = async (name: string, value: unknown): Promise<string> => {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(value));

  return path;
};

/** The trail and its key set written to files, as an operator would have them. */
const files = async (trail: Trail): Promise<{ exportFile: string; keysFile: string }> => ({
  exportFile: await writeJson('export.json', {
    entries: trail.entries,
    checkpoints: trail.checkpoints,
  }),
  keysFile: await writeJson('jwks.json', { keys: trail.keys }),
});

describe('audit:verify on an export file', () => {
  const trail = sealedTrail(generateAuditSigningKey(), 2, 3);

  it('exits 0 and says so when the trail is intact', async () => {
    const { exportFile, keysFile } = await files(trail);
    const result = await run([exportFile, '--keys', keysFile]);

    expect(result.code).toBe(EXIT_CODES.clean);
    expect(result.stdout).toEqual([
      'Checked 6 entries and 2 checkpoints: 0 errors, 0 notices.',
      'The audit trail is intact.',
    ]);
    expect(result.stderr).toEqual([]);
  });

  it('exits 1 with one line per problem naming the entry where the trail breaks', async () => {
    const tampered = copyOf(trail);
    const [, victim] = tampered.entries;
    if (victim !== undefined) {
      tampered.entries[1] = { ...victim, outcome: 'failure' };
    }
    const removed = tampered.entries.splice(2, 1);
    const { exportFile, keysFile } = await files(tampered);
    const result = await run([exportFile, '--keys', keysFile]);
    const problemLines = result.stdout.slice(0, -2);

    expect(result.code).toBe(EXIT_CODES.problems);
    expect(problemLines).toHaveLength(2);
    expect(problemLines[0]).toMatch(/^error +bad_signature +entry seq \d+ \(aud_/);
    expect(problemLines[0]).toContain(victim?.audit_id);
    expect(problemLines[1]).toMatch(/^error +gap +seq 2 is missing/);
    expect(removed).toHaveLength(1);
    expect(result.stdout.at(-1)).toBe('The audit trail does NOT verify.');
  });

  it('reads GET /v1/audit pages, newest first, with sealed flags and checkpoints', async () => {
    const listed = [...trail.entries].reverse().map((entry) => ({ ...entry, sealed: true }));
    const pages = [
      { entries: listed.slice(0, 2), next_page_token: 'abc', checkpoints: trail.checkpoints },
      { entries: listed.slice(2), next_page_token: null, checkpoints: trail.checkpoints },
    ];
    const keysFile = await writeJson('jwks.json', trail.keys);
    const listFile = await writeJson('pages.json', pages);
    const pageFile = await writeJson('page.json', pages[0]);

    expect((await run([listFile, '--keys', keysFile])).code).toBe(EXIT_CODES.clean);
    // The first page alone starts mid-chain, which is fine: it is a window of the trail.
    expect((await run([pageFile, '--keys', keysFile])).code).toBe(EXIT_CODES.clean);
  });

  it('keeps the first checkpoint of a chain in a listing: a later one may outrun it', async () => {
    const [first = []] = entriesByChain(1, 3);
    const key = generateAuditSigningKey();
    const early = sealChain(first.slice(0, 2), key);
    // Sealed after the listing's window closed: its checkpoint names a seq the listing lacks.
    const late = sealChain(first.slice(2), key, early.checkpoint);
    const pages = [
      { entries: early.sealed.slice(1), next_page_token: 'p2', checkpoints: [early.checkpoint] },
      { entries: early.sealed.slice(0, 1), next_page_token: null, checkpoints: [late.checkpoint] },
    ];
    const listFile = await writeJson('pages.json', pages);
    const keysFile = await writeJson('jwks.json', [toPublishedAuditJwk(key)]);
    const exportFile = await writeJson('export.json', {
      entries: early.sealed,
      checkpoints: [late.checkpoint],
    });

    expect((await run([listFile, '--keys', keysFile])).code).toBe(EXIT_CODES.clean);
    expect((await run([exportFile, '--keys', keysFile])).stdout[0]).toMatch(/^error +truncated/);
  });

  it('still finds a changed entry in a listing', async () => {
    const listed = trail.entries.map((entry) => ({ ...entry, sealed: true }));
    const [victim] = listed;
    if (victim !== undefined) {
      listed[0] = { ...victim, identity: 'user:mallory' };
    }
    const listFile = await writeJson('page.json', { entries: listed, next_page_token: null });
    const keysFile = await writeJson('jwks.json', { keys: trail.keys });
    const result = await run([listFile, '--keys', keysFile]);

    expect(result.code).toBe(EXIT_CODES.problems);
    expect(result.stdout[0]).toContain(victim?.audit_id);
  });

  it('exits 0 but prints the notice for an entry not sealed yet', async () => {
    const [unsealed = []] = entriesByChain(1, 1, new Date());
    const exportFile = await writeJson('export.json', { entries: [...trail.entries, ...unsealed] });
    const keysFile = await writeJson('jwks.json', { keys: trail.keys });
    const result = await run([exportFile, '--keys', keysFile]);

    expect(result.code).toBe(EXIT_CODES.clean);
    expect(result.stdout[0]).toMatch(/^notice +unsealed +entry aud_\w+ is not sealed yet/);
  });

  it('passes a listing sorted by time with --any-order', async () => {
    const reversed = { ...trail, entries: [...trail.entries].reverse() };
    const { exportFile, keysFile } = await files(reversed);

    expect((await run([exportFile, '--keys', keysFile])).code).toBe(EXIT_CODES.problems);
    expect((await run([exportFile, '--keys', keysFile, '--any-order'])).code).toBe(
      EXIT_CODES.clean,
    );
  });
});

describe('audit:verify on a wrong command line or input', () => {
  it.each([
    ['no arguments', []],
    ['no --keys', ['export.json']],
    ['an unknown option', ['export.json', '--keys', 'k.json', '--fast']],
    ['two export files', ['a.json', 'b.json', '--keys', 'k.json']],
    ['--url without --token', ['--url', 'https://gateway.example']],
    ['--url with a file', ['a.json', '--url', 'https://gateway.example', '--token', 't']],
  ])('exits 2 with the usage for %s', async (_what, argv) => {
    const result = await run(argv);

    expect(result.code).toBe(EXIT_CODES.usage);
    expect(result.stderr[0]).toMatch(/^error: /);
    expect(result.stderr.at(-1)).toContain('Exit codes:');
    expect(result.stdout).toEqual([]);
  });

  it('exits 2 when a file cannot be read, is not JSON or is not an export', async () => {
    const keysFile = await writeJson('jwks.json', { keys: [] });
    const notJson = join(dir, 'broken.json');
    await writeFile(notJson, '{"entries": [');
    const notExport = await writeJson('other.json', { items: [] });

    const missing = await run([join(dir, 'missing.json'), '--keys', keysFile]);
    const broken = await run([notJson, '--keys', keysFile]);
    const other = await run([notExport, '--keys', keysFile]);
    const badKeys = await run([notExport, '--keys', notExport]);

    expect([missing.code, broken.code, other.code, badKeys.code]).toEqual([2, 2, 2, 2]);
    expect(missing.stderr[0]).toContain('ENOENT');
    expect(broken.stderr[0]).toContain('is not JSON');
    expect(other.stderr[0]).toContain('is not an audit export');
  });

  it('prints the usage on --help and exits 0', async () => {
    const result = await run(['--help']);

    expect(result.code).toBe(EXIT_CODES.clean);
    expect(result.stdout[0]).toMatch(/^Usage: npm run audit:verify/);
  });
});

describe('audit:verify --url', () => {
  it('follows next_page_token and reads the keys from the gateway, with a warning', async () => {
    const trail = sealedTrail(generateAuditSigningKey(), 1, 2);
    const asked: string[] = [];
    const answer = (body: unknown) => new Response(JSON.stringify(body), { status: 200 });
    const fetchStub = (async (url: URL | string, init?: RequestInit) => {
      const target = new URL(String(url));
      asked.push(`${target.pathname}${target.search}`);
      expect(new Headers(init?.headers).get('authorization')).toBe('Bearer tok');
      if (target.pathname.endsWith('/v1/audit/keys')) {
        return answer({ keys: trail.keys });
      }

      return target.searchParams.get('page_token') === null
        ? answer({ entries: trail.entries.slice(0, 1), next_page_token: 'p2', checkpoints: [] })
        : answer({
            entries: trail.entries.slice(1),
            next_page_token: null,
            checkpoints: trail.checkpoints,
          });
    }) as typeof fetch;

    const result = await run(['--url', 'https://gateway.example/dev', '--token', 'tok'], fetchStub);

    expect(result.code).toBe(EXIT_CODES.clean);
    expect(asked).toEqual(['/dev/v1/audit', '/dev/v1/audit?page_token=p2', '/dev/v1/audit/keys']);
    expect(result.stderr[0]).toMatch(/^warning: the keys come from the gateway/);
  });
});
