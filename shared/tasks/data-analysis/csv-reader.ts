/**
 * A streaming CSV reader after RFC 4180: fields separated by commas, a field in double quotes
 * may hold commas, line breaks and quotes (written twice, `""`), and the first record is the
 * header that names the columns.
 *
 * Beyond the RFC: a record may end with LF or a lone CR as well as CRLF; a line with nothing on
 * it is skipped (a trailing newline, or blank lines between records), while a line holding only
 * `""` is a record with one empty field; header names are trimmed, and an empty one is named
 * `column_<position>`. What the RFC forbids is refused with the line it is on: a quote inside an
 * unquoted field, text after a closing quote, a quote never closed, and a record whose field
 * count differs from the header's.
 */
import { DataLimitError, DataParseError } from './data-analysis-error';
import { MAX_CSV_FIELD_CHARS, MAX_DATASET_COLUMNS } from './data-analysis-limits';
import type { DatasetColumns, DatasetRow } from './dataset-rows';

/** One record as read: its fields, and how many there were when more than `maxFields`. */
export interface CsvRecord {
  /** The line the record starts on, 1-based. */
  readonly line: number;
  readonly fields: string[];
  /** The number of fields, which is more than `fields.length` when fields were dropped. */
  readonly fieldCount: number;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

const State = {
  /** At the start of a field, nothing read yet. */
  fieldStart: 0,
  unquoted: 1,
  quoted: 2,
  /** Inside a quoted field, just after a quote: either `""` or the closing quote. */
  quoteSeen: 3,
} as const;

type ParserState = (typeof State)[keyof typeof State];

/**
 * The RFC 4180 state machine, fed text in chunks of any size; a record that spans two chunks
 * is carried over. Complete records are collected in `records` for the caller to take.
 */
export class CsvParser {
  /** Records completed by the last `feed` or `end`, for the caller to take and clear. */
  records: CsvRecord[] = [];
  /**
   * Fields kept per record; those past it are counted, not stored, so that a runaway row costs
   * no memory. The reader lowers it to the header's width once the header is read.
   */
  maxFields = MAX_DATASET_COLUMNS + 1;

  private state: ParserState = State.fieldStart;
  private field = '';
  private fields: string[] = [];
  private fieldCount = 0;
  /** The physical line being read, and the one the current record started on. */
  private line = 1;
  private recordLine = 1;
  /** Whether the current record has any character yet; an empty line is no record. */
  private recordStarted = false;
  /** The line the open quoted field started on, for the error when it is never closed. */
  private quoteLine = 1;
  /** The last character was a CR, so an LF right after it belongs to the same line break. */
  private afterCr = false;

  feed(text: string): void {
    let i = 0;
    if (this.afterCr && text.length > 0) {
      this.afterCr = false;
      if (text.charCodeAt(0) === LF) {
        if (this.state === State.quoted) {
          this.append('\n');
        }
        i = 1;
      }
    }

    while (i < text.length) {
      i = this.step(text, i);
    }
  }

  /** Ends the text: the last record may lack its line break, a quoted field may not. */
  end(): void {
    if (this.state === State.quoted) {
      throw new DataParseError(this.quoteLine, 'a quoted field is never closed');
    }
    if (this.recordStarted) {
      this.endRecord();
    }
  }

  /** Reads from `i` on and returns where the next step starts. */
  private step(text: string, i: number): number {
    const code = text.charCodeAt(i);

    switch (this.state) {
      case State.quoted:
        return this.readQuoted(text, i);
      case State.quoteSeen:
        return this.afterQuote(text, i, code);
      default:
        return this.readUnquoted(text, i, code);
    }
  }

  /** Reads a run of quoted text up to the next quote; line breaks in it are part of it. */
  private readQuoted(text: string, i: number): number {
    let end = i;
    while (end < text.length) {
      const code = text.charCodeAt(end);
      if (code === QUOTE) break;
      end++;
      if (code === LF) {
        this.line++;
      } else if (code === CR) {
        this.line++;
        if (end === text.length) {
          this.afterCr = true;
        } else if (text.charCodeAt(end) === LF) {
          end++;
        }
      }
    }
    this.append(text.slice(i, end));
    if (end < text.length) {
      this.state = State.quoteSeen;
      end++;
    }

    return end;
  }

  private afterQuote(text: string, i: number, code: number): number {
    if (code === QUOTE) {
      this.append('"');
      this.state = State.quoted;

      return i + 1;
    }
    if (code === COMMA || code === LF || code === CR) {
      this.state = State.unquoted;

      return this.readUnquoted(text, i, code);
    }

    throw new DataParseError(this.line, 'a quoted field is followed by text before its comma');
  }

  private readUnquoted(text: string, i: number, code: number): number {
    if (code === LF || code === CR) {
      this.endRecord();

      return this.stepOverLineBreak(text, i);
    }
    this.recordStarted = true;
    if (code === COMMA) {
      this.endField();

      return i + 1;
    }
    if (code === QUOTE) {
      if (this.state !== State.fieldStart) {
        throw new DataParseError(this.line, 'a quote appears inside an unquoted field');
      }
      this.state = State.quoted;
      this.quoteLine = this.line;

      return i + 1;
    }
    let end = i + 1;
    while (end < text.length) {
      const next = text.charCodeAt(end);
      if (next === COMMA || next === LF || next === CR || next === QUOTE) break;
      end++;
    }
    this.state = State.unquoted;
    this.append(text.slice(i, end));

    return end;
  }

  /**
   * Steps over the line break at `i` (LF, CR or CRLF) between records and counts the line. A
   * CR at the very end of the chunk leaves `afterCr` set, so that an LF starting the next one
   * is not taken for a second break.
   */
  private stepOverLineBreak(text: string, i: number): number {
    this.line++;
    if (text.charCodeAt(i) !== CR) {
      return i + 1;
    }
    if (i + 1 === text.length) {
      this.afterCr = true;

      return i + 1;
    }

    return text.charCodeAt(i + 1) === LF ? i + 2 : i + 1;
  }

  private append(part: string): void {
    this.recordStarted = true;
    if (this.field.length + part.length > MAX_CSV_FIELD_CHARS) {
      throw new DataLimitError(
        'MAX_CSV_FIELD_CHARS',
        MAX_CSV_FIELD_CHARS,
        `line ${this.line}: a field is longer than ${MAX_CSV_FIELD_CHARS} characters`,
      );
    }
    this.field += part;
  }

  private endField(): void {
    if (this.fields.length < this.maxFields) {
      this.fields.push(this.field);
    }
    this.fieldCount++;
    this.field = '';
    this.state = State.fieldStart;
  }

  private endRecord(): void {
    if (this.recordStarted) {
      this.endField();
      this.records.push({
        line: this.recordLine,
        fields: this.fields,
        fieldCount: this.fieldCount,
      });
    }
    this.fields = [];
    this.fieldCount = 0;
    this.field = '';
    this.state = State.fieldStart;
    this.recordStarted = false;
    // The break that ends this record has not been counted yet: the next record starts below.
    this.recordLine = this.line + 1;
  }
}

/** The header's names: trimmed, an empty one named by its 1-based position. */
const headerNames = (record: CsvRecord): string[] =>
  record.fields.map((field, index) => field.trim() || `column_${index + 1}`);

/**
 * The data rows of a CSV text, in batches (the rows completed by one chunk of text, so that the
 * analyser awaits once per chunk rather than once per row), its header registered in `columns`
 * before the first row. An empty text has no header and is refused; a header alone is a dataset
 * of no rows.
 */
export async function* readCsvRows(
  text: AsyncIterable<string>,
  columns: DatasetColumns,
): AsyncGenerator<DatasetRow[]> {
  const parser = new CsvParser();
  let width: number | undefined;

  const take = (): DatasetRow[] => {
    const rows: DatasetRow[] = [];
    for (const record of parser.records) {
      if (width === undefined) {
        width = readHeader(record, columns);
        parser.maxFields = width;
        continue;
      }
      if (record.fieldCount !== width) {
        throw new DataParseError(
          record.line,
          `the row has ${record.fieldCount} fields where the header has ${width}`,
        );
      }
      rows.push({ line: record.line, cells: record.fields });
    }
    parser.records = [];

    return rows;
  };

  for await (const chunk of text) {
    parser.feed(chunk);
    const rows = take();
    if (rows.length > 0) yield rows;
  }
  parser.end();
  const rows = take();
  if (width === undefined) {
    throw new DataParseError(1, 'the CSV dataset is empty: it needs a header row');
  }
  if (rows.length > 0) yield rows;
}

const readHeader = (record: CsvRecord, columns: DatasetColumns): number => {
  if (record.fieldCount > MAX_DATASET_COLUMNS) {
    throw new DataLimitError(
      'MAX_DATASET_COLUMNS',
      MAX_DATASET_COLUMNS,
      `line ${record.line}: the header has ${record.fieldCount} columns, more than ` +
        `${MAX_DATASET_COLUMNS}`,
    );
  }
  for (const name of headerNames(record)) {
    columns.add(name, record.line);
  }

  return record.fieldCount;
};
