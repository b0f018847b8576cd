import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsxCli = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

interface Started {
  readonly child: ChildProcess;
  output: string;
  readonly exited: Promise<number | null>;
}

/** Runs `local/main.ts` as `npm start` does, with the given environment changes. */
const start = (env: Record<string, string>): Started => {
  const child = spawn(process.execPath, [tsxCli, 'local/main.ts'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'WARN', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started: Started = {
    child,
    output: '',
    exited: new Promise((done) => child.once('exit', (code) => done(code))),
  };
  const collect = (chunk: Buffer): void => {
    started.output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  return started;
};

const waitFor = async (started: Started, pattern: RegExp, timeoutMs = 45_000) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = pattern.exec(started.output);
    if (found !== null) {
      return found;
    }
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new Error(`timed out waiting for ${pattern}; output so far:\n${started.output}`);
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Every process below `pid`: tsx runs the gateway in a child, which runs DynamoDB Local. */
const descendants = (pid: number): number[] => {
  const listed = execFileSync('ps', ['-e', '-o', 'pid=,ppid=']).toString();
  const children = new Map<number, number[]>();
  for (const line of listed.split('\n')) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (child !== undefined && parent !== undefined) {
      children.set(parent, [...(children.get(parent) ?? []), child]);
    }
  }
  const found: number[] = [];
  const visit = (parent: number): void => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);

  return found;
};

const commandOf = (pid: number): string =>
  execFileSync('ps', ['-o', 'args=', '-p', String(pid)]).toString();

describe('npm start', () => {
  it('serves /health, prints where it listens, and leaves no process behind on Ctrl-C', async () => {
    const started = start({ PORT: '0' });
    const listening = await waitFor(started, /listening on (http:\/\/localhost:\d+)/);
    const url = listening[1] ?? '';
    const children = descendants(started.child.pid ?? 0);
    const java = children.filter((pid) => commandOf(pid).includes('DynamoDBLocal.jar'));

    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(java).toHaveLength(1);

    started.child.kill('SIGINT');
    expect(await started.exited).toBe(0);
    // Helpers of tsx (its esbuild service) may take a moment to notice their parent is gone.
    const deadline = Date.now() + 3_000;
    while (children.some(isAlive) && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, 100));
    }
    expect(children.filter(isAlive).map(commandOf)).toEqual([]);
    expect(java.some(isAlive)).toBe(false);
  });

  it('says clearly when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;

    const started = start({ PORT: String(port) });

    expect(await started.exited).toBe(1);
    expect(started.output).toContain(`Port ${port} is already in use`);
    blocker.close();
  });

  it('says what to install when Java is missing', async () => {
    const started = start({ PATH: '/nonexistent' });

    expect(await started.exited).toBe(1);
    expect(started.output).toContain('openjdk-17-jre-headless');
  });
});
