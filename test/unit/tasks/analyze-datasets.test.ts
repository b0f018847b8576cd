import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import {
  analyzeDatasets,
  analyzeDatasetSource,
} from '@shared/tasks/data-analysis/analyze-datasets';
import type {
  NumericColumnStatistics,
  TextColumnStatistics,
} from '@shared/tasks/data-analysis/column-statistics';
import {
  DataAnalysisError,
  DataLimitError,
  DataParseError,
} from '@shared/tasks/data-analysis/data-analysis-error';
import {
  CHECKPOINT_EVERY_ROWS,
  MAX_DATA_REFERENCES,
  MAX_DATASET_BYTES,
  MAX_DATASET_ROWS,
} from '@shared/tasks/data-analysis/data-analysis-limits';
import type { OutlierInsight } from '@shared/tasks/data-analysis/data-insights';
import {
  DatasetNotFoundError,
  DatasetReferenceError,
  type DatasetStore,
} from '@shared/tasks/datasets/dataset-store';
import {
  defaultDatasetsFolder,
  FolderDatasetStore,
} from '@shared/tasks/datasets/folder-dataset-store';
import {
  FIXTURE_DATASETS_FOLDER,
  memoryDatasetStore,
  memorySource,
  rejectionOf,
} from '@test/fixtures/dataset-sources';

const SAMPLE = 'ref://dataset/sample';

/** The sample CSV read the simple way: it has no quoted fields. */
const sampleColumns = (): Map<string, string[]> => {
  const text = readFileSync(join(defaultDatasetsFolder(), 'sample.csv'), 'utf8');
  const [header, ...rows] = text.trimEnd().split('\n');
  const names = (header as string).split(',');
  const columns = new Map(names.map((name) => [name, [] as string[]]));
  for (const row of rows) {
    row.split(',').forEach((field, i) => columns.get(names[i] as string)?.push(field));
  }

  return columns;
};

const numbersOf = (fields: readonly string[]): number[] =>
  fields.filter((field) => field !== '' && field !== 'NA').map(Number);

/** Quantile by the definition (type 7), on a sorted copy: the test's own implementation. */
const referenceQuantile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * p;
  const low = sorted[Math.floor(h)] as number;
  const high = sorted[Math.ceil(h)] as number;

  return low + (h - Math.floor(h)) * (high - low);
};

const pearson = (xs: readonly number[], ys: readonly number[]): number => {
  const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  xs.forEach((x, i) => {
    const y = ys[i] as number;
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
    syy += (y - my) ** 2;
  });

  return sxy / Math.sqrt(sxx * syy);
};

/** A CSV source of one column `n` whose rows never end; counts the chunks it has given. */
const endlessSource = () => {
  const pulled = { chunks: 0 };
  const rows = '1\n'.repeat(100);
  const source = memorySource('csv', async function* () {
    yield 'n\n';
    for (;;) {
      pulled.chunks++;
      yield rows;
    }
  });

  return { source, pulled };
};

describe('analyzeDatasets on the shipped sample', () => {
  const store = new FolderDatasetStore();

  it('completes with the result shape of the task', async () => {
    const result = await analyzeDatasets({ references: [SAMPLE], store });

    expect(Object.keys(result).sort()).toEqual([
      'analysis_complete',
      'insights',
      'insights_count',
      'statistics',
    ]);
    expect(result.analysis_complete).toBe(true);
    expect(result.insights_count).toBe(result.insights.length);
    expect(Object.keys(result.statistics)).toEqual([SAMPLE]);
    expect(Object.keys(result.statistics[SAMPLE] ?? {})).toEqual([...sampleColumns().keys()]);
  });

  it('gives the statistics of every numeric column as computed independently', async () => {
    const statistics = (await analyzeDatasets({ references: [SAMPLE], store })).statistics[SAMPLE];
    const columns = sampleColumns();

    for (const name of ['temperature_c', 'power_w', 'humidity_pct', 'pressure_hpa']) {
      const fields = columns.get(name) as string[];
      const values = numbersOf(fields);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1);
      const column = statistics?.[name] as NumericColumnStatistics;

      expect(column.type).toBe('numeric');
      expect(column.count).toBe(values.length);
      expect(column.missing).toBe(fields.length - values.length);
      expect(column.mean).toBeCloseTo(mean, 9);
      expect(column.std).toBeCloseTo(Math.sqrt(variance), 9);
      expect(column.min).toBe(Math.min(...values));
      expect(column.max).toBe(Math.max(...values));
      expect(column.quantiles.p25).toBeCloseTo(referenceQuantile(values, 0.25), 9);
      expect(column.quantiles.p50).toBeCloseTo(referenceQuantile(values, 0.5), 9);
      expect(column.quantiles.p75).toBeCloseTo(referenceQuantile(values, 0.75), 9);
      expect(column.quantiles.p95).toBeCloseTo(referenceQuantile(values, 0.95), 9);
    }
  });

  it('counts the sensors of the text column', async () => {
    const statistics = (await analyzeDatasets({ references: [SAMPLE], store })).statistics[SAMPLE];
    const sensors = sampleColumns().get('sensor_id') as string[];
    const counts = new Map<string, number>();
    sensors.forEach((sensor) => counts.set(sensor, (counts.get(sensor) ?? 0) + 1));
    const column = statistics?.sensor_id as TextColumnStatistics;

    expect(column.type).toBe('text');
    expect(column.distinct).toBe(counts.size);
    expect(column.top_values).toEqual(
      [...counts]
        .sort(([, a], [, b]) => b - a)
        .map(([value, count]) => ({ value, count }))
        .slice(0, 5),
    );
  });

  it('finds the missing values, the outliers and the correlated pair, nothing else', async () => {
    const { insights } = await analyzeDatasets({ references: [SAMPLE], store });
    const columns = sampleColumns();

    expect(insights.map((insight) => insight.type)).toEqual([
      'missing_values',
      'outlier',
      'strong_correlation',
    ]);
    const pressure = columns.get('pressure_hpa') as string[];
    expect(insights[0]).toMatchObject({
      dataset: SAMPLE,
      column: 'pressure_hpa',
      missing: pressure.length - numbersOf(pressure).length,
      rows: 300,
    });
    expect(insights[1]).toMatchObject({
      column: 'vibration_mm_s',
      count: 5,
      estimated: false,
      examples: [17.65, 15.02, 12.4, 9.81, 0.05],
    });
    const r = pearson(
      numbersOf(columns.get('temperature_c') as string[]),
      numbersOf(columns.get('power_w') as string[]),
    );
    expect(insights[2]).toMatchObject({ columns: ['temperature_c', 'power_w'], rows: 300 });
    expect((insights[2] as { r: number }).r).toBeCloseTo(r, 9);
    expect(r).toBeGreaterThan(0.8);
  });

  it('puts the fences of the outlier insight at 1.5 IQR beyond the quartiles', async () => {
    const { insights, statistics } = await analyzeDatasets({ references: [SAMPLE], store });
    const outlier = insights.find((insight) => insight.type === 'outlier') as OutlierInsight;
    const { p25, p75 } = (statistics[SAMPLE]?.vibration_mm_s as NumericColumnStatistics).quantiles;

    expect(outlier.lower_fence).toBeCloseTo(p25 - 1.5 * (p75 - p25), 12);
    expect(outlier.upper_fence).toBeCloseTo(p75 + 1.5 * (p75 - p25), 12);
    expect(outlier.message).toMatch(/^Column "vibration_mm_s" has 5 outliers/);
  });

  it('reads the JSON lines sample, with its absent and null operators missing', async () => {
    const reference = 'ref://dataset/sample.jsonl';
    const text = readFileSync(join(defaultDatasetsFolder(), 'sample.jsonl'), 'utf8');
    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const operators = lines.filter((line) => typeof line.operator === 'string').length;

    const { statistics } = await analyzeDatasets({ references: [reference], store });

    expect(statistics[reference]?.operator).toMatchObject({
      type: 'text',
      count: operators,
      missing: lines.length - operators,
    });
    expect(statistics[reference]?.cycle_ms).toMatchObject({ type: 'numeric', count: lines.length });
    expect(statistics[reference]?.ok).toMatchObject({ type: 'text', distinct: 2 });
  });
});

describe('analyzeDatasets with several datasets', () => {
  const store = memoryDatasetStore({
    first: memorySource('csv', ['x,y\n1,2\n3,4\n']),
    second: memorySource('jsonl', ['{"z":"a"}\n{"z":null}\n']),
  });

  it('keys statistics by reference then column, and names the dataset in insights', async () => {
    const result = await analyzeDatasets({
      references: ['ref://dataset/first', 'ref://dataset/second', 'ref://dataset/first'],
      store,
    });

    expect(Object.keys(result.statistics)).toEqual(['ref://dataset/first', 'ref://dataset/second']);
    expect(result.statistics['ref://dataset/first']?.y).toMatchObject({ type: 'numeric', max: 4 });
    expect(result.statistics['ref://dataset/second']?.z).toMatchObject({ count: 1, missing: 1 });
    expect(result.insights).toEqual([
      expect.objectContaining({ type: 'missing_values', dataset: 'ref://dataset/second' }),
    ]);
  });

  it('keeps a column named __proto__ as a column', async () => {
    const result = await analyzeDatasetSource(memorySource('csv', ['__proto__,b\n1,2\n']), {
      dataset: 'ref://dataset/odd',
    });

    expect(Object.keys(result.statistics)).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(result.statistics)).toBe(Object.prototype);
  });
});

describe('insights on small datasets', () => {
  const analyze = (format: 'csv' | 'jsonl', text: string) =>
    analyzeDatasetSource(memorySource(format, [text]), { dataset: 'ref://dataset/small' });

  const csvOf = (header: string, rows: readonly (readonly unknown[])[]): string =>
    `${[header, ...rows.map((row) => row.join(','))].join('\n')}\n`;

  it('finds an outlier by its z-score when a dominant value leaves no IQR', async () => {
    const values = [...Array.from({ length: 20 }, () => 10), 50];
    const { insights } = await analyze(
      'csv',
      csvOf(
        'v',
        values.map((v) => [v]),
      ),
    );

    expect(insights).toEqual([
      expect.objectContaining({
        type: 'outlier',
        column: 'v',
        count: 1,
        lower_fence: null,
        upper_fence: null,
        examples: [50],
      }),
    ]);
  });

  it('reports a negative correlation, and none once a column turns out to be text', async () => {
    const rows = Array.from({ length: 20 }, (_, i) => [i, 100 - 3 * i + (i % 2)]);
    const numeric = await analyze('csv', csvOf('x,y', rows));
    const spoiled = await analyze('csv', csvOf('x,y', [...rows, [20, 'oops']]));

    expect(numeric.insights).toEqual([
      expect.objectContaining({ type: 'strong_correlation', columns: ['x', 'y'], rows: 20 }),
    ]);
    expect(numeric.insights[0]?.message).toMatch(/strongly negatively correlated/);
    expect(spoiled.insights).toEqual([]);
    expect(spoiled.statistics.y?.type).toBe('text');
  });

  it('draws no outlier or correlation from fewer rows than the minimum', async () => {
    const rows = [...Array.from({ length: 8 }, (_, i) => [i, 2 * i]), [1_000, 2_000]];
    const { insights } = await analyze('csv', csvOf('x,y', rows));

    expect(insights).toEqual([]);
  });

  it('counts the lines before a JSON key first appears as missing for its column', async () => {
    const lines = ['{"a":1}', '{"a":2}', '{"a":3}', '{"a":4,"b":"x"}', '{"a":5}'];
    const { statistics, insights } = await analyze('jsonl', lines.join('\n'));

    expect(statistics.b).toMatchObject({ type: 'text', count: 1, missing: 4 });
    expect(insights).toEqual([
      expect.objectContaining({ type: 'missing_values', column: 'b', missing: 4, rows: 5 }),
    ]);
  });

  it('does not report a column with less than a fifth of its values missing', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => [i < 2 ? 'NA' : i, i < 1 ? '' : i]);
    const { insights } = await analyze('csv', csvOf('at_the_limit,below', rows));

    expect(insights).toEqual([
      expect.objectContaining({ type: 'missing_values', column: 'at_the_limit', share: 0.2 }),
    ]);
  });
});

describe('analyzeDatasets failures', () => {
  const fixtures = new FolderDatasetStore({ folder: FIXTURE_DATASETS_FOLDER });

  it('fails with dataset.notFound for a dataset the store does not hold', async () => {
    const error = await rejectionOf(
      analyzeDatasets({ references: ['ref://dataset/nothing-here'], store: fixtures }),
    );

    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect((error as DatasetNotFoundError).code).toBe('dataset.notFound');
    expect(error.message).toBe('Dataset "ref://dataset/nothing-here" does not exist.');
  });

  it('fails with dataAnalysis.parseFailed naming dataset and line of a ragged CSV', async () => {
    const error = await rejectionOf(
      analyzeDatasets({ references: ['ref://dataset/ragged'], store: fixtures }),
    );

    expect(error).toBeInstanceOf(DataParseError);
    expect((error as DataParseError).code).toBe('dataAnalysis.parseFailed');
    expect((error as DataParseError).line).toBe(4);
    expect((error as DataParseError).dataset).toBe('ref://dataset/ragged');
    expect(error.message).toBe(
      'In ref://dataset/ragged, line 4: the row has 3 fields where the header has 2',
    );
  });

  it('fails with dataAnalysis.parseFailed naming the line of malformed JSON lines', async () => {
    const error = await rejectionOf(
      analyzeDatasets({ references: ['ref://dataset/malformed'], store: fixtures }),
    );

    expect((error as DataParseError).code).toBe('dataAnalysis.parseFailed');
    expect((error as DataParseError).line).toBe(3);
    expect(error.message).toMatch(/^In ref:\/\/dataset\/malformed, line 3: /);
  });

  it('refuses every invalid reference before it opens any dataset', async () => {
    for (const reference of [
      'ref://dataset/../etc/passwd',
      'ref://other/x',
      'file:///etc/passwd',
    ]) {
      const store = memoryDatasetStore({ sample: memorySource('csv', ['a\n1\n']) });
      const error = await rejectionOf(
        analyzeDatasets({ references: ['ref://dataset/sample', reference], store }),
      );

      expect(error).toBeInstanceOf(DatasetReferenceError);
      expect((error as DatasetReferenceError).code).toBe('dataset.invalidReference');
      expect(store.opened).toEqual([]);
    }
  });

  it('refuses a task without references, and one with too many', async () => {
    const store = memoryDatasetStore({});
    const none = await rejectionOf(analyzeDatasets({ references: [], store }));
    const many = Array.from({ length: MAX_DATA_REFERENCES + 1 }, (_, i) => `ref://dataset/d${i}`);
    const tooMany = await rejectionOf(analyzeDatasets({ references: many, store }));

    expect(none).toBeInstanceOf(DataAnalysisError);
    expect((none as DataAnalysisError).code).toBe('dataAnalysis.noReferences');
    expect(tooMany).toBeInstanceOf(DataLimitError);
    expect((tooMany as DataLimitError).limit).toBe('MAX_DATA_REFERENCES');
    expect(store.opened).toEqual([]);
  });

  it('refuses a dataset the store says is too large without reading it', async () => {
    let read = false;
    const source = memorySource(
      'csv',
      async function* () {
        read = true;
        yield 'a\n1\n';
      },
      MAX_DATASET_BYTES + 1,
    );
    const error = await rejectionOf(analyzeDatasetSource(source, { dataset: 'ref://dataset/big' }));

    expect((error as DataLimitError).limit).toBe('MAX_DATASET_BYTES');
    expect(error.message).toMatch(/^In ref:\/\/dataset\/big, /);
    expect(read).toBe(false);
  });

  it('refuses a dataset with more rows than the row limit', async () => {
    const chunk = '1\n'.repeat(10_000);
    const chunks = Math.ceil((MAX_DATASET_ROWS + 1) / 10_000);
    const source = memorySource('csv', ['n\n', ...Array.from({ length: chunks }, () => chunk)]);
    const error = await rejectionOf(
      analyzeDatasetSource(source, { dataset: 'ref://dataset/long' }),
    );

    expect(error).toBeInstanceOf(DataLimitError);
    expect((error as DataLimitError).code).toBe('dataAnalysis.limitExceeded');
    expect((error as DataLimitError).limit).toBe('MAX_DATASET_ROWS');
    expect(error.message).toMatch(new RegExp(`line ${MAX_DATASET_ROWS + 2}: `));
  });

  it('passes on a store that is unavailable, for the task to be retried', async () => {
    const unavailable: DatasetStore = {
      open: async () => {
        throw new ServiceUnavailableError('The dataset store is unavailable.', 1);
      },
    };
    const error = await rejectionOf(analyzeDatasets({ references: [SAMPLE], store: unavailable }));

    expect(error).toBeInstanceOf(ServiceUnavailableError);
  });
});

describe('analyzeDatasets cancellation', () => {
  it('stops at the next checkpoint once the signal is aborted, with its reason', async () => {
    const { source, pulled } = endlessSource();
    const controller = new AbortController();
    const store = memoryDatasetStore({ endless: source });
    const reason = new Error('task cancelled');
    const analysis = analyzeDatasets({
      references: ['ref://dataset/endless'],
      store,
      signal: controller.signal,
    });
    // Let it read a few thousand rows, then cancel.
    while (pulled.chunks < 30) {
      await new Promise((done) => setImmediate(done));
    }
    controller.abort(reason);
    const error = await rejectionOf(analysis);
    const pulledAtStop = pulled.chunks;

    expect(error).toBe(reason);
    // One checkpoint is at most CHECKPOINT_EVERY_ROWS rows, 100 rows a chunk, away.
    expect(pulledAtStop).toBeLessThanOrEqual(30 + CHECKPOINT_EVERY_ROWS / 100 + 1);
    await new Promise((done) => setTimeout(done, 20));
    expect(pulled.chunks).toBe(pulledAtStop);
  });

  it('times out on a timer signal even when the data never makes it wait', async () => {
    const { source } = endlessSource();
    const error = await rejectionOf(
      analyzeDatasetSource(source, {
        dataset: 'ref://dataset/endless',
        signal: AbortSignal.timeout(50),
      }),
    );

    expect(error.name).toBe('TimeoutError');
  });

  it('opens nothing when the signal is aborted before it starts', async () => {
    const store = memoryDatasetStore({ sample: memorySource('csv', ['a\n1\n']) });
    const error = await rejectionOf(
      analyzeDatasets({ references: [SAMPLE], store, signal: AbortSignal.abort() }),
    );

    expect(error.name).toBe('AbortError');
    expect(store.opened).toEqual([]);
  });
});
