import { mkdir, mkdtemp, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  datasetObjectCandidates,
  DatasetNotFoundError,
  DatasetReferenceError,
  parseDatasetReference,
} from '@shared/tasks/datasets/dataset-store';
import { FolderDatasetStore } from '@shared/tasks/datasets/folder-dataset-store';
import { collect, rejectionOf } from '@test/fixtures/dataset-sources';

const INVALID_REFERENCES = [
  'ref://dataset/../etc/passwd',
  'ref://dataset/..',
  'ref://dataset/a..b',
  'ref://dataset/.hidden',
  'ref://dataset/a/b',
  'ref://dataset/a\\b',
  'ref://dataset/%2e%2e',
  'ref://dataset/a b',
  'ref://dataset/x\n',
  'ref://dataset/',
  `ref://dataset/${'a'.repeat(129)}`,
  'ref://other/x',
  'REF://dataset/x',
  'file:///etc/passwd',
  '/etc/passwd',
  '',
];

describe('parseDatasetReference', () => {
  it('gives the name of a valid reference', () => {
    expect(parseDatasetReference('ref://dataset/sample')).toBe('sample');
    expect(parseDatasetReference('ref://dataset/Sensor_2026-03.v1')).toBe('Sensor_2026-03.v1');
    expect(parseDatasetReference(`ref://dataset/${'a'.repeat(128)}`)).toHaveLength(128);
  });

  it.each(INVALID_REFERENCES)('refuses %j with dataset.invalidReference', (reference) => {
    let error: unknown;
    try {
      parseDatasetReference(reference);
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(DatasetReferenceError);
    expect((error as DatasetReferenceError).code).toBe('dataset.invalidReference');
    expect((error as DatasetReferenceError).expose).toBe(true);
  });

  it('quotes the reference in its message on one line, and shortens a long one', () => {
    const newline = new DatasetReferenceError('ref://dataset/x\nINJECTED');
    const long = new DatasetReferenceError(`ref://other/${'x'.repeat(1_000)}`);

    expect(newline.message).toMatch(/^"ref:\/\/dataset\/x\\nINJECTED" is not a dataset reference/);
    expect(newline.message).not.toContain('\n');
    expect(long.message.length).toBeLessThan(400);
  });
});

describe('datasetObjectCandidates', () => {
  it('looks for the CSV object first, then the JSON lines one', () => {
    expect(datasetObjectCandidates('sample')).toEqual([
      { objectName: 'sample.csv', format: 'csv' },
      { objectName: 'sample.jsonl', format: 'jsonl' },
    ]);
  });

  it('takes a name that ends in a format extension as that object alone', () => {
    expect(datasetObjectCandidates('sample.jsonl')).toEqual([
      { objectName: 'sample.jsonl', format: 'jsonl' },
    ]);
    expect(datasetObjectCandidates('v1.2')).toHaveLength(2);
  });
});

describe('FolderDatasetStore', () => {
  let root: string;
  let folder: string;
  let outside: string;
  let store: FolderDatasetStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'blux-datasets-'));
    folder = join(root, 'datasets');
    outside = join(root, 'outside');
    await mkdir(folder);
    await mkdir(outside);
    store = new FolderDatasetStore({ folder });
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const textOf = async (reference: string): Promise<string> => {
    const source = await store.open(reference);
    const chunks = await collect(source.stream());

    return Buffer.concat(chunks.map((chunk) => Buffer.from(chunk))).toString('utf8');
  };

  it('opens <name>.csv as CSV, with its size, and reads it afresh on each stream', async () => {
    await writeFile(join(folder, 'readings.csv'), 'a,b\n1,2\n');
    const source = await store.open('ref://dataset/readings');

    expect(source.format).toBe('csv');
    expect(source.sizeBytes).toBe(8);
    expect(await textOf('ref://dataset/readings')).toBe('a,b\n1,2\n');
    expect((await collect(source.stream())).length).toBeGreaterThan(0);
    expect((await collect(source.stream())).length).toBeGreaterThan(0);
  });

  it('opens <name>.jsonl when there is no CSV of that name', async () => {
    await writeFile(join(folder, 'events.jsonl'), '{"a":1}\n');

    expect((await store.open('ref://dataset/events')).format).toBe('jsonl');
  });

  it('prefers the CSV when both exist, and reaches the other by its extension', async () => {
    await writeFile(join(folder, 'both.csv'), 'a\n1\n');
    await writeFile(join(folder, 'both.jsonl'), '{"a":1}\n');

    expect((await store.open('ref://dataset/both')).format).toBe('csv');
    expect((await store.open('ref://dataset/both.jsonl')).format).toBe('jsonl');
  });

  it('answers dataset.notFound for a name with neither file', async () => {
    await writeFile(join(folder, 'notes.txt'), 'a\n');
    const error = await rejectionOf(store.open('ref://dataset/notes'));

    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect((error as DatasetNotFoundError).code).toBe('dataset.notFound');
  });

  it('answers dataset.notFound for a folder named like a dataset', async () => {
    await mkdir(join(folder, 'trap.csv'));

    expect(await rejectionOf(store.open('ref://dataset/trap'))).toBeInstanceOf(
      DatasetNotFoundError,
    );
  });

  it('answers dataset.notFound when the folder itself does not exist', async () => {
    const missing = new FolderDatasetStore({ folder: join(root, 'nowhere') });

    expect(await rejectionOf(missing.open('ref://dataset/x'))).toBeInstanceOf(DatasetNotFoundError);
  });

  it('refuses a symlink pointing outside the folder, though its target is readable', async () => {
    await writeFile(join(outside, 'secret.csv'), 'secret\n42\n');
    await symlink(join(outside, 'secret.csv'), join(folder, 'escape.csv'));
    await symlink(join(root, 'outside'), join(folder, 'dir.csv'));

    expect(await rejectionOf(store.open('ref://dataset/escape'))).toBeInstanceOf(
      DatasetNotFoundError,
    );
    expect(await rejectionOf(store.open('ref://dataset/dir'))).toBeInstanceOf(DatasetNotFoundError);
  });

  it('follows a symlink that stays inside the folder', async () => {
    await writeFile(join(folder, 'real.csv'), 'a\n1\n');
    await symlink('real.csv', join(folder, 'alias.csv'));

    expect(await textOf('ref://dataset/alias')).toBe('a\n1\n');
  });

  it('serves a folder that is itself reached through a symlink', async () => {
    await writeFile(join(outside, 'x.csv'), 'a\n1\n');
    await symlink(outside, join(root, 'linked'));
    const linked = new FolderDatasetStore({ folder: join(root, 'linked') });

    expect((await linked.open('ref://dataset/x')).format).toBe('csv');
  });

  it('refuses a traversal reference before it looks at the disk', async () => {
    await writeFile(join(root, 'passwd.csv'), 'a\n1\n');

    expect(await rejectionOf(store.open('ref://dataset/../passwd'))).toBeInstanceOf(
      DatasetReferenceError,
    );
  });

  it('reports a file removed after open as a missing dataset when it is read', async () => {
    await writeFile(join(folder, 'gone.csv'), 'a\n1\n');
    const source = await store.open('ref://dataset/gone');
    await unlink(join(folder, 'gone.csv'));

    expect(await rejectionOf(collect(source.stream()))).toBeInstanceOf(DatasetNotFoundError);
  });

  it('does not follow a symlink swapped in after open', async () => {
    await writeFile(join(folder, 'swap.csv'), 'a\n1\n');
    await writeFile(join(outside, 'secret.csv'), 'secret\n42\n');
    const source = await store.open('ref://dataset/swap');
    await unlink(join(folder, 'swap.csv'));
    await symlink(join(outside, 'secret.csv'), join(folder, 'swap.csv'));

    expect(await rejectionOf(collect(source.stream()))).toBeInstanceOf(DatasetNotFoundError);
  });

  it('serves the shipped sample from the repository datasets folder by default', async () => {
    const source = await new FolderDatasetStore().open('ref://dataset/sample');

    expect(source.format).toBe('csv');
    expect(source.sizeBytes).toBeGreaterThan(10_000);
  });
});
