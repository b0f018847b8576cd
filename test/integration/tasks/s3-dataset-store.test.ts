import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '@shared/config';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { analyzeDatasets } from '@shared/tasks/data-analysis/analyze-datasets';
import {
  DatasetError,
  DatasetNotFoundError,
  DatasetReferenceError,
} from '@shared/tasks/datasets/dataset-store';
import {
  defaultDatasetsFolder,
  FolderDatasetStore,
} from '@shared/tasks/datasets/folder-dataset-store';
import { S3DatasetStore } from '@shared/tasks/datasets/s3-dataset-store';
import { collect, rejectionOf } from '@test/fixtures/dataset-sources';
import { startS3ObjectServer, type S3ObjectServer } from '@test/fixtures/s3-object-server';

const BUCKET = 'blux-datasets';
const PREFIX = 'datasets/';

let s3: S3ObjectServer;
let client: S3Client;
let store: S3DatasetStore;

beforeAll(async () => {
  s3 = await startS3ObjectServer();
  client = new S3Client({
    endpoint: s3.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    // One attempt: the tests look at each answer, not at the client's retries.
    maxAttempts: 1,
  });
  store = new S3DatasetStore({ client, bucket: BUCKET, keyPrefix: PREFIX });
});

afterAll(async () => {
  client.destroy();
  await s3.close();
});

beforeEach(() => {
  s3.objects.clear();
  s3.failures.clear();
  s3.requests.length = 0;
});

const put = (name: string, body: string | Buffer): void => {
  s3.objects.set(`${BUCKET}/${PREFIX}${name}`, Buffer.from(body));
};

const fail = (name: string, status: number, code: string): void => {
  s3.failures.set(`${BUCKET}/${PREFIX}${name}`, { status, code });
};

const bytesOf = async (chunks: AsyncIterable<Uint8Array | string>): Promise<string> =>
  Buffer.concat((await collect(chunks)).map((chunk) => Buffer.from(chunk))).toString('utf8');

describe('S3DatasetStore', () => {
  it('opens <prefix><name>.csv with its size and streams its body', async () => {
    put('readings.csv', 'a,b\n1,2\n3,4\n');
    const source = await store.open('ref://dataset/readings');

    expect(source.format).toBe('csv');
    expect(source.sizeBytes).toBe(12);
    expect(await bytesOf(source.stream())).toBe('a,b\n1,2\n3,4\n');
    expect(s3.requests).toEqual([
      `HEAD ${BUCKET}/${PREFIX}readings.csv`,
      `GET ${BUCKET}/${PREFIX}readings.csv`,
    ]);
  });

  it('falls back to <name>.jsonl after a 404 for the CSV', async () => {
    put('events.jsonl', '{"a":1}\n');
    const source = await store.open('ref://dataset/events');

    expect(source.format).toBe('jsonl');
    expect(s3.requests).toEqual([
      `HEAD ${BUCKET}/${PREFIX}events.csv`,
      `HEAD ${BUCKET}/${PREFIX}events.jsonl`,
    ]);
  });

  it('answers dataset.notFound when neither object exists', async () => {
    const error = await rejectionOf(store.open('ref://dataset/absent'));

    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect((error as DatasetNotFoundError).code).toBe('dataset.notFound');
    expect(s3.requests).toHaveLength(2);
  });

  it('answers dataset.notFound when the object is deleted between open and read', async () => {
    put('fleeting.csv', 'a\n1\n');
    const source = await store.open('ref://dataset/fleeting');
    s3.objects.clear();

    const error = await rejectionOf(collect(source.stream()));

    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect((error as DatasetNotFoundError).cause).toMatchObject({ name: 'NoSuchKey' });
  });

  it('turns throttling into ServiceUnavailableError, on open and on read', async () => {
    fail('busy.csv', 503, 'SlowDown');
    const onOpen = await rejectionOf(store.open('ref://dataset/busy'));
    put('later.csv', 'a\n1\n');
    const source = await store.open('ref://dataset/later');
    fail('later.csv', 503, 'SlowDown');
    const onRead = await rejectionOf(collect(source.stream()));

    for (const error of [onOpen, onRead]) {
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect((error as ServiceUnavailableError).code).toBe('SERVICE_UNAVAILABLE');
      expect((error as ServiceUnavailableError).headers['Retry-After']).toBe('1');
    }
  });

  it('turns an S3 internal error into ServiceUnavailableError', async () => {
    put('flaky.csv', 'a\n1\n');
    const source = await store.open('ref://dataset/flaky');
    fail('flaky.csv', 500, 'InternalError');

    expect(await rejectionOf(collect(source.stream()))).toBeInstanceOf(ServiceUnavailableError);
  });

  it('passes on an access error unchanged: a deployment fault, not a missing dataset', async () => {
    fail('locked.csv', 403, 'AccessDenied');
    const error = await rejectionOf(store.open('ref://dataset/locked'));

    expect(error).toBeInstanceOf(S3ServiceException);
    expect(error).not.toBeInstanceOf(DatasetError);
    expect((error as S3ServiceException).$metadata.httpStatusCode).toBe(403);
  });

  it('refuses an invalid reference without asking S3', async () => {
    for (const reference of [
      'ref://dataset/../etc/passwd',
      'ref://other/x',
      'file:///etc/passwd',
    ]) {
      expect(await rejectionOf(store.open(reference))).toBeInstanceOf(DatasetReferenceError);
    }
    expect(s3.requests).toEqual([]);
  });

  it('refuses an empty bucket name when it is built', () => {
    expect(() => new S3DatasetStore({ client, bucket: ' ' })).toThrow(ConfigurationError);
  });

  it('gives the analysis of the sample the same result as the folder store', async () => {
    put('sample.csv', await readFile(join(defaultDatasetsFolder(), 'sample.csv')));
    const references = ['ref://dataset/sample'];

    const fromS3 = await analyzeDatasets({ references, store });
    const fromFolder = await analyzeDatasets({ references, store: new FolderDatasetStore() });

    expect(fromS3).toEqual(fromFolder);
    expect(fromS3.insights_count).toBe(3);
  });
});
