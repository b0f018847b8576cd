/**
 * The dataset store `data_analysis` reads, chosen by the environment: the S3 bucket the stack
 * names in `DATASET_BUCKET` in AWS, the folder `BLUX_DATASETS_DIR` (by default `datasets/` with
 * the shipped samples) in the local runtime. Chosen once per process, as a Lambda client is.
 */
import type { DatasetStore } from '@shared/tasks/datasets/dataset-store';
import { FolderDatasetStore } from '@shared/tasks/datasets/folder-dataset-store';
import { S3DatasetStore } from '@shared/tasks/datasets/s3-dataset-store';

/** Set by the stack on the executor function: the bucket that holds the datasets. */
export const DATASET_BUCKET_VARIABLE = 'DATASET_BUCKET';

/** Optional key prefix inside the bucket, such as `datasets/`. */
export const DATASET_KEY_PREFIX_VARIABLE = 'DATASET_KEY_PREFIX';

/** The local runtime's folder of datasets; tests point it at a fixture folder. */
export const DATASETS_DIR_VARIABLE = 'BLUX_DATASETS_DIR';

let shared: DatasetStore | undefined;

/** The store the environment names: S3 when `DATASET_BUCKET` is set, a folder otherwise. */
export const datasetStoreFromEnvironment = (
  env: Readonly<Record<string, string | undefined>> = process.env,
): DatasetStore => {
  const bucket = env[DATASET_BUCKET_VARIABLE];
  if (bucket !== undefined && bucket !== '') {
    return new S3DatasetStore({ bucket, keyPrefix: env[DATASET_KEY_PREFIX_VARIABLE] });
  }
  const folder = env[DATASETS_DIR_VARIABLE];

  return new FolderDatasetStore(folder === undefined || folder === '' ? {} : { folder });
};

/** The process-wide store, made on first use so that the environment is read after set-up. */
export const gatewayDatasetStore = (): DatasetStore => {
  shared ??= datasetStoreFromEnvironment();

  return shared;
};

/** Forgets the process-wide store; for tests that change the environment between runs. */
export const resetGatewayDatasetStore = (): void => {
  shared = undefined;
};
