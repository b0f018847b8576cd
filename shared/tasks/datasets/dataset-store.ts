/**
 * Where the datasets of `data_analysis` tasks live, as an interface: the analyser depends on
 * `DatasetStore`, and the adapters implement it, a folder in the local runtime
 * (`folder-dataset-store.ts`) and an S3 bucket in AWS (`s3-dataset-store.ts`).
 *
 * A task names a dataset by reference, `ref://dataset/<name>`, never by path or key. The name is
 * checked here, once for every store, against a pattern without slashes, so that no reference
 * can reach outside the store whatever the adapter does with the name. The stored object is
 * `<name>.csv` or `<name>.jsonl` (see `datasetObjectCandidates`), and its extension says how to
 * parse it.
 */

/** How a dataset is parsed: RFC 4180 CSV with a header row, or one JSON object per line. */
export type DatasetFormat = 'csv' | 'jsonl';

/**
 * The formats in the order a store looks for them: when both `<name>.csv` and `<name>.jsonl`
 * exist, the CSV one is the dataset.
 */
export const DATASET_FORMATS = ['csv', 'jsonl'] as const satisfies readonly DatasetFormat[];

export const DATASET_REFERENCE_PREFIX = 'ref://dataset/';

/**
 * A dataset name: a letter or digit, then up to 127 letters, digits, dots, underscores or
 * dashes. No slash, so a name is always one object in the store's own folder or prefix.
 */
const DATASET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A reference longer than this is not echoed whole in an error message. */
const MAX_ECHOED_REFERENCE_CHARS = 160;

/** A dataset found in a store, ready to be read. */
export interface DatasetSource {
  readonly format: DatasetFormat;
  /** The stored object's size when the store knows it before reading. */
  readonly sizeBytes?: number;
  /**
   * The object's bytes, from the start, each call a fresh read. A read may still fail with
   * `DatasetNotFoundError` when the object is removed after `open`.
   */
  stream(): AsyncIterable<Uint8Array | string>;
}

/** The datasets `data_analysis` tasks read. */
export interface DatasetStore {
  /**
   * Finds the dataset a reference names. Rejects with `DatasetReferenceError` when the
   * reference is not a dataset reference and `DatasetNotFoundError` when the store has no such
   * dataset; an adapter whose backend is throttled or down rejects with
   * `ServiceUnavailableError`, which is worth retrying.
   */
  open(reference: string): Promise<DatasetSource>;
}

export type DatasetErrorCode = 'dataset.notFound' | 'dataset.invalidReference';

/**
 * A dataset that cannot be used because of what the task asked for. Its message names only the
 * reference and may be shown to the task's owner; retrying the task cannot help.
 */
export class DatasetError extends Error {
  override readonly name: string = 'DatasetError';
  readonly code: DatasetErrorCode;
  /** The reference as the task gave it, shortened when long. */
  readonly reference: string;
  /** Whether `message` may be shown to the task's owner: always, it names nothing internal. */
  readonly expose = true;

  constructor(code: DatasetErrorCode, message: string, reference: string, cause?: unknown) {
    super(message, { cause });
    this.code = code;
    this.reference = reference;
  }
}

/** The store holds no `<name>.csv` or `<name>.jsonl` for the reference. */
export class DatasetNotFoundError extends DatasetError {
  override readonly name = 'DatasetNotFoundError';

  constructor(reference: string, cause?: unknown) {
    const short = shortenReference(reference);
    super('dataset.notFound', `Dataset ${quote(short)} does not exist.`, short, cause);
  }
}

/** The text is not `ref://dataset/<name>` with a valid name. */
export class DatasetReferenceError extends DatasetError {
  override readonly name = 'DatasetReferenceError';

  constructor(reference: string) {
    const short = shortenReference(reference);
    super(
      'dataset.invalidReference',
      `${quote(short)} is not a dataset reference: use ${DATASET_REFERENCE_PREFIX}<name>, where ` +
        'the name is letters, digits, dots, underscores and dashes, without "..".',
      short,
    );
  }
}

const shortenReference = (reference: string): string =>
  reference.length > MAX_ECHOED_REFERENCE_CHARS
    ? `${reference.slice(0, MAX_ECHOED_REFERENCE_CHARS)}…`
    : reference;

/** JSON quoting, so that a reference with a newline or a control character stays one line. */
const quote = (text: string): string => JSON.stringify(text);

/**
 * The dataset name a reference names, or `DatasetReferenceError`. Every store calls this before
 * it touches its backend, so a name it receives never holds a slash or `..`.
 */
export const parseDatasetReference = (reference: string): string => {
  if (!reference.startsWith(DATASET_REFERENCE_PREFIX)) {
    throw new DatasetReferenceError(reference);
  }
  const name = reference.slice(DATASET_REFERENCE_PREFIX.length);
  // The pattern already refuses a leading dot; ".." inside a name is refused as well, so that
  // no name ever reads as a path step to a person or to a store that splits on dots.
  if (!DATASET_NAME_PATTERN.test(name) || name.includes('..')) {
    throw new DatasetReferenceError(reference);
  }

  return name;
};

/** One object that may hold a dataset, and the format its extension gives it. */
export interface DatasetObjectCandidate {
  readonly objectName: string;
  readonly format: DatasetFormat;
}

/**
 * The objects a store looks for, in order, for a dataset name: `<name>.csv`, then
 * `<name>.jsonl`. A name that already ends in `.csv` or `.jsonl` names that object alone, so
 * that `ref://dataset/sample.jsonl` reaches a JSON lines file that shares its base name with a
 * CSV one.
 */
export const datasetObjectCandidates = (name: string): DatasetObjectCandidate[] => {
  const explicit = DATASET_FORMATS.find((format) => name.endsWith(`.${format}`));
  if (explicit !== undefined) {
    return [{ objectName: name, format: explicit }];
  }

  return DATASET_FORMATS.map((format) => ({ objectName: `${name}.${format}`, format }));
};
