/**
 * The local runtime's dataset store: a folder of `<name>.csv` and `<name>.jsonl` files, by
 * default `datasets/` at the repository root, where the sample datasets are shipped.
 *
 * Names never hold a slash (`parseDatasetReference`), so a reference alone cannot leave the
 * folder; a symbolic link could. The store therefore resolves the real path of the folder and
 * of the file, refuses a file whose real path is outside the folder, and opens the resolved
 * path with `O_NOFOLLOW`, so that a link swapped in after the check is not followed either.
 */
import { constants } from 'node:fs';
import { open as openFile, realpath, stat, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  datasetObjectCandidates,
  DatasetNotFoundError,
  parseDatasetReference,
  type DatasetFormat,
  type DatasetSource,
  type DatasetStore,
} from './dataset-store';

/** `datasets/` at the repository root, three folders up from this file. */
export const defaultDatasetsFolder = (): string =>
  fileURLToPath(new URL('../../../datasets/', import.meta.url));

export interface FolderDatasetStoreOptions {
  /** The folder that holds the datasets. Default {@link defaultDatasetsFolder}. */
  readonly folder?: string;
}

/** Errors that mean "no such file here" rather than a fault of the machine. */
const ABSENT_FILE_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

const isAbsentFileError = (error: unknown): boolean =>
  ABSENT_FILE_CODES.has(String((error as { code?: unknown } | undefined)?.code));

/** Whether `path` lies somewhere below `folder` (the folder itself is not a dataset). */
const isInside = (folder: string, path: string): boolean => {
  const rest = relative(folder, path);

  return rest !== '' && rest.split(sep)[0] !== '..' && !isAbsolute(rest);
};

/** The `DatasetStore` of the local runtime, on one folder. */
export class FolderDatasetStore implements DatasetStore {
  readonly folder: string;

  constructor(options: FolderDatasetStoreOptions = {}) {
    this.folder = options.folder ?? defaultDatasetsFolder();
  }

  async open(reference: string): Promise<DatasetSource> {
    const name = parseDatasetReference(reference);
    const folder = await this.realFolder(reference);

    for (const { objectName, format } of datasetObjectCandidates(name)) {
      const source = await this.findFile(folder, join(folder, objectName), format, reference);
      if (source !== undefined) {
        return source;
      }
    }

    throw new DatasetNotFoundError(reference);
  }

  private async realFolder(reference: string): Promise<string> {
    try {
      return await realpath(this.folder);
    } catch (error) {
      // No folder means no datasets, as an empty bucket does.
      if (isAbsentFileError(error)) {
        throw new DatasetNotFoundError(reference, error);
      }
      throw error;
    }
  }

  /** The file as a source, or `undefined` when it is absent, not a file, or outside. */
  private async findFile(
    folder: string,
    candidate: string,
    format: DatasetFormat,
    reference: string,
  ): Promise<DatasetSource | undefined> {
    let path: string;
    let sizeBytes: number;
    try {
      path = await realpath(candidate);
      // A link to a file elsewhere is treated as absent: the folder is the whole store.
      if (!isInside(folder, path)) {
        return undefined;
      }
      const stats = await stat(path);
      if (!stats.isFile()) {
        return undefined;
      }
      sizeBytes = stats.size;
    } catch (error) {
      if (isAbsentFileError(error)) {
        return undefined;
      }
      throw error;
    }

    return { format, sizeBytes, stream: () => readFile(path, reference) };
  }
}

/** The file's bytes; a file removed (or swapped for a link) since `open` is a missing dataset. */
async function* readFile(path: string, reference: string): AsyncGenerator<Uint8Array> {
  let handle: FileHandle;
  try {
    handle = await openFile(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if (isAbsentFileError(error)) {
      throw new DatasetNotFoundError(reference, error);
    }
    throw error;
  }
  // The stream closes the handle when it ends or is destroyed.
  const stream = handle.createReadStream();
  try {
    for await (const chunk of stream) {
      yield chunk as Buffer;
    }
  } finally {
    stream.destroy();
  }
}
