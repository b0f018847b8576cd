import { describe, expect, it } from 'vitest';
import { DataLimitError, DataParseError } from '@shared/tasks/data-analysis/data-analysis-error';
import {
  MAX_DATASET_COLUMNS,
  MAX_JSON_LINE_CHARS,
} from '@shared/tasks/data-analysis/data-analysis-limits';
import { DatasetColumns } from '@shared/tasks/data-analysis/dataset-rows';
import { readJsonLinesRows } from '@shared/tasks/data-analysis/jsonl-reader';
import { chunksOf, collect, rejectionOf, textOf } from '@test/fixtures/dataset-sources';

const readLines = async (...chunks: string[]) => {
  const columns = new DatasetColumns();
  const rows = (await collect(readJsonLinesRows(textOf(...chunks), columns))).flat();

  return { columns: columns.names, rows };
};

const parseFailure = async (text: string): Promise<DataParseError> => {
  const error = await rejectionOf(readLines(text));
  expect(error).toBeInstanceOf(DataParseError);

  return error as DataParseError;
};

describe('readJsonLinesRows', () => {
  it('adds a column the first time a key appears and leaves absent keys empty', async () => {
    const { columns, rows } = await readLines('{"a":1,"b":"x"}\n{"b":"y","c":2}\n{"a":3}\n');

    expect(columns).toEqual(['a', 'b', 'c']);
    expect(rows).toEqual([
      { line: 1, cells: [1, 'x'] },
      { line: 2, cells: [undefined, 'y', 2] },
      { line: 3, cells: [3] },
    ]);
  });

  it('keeps null, and turns booleans and nested values into text', async () => {
    const { rows } = await readLines('{"n":null,"ok":true,"tags":["a"],"at":{"x":1}}\n');

    expect(rows[0]?.cells).toEqual([null, 'true', '["a"]', '{"x":1}']);
  });

  it('skips blank lines but counts them; reads CRLF and a last line without a break', async () => {
    const { rows } = await readLines('{"a":1}\r\n\r\n   \n{"a":2}\r\n{"a":3}');

    expect(rows.map((row) => row.line)).toEqual([1, 4, 5]);
    expect(rows.map((row) => row.cells[0])).toEqual([1, 2, 3]);
  });

  it('gives the same rows however the text is cut into chunks', async () => {
    const text = '{"a":1,"s":"x\\ny"}\r\n\n{"a":2}\n{"s":"é"}\n';
    const whole = await readLines(text);

    expect(whole.rows).toHaveLength(3);
    for (const size of [1, 2, 3, 7]) {
      expect(await readLines(...chunksOf(text, size))).toEqual(whole);
    }
  });

  it('refuses a line that is not valid JSON, naming its line', async () => {
    const error = await parseFailure('{"a":1}\n\n{"a": 2\n{"a":3}\n');

    expect(error.code).toBe('dataAnalysis.parseFailed');
    expect(error.line).toBe(3);
    expect(error.message).toBe('line 3: the line is not valid JSON');
  });

  it('refuses a valid JSON value that is not an object', async () => {
    for (const [text, line] of [
      ['{"a":1}\n[1,2]\n', 2],
      ['42\n', 1],
      ['{"a":1}\n{"a":2}\nnull', 3],
    ] as const) {
      const error = await parseFailure(text);

      expect(error.line).toBe(line);
      expect(error.message).toMatch(/not an object/);
    }
  });

  it('refuses a line longer than the line limit, before it has all arrived', async () => {
    const long = `{"a":"${'x'.repeat(MAX_JSON_LINE_CHARS)}"}`;
    const error = await rejectionOf(readLines('{"a":1}\n', ...chunksOf(long, 64 * 1024)));

    expect(error).toBeInstanceOf(DataLimitError);
    expect((error as DataLimitError).limit).toBe('MAX_JSON_LINE_CHARS');
    expect(error.message).toMatch(/^line 2: /);
  });

  it('refuses more distinct keys than the column limit', async () => {
    const lines = Array.from({ length: MAX_DATASET_COLUMNS + 1 }, (_, i) => `{"k${i}":1}`);
    const error = await rejectionOf(readLines(lines.join('\n')));

    expect(error).toBeInstanceOf(DataLimitError);
    expect((error as DataLimitError).limit).toBe('MAX_DATASET_COLUMNS');
    expect(error.message).toMatch(new RegExp(`^line ${MAX_DATASET_COLUMNS + 1}: `));
  });
});
