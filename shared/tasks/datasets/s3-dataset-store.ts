/**
 * The dataset store in AWS: objects `<keyPrefix><name>.csv` and `<keyPrefix><name>.jsonl` in
 * one S3 bucket. `open` asks for the object's metadata (HeadObject, CSV first), and each
 * `stream()` reads its body with GetObject as it arrives, never the whole object at once.
 *
 * S3 answers 403 rather than 404 for a missing key when the caller may not list the bucket, so
 * the function needs `s3:ListBucket` on the bucket (for the prefix) besides `s3:GetObject`;
 * without it a missing dataset surfaces as an access error instead of `dataset.notFound`.
 */
import {
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  S3ServiceException,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { isNetworkError } from '@shared/aws/network-errors';
import { ConfigurationError } from '@shared/config';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import {
  datasetObjectCandidates,
  DatasetNotFoundError,
  parseDatasetReference,
  type DatasetSource,
  type DatasetStore,
} from './dataset-store';

export const S3_MAX_ATTEMPTS = 3;
export const S3_CONNECTION_TIMEOUT_MS = 1_000;
/** How long a socket may stay silent, also between two chunks of a body being streamed. */
export const S3_REQUEST_TIMEOUT_MS = 10_000;
export const S3_RETRY_AFTER_SECONDS = 1;

export interface S3DatasetStoreOptions {
  readonly bucket: string;
  /**
   * Put before `<name>.<format>` as is: end it with `/` to mean a folder (`datasets/`).
   * Default none.
   */
  readonly keyPrefix?: string;
  /** Default a client with bounded retries and timeouts ({@link createS3DatasetClient}). */
  readonly client?: S3Client;
}

/** A client whose retries end within a task's time instead of hanging on a slow bucket. */
export const createS3DatasetClient = (): S3Client =>
  new S3Client({
    maxAttempts: S3_MAX_ATTEMPTS,
    requestHandler: {
      connectionTimeout: S3_CONNECTION_TIMEOUT_MS,
      requestTimeout: S3_REQUEST_TIMEOUT_MS,
    },
  });

/** What S3 answers for a key that does not exist: GetObject has a body, HeadObject has not. */
const ABSENT_OBJECT_NAMES = new Set(['NoSuchKey', 'NotFound']);

const TRANSIENT_ERROR_NAMES = new Set([
  'SlowDown',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'TimeoutError',
]);

const isAbsentObjectError = (error: unknown): boolean =>
  error instanceof Error &&
  (ABSENT_OBJECT_NAMES.has(error.name) ||
    (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404));

/** Whether a failure means "try again later" rather than a fault in the request. */
const isTransientS3Error = (error: unknown): boolean => {
  if (!(error instanceof Error)) {
    return false;
  }
  if (TRANSIENT_ERROR_NAMES.has(error.name)) {
    return true;
  }
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode ?? 0;

    return error.$fault === 'server' || status === 429 || status >= 500;
  }

  return isNetworkError(error);
};

/**
 * Turns S3's answers into the store's: a missing key into `DatasetNotFoundError`, throttling,
 * 5xx and lost connections into `ServiceUnavailableError`; anything else (a 403, a bucket that
 * does not exist) is a deployment fault and is rethrown unchanged.
 */
const translateS3Error = (error: unknown, reference: string): unknown => {
  if (isAbsentObjectError(error)) {
    return new DatasetNotFoundError(reference, error);
  }
  if (isTransientS3Error(error)) {
    return new ServiceUnavailableError(
      'The dataset store is unavailable.',
      S3_RETRY_AFTER_SECONDS,
      error,
    );
  }

  return error;
};

/** The `DatasetStore` in AWS, on one bucket and key prefix. */
export class S3DatasetStore implements DatasetStore {
  readonly bucket: string;
  readonly keyPrefix: string;
  private readonly client: S3Client;

  constructor(options: S3DatasetStoreOptions) {
    if (options.bucket.trim() === '') {
      throw new ConfigurationError('config.invalidDatasetStore: the dataset bucket is empty');
    }
    this.bucket = options.bucket;
    this.keyPrefix = options.keyPrefix ?? '';
    this.client = options.client ?? createS3DatasetClient();
  }

  async open(reference: string): Promise<DatasetSource> {
    const name = parseDatasetReference(reference);

    for (const { objectName, format } of datasetObjectCandidates(name)) {
      const key = `${this.keyPrefix}${objectName}`;
      const head = await this.headObject(key, reference);
      if (head !== undefined) {
        return {
          format,
          ...(head.ContentLength === undefined ? {} : { sizeBytes: head.ContentLength }),
          stream: () => this.readObject(key, reference),
        };
      }
    }

    throw new DatasetNotFoundError(reference);
  }

  /** The object's metadata, or `undefined` when there is no such object. */
  private async headObject(
    key: string,
    reference: string,
  ): Promise<HeadObjectCommandOutput | undefined> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isAbsentObjectError(error)) {
        return undefined;
      }
      throw translateS3Error(error, reference);
    }
  }

  /** The object's body as it arrives; in Node it is a Readable, never buffered whole. */
  private async *readObject(key: string, reference: string): AsyncGenerator<Uint8Array> {
    let body: GetObjectCommandOutput['Body'];
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      body = object.Body;
      if (body === undefined) {
        return;
      }
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        yield chunk;
      }
    } catch (error) {
      throw translateS3Error(error, reference);
    } finally {
      // Stopping early (a cancelled task, a parse error) must release the connection.
      (body as { destroy?: () => void } | undefined)?.destroy?.();
    }
  }
}
