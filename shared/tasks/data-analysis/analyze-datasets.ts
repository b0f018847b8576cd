/**
 * The work of a `data_analysis` task: each dataset named by the task is read once, as a stream,
 * and summarised column by column, then its insights are drawn from those statistics.
 *
 * Memory stays bounded whatever the size of the data (`data-analysis-limits.ts`), and the row
 * loop reaches a checkpoint every `CHECKPOINT_EVERY_ROWS` rows, where it gives the event loop a
 * turn (so that a timer, such as a timeout's abort, can fire even when the data arrives faster
 * than it is read) and stops if the task's signal is aborted.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  parseDatasetReference,
  type DatasetSource,
  type DatasetStore,
} from '@shared/tasks/datasets/dataset-store';
import { ColumnAccumulator, type ColumnStatistics, type FinishedColumn } from './column-statistics';
import { CorrelationTracker } from './correlation-tracker';
import { DataAnalysisError, DataLimitError } from './data-analysis-error';
import {
  CHECKPOINT_EVERY_ROWS,
  MAX_DATA_REFERENCES,
  MAX_DATASET_BYTES,
  MAX_DATASET_ROWS,
} from './data-analysis-limits';
import {
  correlationInsights,
  missingValuesInsight,
  outlierInsight,
  type DataInsight,
} from './data-insights';
import { DatasetColumns, decodeDatasetText, type DatasetRow } from './dataset-rows';
import { readCsvRows } from './csv-reader';
import { readJsonLinesRows } from './jsonl-reader';

/**
 * A completed analysis, the task's result. Statistics are keyed by dataset reference and then
 * by column name, also for a single dataset, so the shape never depends on how many datasets a
 * task names; each insight names its dataset in `dataset`.
 */
export interface DataAnalysisResult {
  readonly analysis_complete: true;
  readonly insights_count: number;
  /**
   * Per dataset in the task's order: missing values and outliers in column order, then
   * correlations, strongest first.
   */
  readonly insights: readonly DataInsight[];
  readonly statistics: Readonly<Record<string, Readonly<Record<string, ColumnStatistics>>>>;
}

/** One dataset's share of the result. */
export interface DatasetAnalysis {
  /** Data rows read, the CSV header not counted. */
  readonly rows: number;
  readonly statistics: Readonly<Record<string, ColumnStatistics>>;
  readonly insights: readonly DataInsight[];
}

export interface AnalyzeDatasetsOptions {
  /** `ref://dataset/<name>` each; the same reference twice is analysed once. */
  readonly references: readonly string[];
  readonly store: DatasetStore;
  /** Aborting it stops the analysis at its next checkpoint, rejecting with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface AnalyzeDatasetSourceOptions {
  /** The dataset's reference, for the insights and the error messages. */
  readonly dataset: string;
  readonly signal?: AbortSignal;
}

/** Gathers one dataset's statistics row by row. */
class DatasetAccumulator {
  readonly columns = new DatasetColumns();
  rows = 0;
  private readonly accumulators: ColumnAccumulator[] = [];
  private readonly correlations = new CorrelationTracker();
  private readonly numbers: (number | undefined)[] = [];

  add(row: DatasetRow): void {
    this.rows++;
    if (this.rows > MAX_DATASET_ROWS) {
      throw new DataLimitError(
        'MAX_DATASET_ROWS',
        MAX_DATASET_ROWS,
        `line ${row.line}: the dataset has more than ${MAX_DATASET_ROWS} rows`,
      );
    }
    // A JSON line may have brought new columns, absent from every row before this one.
    this.addNewColumns(this.rows - 1);

    for (let position = 0; position < this.accumulators.length; position++) {
      const column = this.accumulators[position] as ColumnAccumulator;
      const hadValues = column.count > 0;
      const wasNumeric = column.numeric;
      this.numbers[position] = column.add(row.cells[position]);
      if (!hadValues && column.numeric) this.correlations.consider(position);
      if (wasNumeric && !column.numeric) this.correlations.drop(position);
    }
    this.correlations.add(this.numbers);
  }

  finish(dataset: string): DatasetAnalysis {
    this.addNewColumns(this.rows);
    const finished = this.accumulators.map((column) => column.finish());
    const insights: DataInsight[] = [
      ...finished.map((column) => missingValuesInsight(dataset, column)),
      ...finished.map((column) => outlierInsight(dataset, column)),
      ...correlationInsights(dataset, finished, this.correlations.correlations()),
    ].filter((insight) => insight !== undefined);

    return { rows: this.rows, statistics: statisticsOf(finished), insights };
  }

  private addNewColumns(missingBefore: number): void {
    for (let position = this.accumulators.length; position < this.columns.size; position++) {
      const name = this.columns.names[position] as string;
      this.accumulators.push(new ColumnAccumulator(name, missingBefore));
    }
  }
}

/** Own properties, so that a column named `__proto__` is a column like any other. */
const statisticsOf = (columns: readonly FinishedColumn[]): Record<string, ColumnStatistics> =>
  Object.fromEntries(columns.map((column) => [column.name, column.statistics]));

const checkpoint = async (signal: AbortSignal | undefined): Promise<void> => {
  await nextTurn();
  signal?.throwIfAborted();
};

/**
 * Analyses one dataset already opened. Rejects with `DataParseError` or `DataLimitError`
 * (their messages begin with the dataset's reference), with the signal's reason when it is
 * aborted, and with whatever the source's stream rejects with.
 */
export const analyzeDatasetSource = async (
  source: DatasetSource,
  { dataset, signal }: AnalyzeDatasetSourceOptions,
): Promise<DatasetAnalysis> => {
  signal?.throwIfAborted();
  const accumulator = new DatasetAccumulator();

  try {
    if (source.sizeBytes !== undefined && source.sizeBytes > MAX_DATASET_BYTES) {
      throw new DataLimitError(
        'MAX_DATASET_BYTES',
        MAX_DATASET_BYTES,
        `the dataset is larger than ${MAX_DATASET_BYTES} bytes`,
      );
    }
    const text = decodeDatasetText(source.stream());
    const read = source.format === 'csv' ? readCsvRows : readJsonLinesRows;
    let nextCheckpoint = CHECKPOINT_EVERY_ROWS;
    for await (const rows of read(text, accumulator.columns)) {
      for (const row of rows) {
        accumulator.add(row);
        if (accumulator.rows === nextCheckpoint) {
          await checkpoint(signal);
          nextCheckpoint += CHECKPOINT_EVERY_ROWS;
        }
      }
    }
  } catch (error) {
    throw error instanceof DataAnalysisError ? error.inDataset(dataset) : error;
  }

  return accumulator.finish(dataset);
};

/** The references in order, each once, all checked before any dataset is read. */
const checkedReferences = (references: readonly string[]): string[] => {
  if (references.length === 0) {
    throw new DataAnalysisError('dataAnalysis.noReferences', 'The task names no dataset.');
  }
  const unique = [...new Set(references)];
  if (unique.length > MAX_DATA_REFERENCES) {
    throw new DataLimitError(
      'MAX_DATA_REFERENCES',
      MAX_DATA_REFERENCES,
      `The task names ${unique.length} datasets; at most ${MAX_DATA_REFERENCES} are analysed.`,
    );
  }
  unique.forEach(parseDatasetReference);

  return unique;
};

/**
 * Runs a `data_analysis` task: opens each referenced dataset in `store`, analyses them one
 * after the other, and returns the task's result.
 *
 * Rejects, with messages that may be shown to the task's owner and that a retry cannot change,
 * with `DatasetReferenceError` (`dataset.invalidReference`), `DatasetNotFoundError`
 * (`dataset.notFound`), `DataParseError` (`dataAnalysis.parseFailed`, with the line),
 * `DataLimitError` (`dataAnalysis.limitExceeded`) or `DataAnalysisError`
 * (`dataAnalysis.noReferences`). Rejects with `ServiceUnavailableError` when the store is
 * unavailable, which is worth a retry, and with `signal.reason` when the signal is aborted.
 */
export const analyzeDatasets = async ({
  references,
  store,
  signal,
}: AnalyzeDatasetsOptions): Promise<DataAnalysisResult> => {
  const datasets = checkedReferences(references);
  const insights: DataInsight[] = [];
  const statistics: [string, Readonly<Record<string, ColumnStatistics>>][] = [];

  for (const dataset of datasets) {
    signal?.throwIfAborted();
    const source = await store.open(dataset);
    const analysis = await analyzeDatasetSource(source, { dataset, signal });
    insights.push(...analysis.insights);
    statistics.push([dataset, analysis.statistics]);
  }

  return {
    analysis_complete: true,
    insights_count: insights.length,
    insights,
    statistics: Object.fromEntries(statistics),
  };
};
