/**
 * A streaming JSON lines reader: one JSON object per line, lines ended by LF or CRLF, blank
 * lines skipped. Each key is a column, added the first time a line has it; a line without a
 * key leaves that cell absent. A line that is not valid JSON, or is JSON but not an object, is
 * refused with its line number.
 *
 * Values become cells as follows: numbers and strings as they are, `null` as null, booleans as
 * the text `true` or `false`, and nested arrays and objects as their JSON text, which the
 * statistics treat as text values.
 */
import { DataLimitError, DataParseError } from './data-analysis-error';
import { MAX_JSON_LINE_CHARS } from './data-analysis-limits';
import type { CellValue, DatasetColumns, DatasetRow } from './dataset-rows';

const toCell = (value: unknown): CellValue => {
  if (value === null || typeof value === 'number' || typeof value === 'string') {
    return value;
  }
  if (typeof value === 'boolean') {
    return String(value);
  }

  return JSON.stringify(value);
};

const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const lineTooLong = (line: number): DataLimitError =>
  new DataLimitError(
    'MAX_JSON_LINE_CHARS',
    MAX_JSON_LINE_CHARS,
    `line ${line}: the line is longer than ${MAX_JSON_LINE_CHARS} characters`,
  );

/** One line as a row, or `undefined` for a blank line. */
const parseLine = (text: string, line: number, columns: DatasetColumns): DatasetRow | undefined => {
  if (text.trim() === '') {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DataParseError(line, 'the line is not valid JSON', error);
  }
  if (!isJsonObject(value)) {
    throw new DataParseError(line, 'the line is JSON but not an object');
  }
  const cells: CellValue[] = [];
  for (const [key, item] of Object.entries(value)) {
    cells[columns.ensure(key, line)] = toCell(item);
  }

  return { line, cells };
};

/**
 * The rows of a JSON lines text, in batches (the lines completed by one chunk of text), its
 * columns registered in `columns` as keys appear.
 */
export async function* readJsonLinesRows(
  text: AsyncIterable<string>,
  columns: DatasetColumns,
): AsyncGenerator<DatasetRow[]> {
  // The start of a line whose end has not arrived yet.
  let pending = '';
  let line = 1;

  for await (const chunk of text) {
    const rows: DatasetRow[] = [];
    let start = 0;
    let end = chunk.indexOf('\n');
    while (end !== -1) {
      const whole = pending + chunk.slice(start, end);
      pending = '';
      if (whole.length > MAX_JSON_LINE_CHARS) throw lineTooLong(line);
      const row = parseLine(whole.endsWith('\r') ? whole.slice(0, -1) : whole, line, columns);
      if (row !== undefined) rows.push(row);
      line++;
      start = end + 1;
      end = chunk.indexOf('\n', start);
    }
    pending += chunk.slice(start);
    // A line with no end in sight is refused before it fills the memory.
    if (pending.length > MAX_JSON_LINE_CHARS) throw lineTooLong(line);
    if (rows.length > 0) yield rows;
  }
  const last = parseLine(pending, line, columns);
  if (last !== undefined) {
    yield [last];
  }
}
