import { describe, expect, it } from 'vitest';
import { readCsvRows } from '@shared/tasks/data-analysis/csv-reader';
import { DataLimitError, DataParseError } from '@shared/tasks/data-analysis/data-analysis-error';
import {
  MAX_CSV_FIELD_CHARS,
  MAX_DATASET_COLUMNS,
} from '@shared/tasks/data-analysis/data-analysis-limits';
import { DatasetColumns, decodeDatasetText } from '@shared/tasks/data-analysis/dataset-rows';
import { chunksOf, collect, rejectionOf, textOf } from '@test/fixtures/dataset-sources';

const readCsv = async (...chunks: string[]) => {
  const columns = new DatasetColumns();
  const rows = (await collect(readCsvRows(textOf(...chunks), columns))).flat();

  return { columns: columns.names, rows };
};

const parseFailure = async (text: string): Promise<DataParseError> => {
  const error = await rejectionOf(readCsv(text));
  expect(error).toBeInstanceOf(DataParseError);

  return error as DataParseError;
};

describe('readCsvRows', () => {
  it('names the columns from the header and gives each row with its line', async () => {
    const { columns, rows } = await readCsv('a,b,c\n1,2,3\n4,5,6\n');

    expect(columns).toEqual(['a', 'b', 'c']);
    expect(rows).toEqual([
      { line: 2, cells: ['1', '2', '3'] },
      { line: 3, cells: ['4', '5', '6'] },
    ]);
  });

  it('reads quoted fields with commas, escaped quotes and line breaks inside', async () => {
    const { rows } = await readCsv('id,note\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,""\n');

    expect(rows.map((row) => row.cells[1])).toEqual(['a, b', 'say "hi"', 'two\nlines', '']);
  });

  it('counts the lines of a multi-line field, so the rows after it keep their line', async () => {
    const { rows } = await readCsv('id,note\n1,"one\ntwo\r\nthree"\n2,x\n');

    expect(rows).toEqual([
      { line: 2, cells: ['1', 'one\ntwo\r\nthree'] },
      { line: 5, cells: ['2', 'x'] },
    ]);
  });

  it('reads CRLF, LF and lone CR line ends alike, without empty rows between them', async () => {
    const { rows } = await readCsv('a,b\r\n1,2\r\n3,4\n5,6\r7,8\r\n');

    expect(rows).toEqual([
      { line: 2, cells: ['1', '2'] },
      { line: 3, cells: ['3', '4'] },
      { line: 4, cells: ['5', '6'] },
      { line: 5, cells: ['7', '8'] },
    ]);
  });

  it('gives the same rows however the text is cut into chunks', async () => {
    const text = 'x,"y\r\nz"\r\n"1,""2""",3\r\n\r\n4,"5\r\n6"\r\n7,8';
    const whole = await readCsv(text);

    expect(whole.rows).toHaveLength(3);
    for (const size of [1, 2, 3, 5, 7]) {
      expect(await readCsv(...chunksOf(text, size))).toEqual(whole);
    }
  });

  it('reads a last row without a line break, and skips blank lines', async () => {
    const { rows } = await readCsv('a,b\n\n1,2\n\n\n3,4');

    expect(rows).toEqual([
      { line: 3, cells: ['1', '2'] },
      { line: 6, cells: ['3', '4'] },
    ]);
  });

  it('reads a line holding only "" as a row with one empty field', async () => {
    const { rows } = await readCsv('only\n""\nx\n');

    expect(rows.map((row) => row.cells)).toEqual([[''], ['x']]);
  });

  it('trims header names and names an empty one by its position', async () => {
    const { columns } = await readCsv(' id , ,value\n1,2,3\n');

    expect(columns).toEqual(['id', 'column_2', 'value']);
  });

  it('reads a header alone as a dataset without rows', async () => {
    const { columns, rows } = await readCsv('a,b\n');

    expect(columns).toEqual(['a', 'b']);
    expect(rows).toEqual([]);
  });

  it('refuses a row with fewer fields than the header, naming its line', async () => {
    const error = await parseFailure('a,b,c\n1,2,3\n4,5\n');

    expect(error.code).toBe('dataAnalysis.parseFailed');
    expect(error.line).toBe(3);
    expect(error.message).toBe('line 3: the row has 2 fields where the header has 3');
  });

  it('refuses a row with more fields than the header, counting them all', async () => {
    const error = await parseFailure('a,b\r\n1,2\r\n"x\r\ny",2\r\n3,4,5,6,7\r\n');

    expect(error.line).toBe(5);
    expect(error.message).toBe('line 5: the row has 5 fields where the header has 2');
  });

  it('refuses a quote inside an unquoted field', async () => {
    const error = await parseFailure('a,b\n1,2\n3,4"5\n');

    expect(error.line).toBe(3);
    expect(error.message).toMatch(/quote appears inside an unquoted field/);
  });

  it('refuses text between a closing quote and the next comma', async () => {
    const error = await parseFailure('a,b\n"1"x,2\n');

    expect(error.line).toBe(2);
    expect(error.message).toMatch(/followed by text/);
  });

  it('refuses a quoted field never closed, naming the line where it opens', async () => {
    const error = await parseFailure('a,b\n1,2\n3,"4\n5,6\n7,8\n');

    expect(error.line).toBe(3);
    expect(error.message).toMatch(/never closed/);
  });

  it('refuses an empty text, which has no header', async () => {
    const error = await parseFailure('');

    expect(error.line).toBe(1);
    expect(error.message).toMatch(/header/);
  });

  it('refuses a header that names a column twice', async () => {
    const error = await parseFailure('a,b,a\n1,2,3\n');

    expect(error.line).toBe(1);
    expect(error.message).toMatch(/"a" appears twice/);
  });

  it('refuses a header wider than the column limit', async () => {
    const header = Array.from({ length: MAX_DATASET_COLUMNS + 1 }, (_, i) => `c${i}`).join(',');
    const error = await rejectionOf(readCsv(`${header}\n`));

    expect(error).toBeInstanceOf(DataLimitError);
    expect((error as DataLimitError).code).toBe('dataAnalysis.limitExceeded');
    expect((error as DataLimitError).limit).toBe('MAX_DATASET_COLUMNS');
  });

  it('accepts a header exactly as wide as the column limit', async () => {
    const header = Array.from({ length: MAX_DATASET_COLUMNS }, (_, i) => `c${i}`).join(',');

    expect((await readCsv(`${header}\n`)).columns).toHaveLength(MAX_DATASET_COLUMNS);
  });

  it('refuses a field longer than the field limit, such as a quote left open', async () => {
    const long = 'x'.repeat(MAX_CSV_FIELD_CHARS + 1);
    const error = await rejectionOf(readCsv('a\n"', ...chunksOf(long, 4096)));

    expect(error).toBeInstanceOf(DataLimitError);
    expect((error as DataLimitError).limit).toBe('MAX_CSV_FIELD_CHARS');
    expect(error.message).toMatch(/^line 2: /);
  });
});

describe('decodeDatasetText', () => {
  const decode = (chunks: Uint8Array[], maxBytes?: number) =>
    collect(decodeDatasetText(textOfBytes(chunks), maxBytes)).then((parts) => parts.join(''));

  async function* textOfBytes(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
    yield* chunks;
  }

  it('decodes a character whose bytes are split across two chunks', async () => {
    const bytes = Buffer.from('temp,°C\n');
    const cut = bytes.indexOf(0xb0);

    expect(await decode([bytes.subarray(0, cut), bytes.subarray(cut)])).toBe('temp,°C\n');
  });

  it('drops a leading byte order mark', async () => {
    expect(await decode([Buffer.from('\uFEFFa,b\n')])).toBe('a,b\n');
  });

  it('refuses more bytes than the limit, and accepts exactly the limit', async () => {
    const chunk = Buffer.from('12345');

    expect(await decode([chunk, chunk], 10)).toBe('1234512345');
    const error = await rejectionOf(decode([chunk, chunk, Buffer.from('6')], 10));
    expect(error).toBeInstanceOf(DataLimitError);
    expect((error as DataLimitError).limit).toBe('MAX_DATASET_BYTES');
  });
});
