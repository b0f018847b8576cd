/**
 * What the CSV and JSON lines readers give the analyser: rows of cells by column position, and
 * the columns seen so far. CSV knows its columns from the header; JSON lines discovers them as
 * keys appear, so the column list grows while rows are read.
 */
import { MAX_DATASET_COLUMNS, MAX_DATASET_BYTES } from './data-analysis-limits';
import { DataLimitError, DataParseError } from './data-analysis-error';

/**
 * One cell: text (every CSV field; JSON strings, booleans and nested values), a JSON number,
 * a JSON `null`, or `undefined` for a key a JSON line does not have.
 */
export type CellValue = string | number | null | undefined;

export interface DatasetRow {
  /** The line the row starts on, 1-based, as an editor shows it. */
  readonly line: number;
  /** By column position in `DatasetColumns.names`; shorter when the last columns are absent. */
  readonly cells: readonly CellValue[];
}

/** The columns of one dataset in the order they first appear. */
export class DatasetColumns {
  readonly names: string[] = [];
  private readonly positions = new Map<string, number>();

  get size(): number {
    return this.names.length;
  }

  positionOf(name: string): number | undefined {
    return this.positions.get(name);
  }

  /** Adds a column and returns its position; `line` is where it appears, for the errors. */
  add(name: string, line: number): number {
    if (this.positions.has(name)) {
      throw new DataParseError(line, `the column ${JSON.stringify(name)} appears twice`);
    }
    if (this.names.length >= MAX_DATASET_COLUMNS) {
      throw new DataLimitError(
        'MAX_DATASET_COLUMNS',
        MAX_DATASET_COLUMNS,
        `line ${line}: the dataset has more than ${MAX_DATASET_COLUMNS} columns`,
      );
    }
    const position = this.names.length;
    this.names.push(name);
    this.positions.set(name, position);

    return position;
  }

  /** The column's position, added first when it is new. */
  ensure(name: string, line: number): number {
    return this.positions.get(name) ?? this.add(name, line);
  }
}

const UTF8_BOM = '\uFEFF';

/**
 * The dataset's bytes as text, counted against `maxBytes` as they arrive so that an oversized
 * object is refused once the limit is passed, without reading the rest. Bytes that are not
 * UTF-8 become U+FFFD rather than failing the task: numeric columns are unaffected, and a text
 * column shows where the encoding was wrong. A leading byte order mark is dropped.
 */
export async function* decodeDatasetText(
  chunks: AsyncIterable<Uint8Array | string>,
  maxBytes: number = MAX_DATASET_BYTES,
): AsyncGenerator<string> {
  // The decoder drops a byte order mark at the start of bytes; text chunks are trimmed below.
  const decoder = new TextDecoder('utf-8');
  let bytes = 0;
  let first = true;

  for await (const chunk of chunks) {
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (bytes > maxBytes) {
      throw new DataLimitError(
        'MAX_DATASET_BYTES',
        maxBytes,
        `the dataset is larger than ${maxBytes} bytes`,
      );
    }
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && text !== '') {
      first = false;
      text = text.startsWith(UTF8_BOM) ? text.slice(1) : text;
    }
    if (text !== '') {
      yield text;
    }
  }
  const rest = decoder.decode();
  if (rest !== '') {
    yield rest;
  }
}
