/**
 * The executor of `data_analysis`: reads the task's datasets from the dataset store and
 * completes with the analyser's result, keeping the first `options.max_insights` insights when
 * the payload asks for fewer.
 *
 * The analyser checks the attempt's signal every `CHECKPOINT_EVERY_ROWS` rows. To make those
 * points real cancellation checkpoints without rewriting it, the store it reads is wrapped:
 * opening a dataset is a checkpoint, and so is a chunk of its bytes once
 * `CHECKPOINT_INTERVAL_MS` have passed since the last one. A checkpoint that finds the task
 * cancelled aborts the signal, and the analyser stops at its next row checkpoint.
 */
import { analyzeDatasets } from '@shared/tasks/data-analysis/analyze-datasets';
import type { DatasetSource, DatasetStore } from '@shared/tasks/datasets/dataset-store';
import { DATA_ANALYSIS_TASK_TYPE } from '@shared/tasks/task-types';
import type { TaskExecution, TaskExecutor } from './task-executor';

/** Least time between two checkpoints while a dataset is read: each one reads the task. */
export const CHECKPOINT_INTERVAL_MS = 1_000;

const checkpointedSource = (
  source: DatasetSource,
  execution: TaskExecution,
  now: () => number,
): DatasetSource => ({
  ...source,
  stream: async function* () {
    let lastCheckpointAt = now();
    for await (const chunk of source.stream()) {
      if (now() - lastCheckpointAt >= CHECKPOINT_INTERVAL_MS) {
        await execution.checkpoint();
        lastCheckpointAt = now();
      }
      yield chunk;
    }
  },
});

const checkpointedStore = (
  store: DatasetStore,
  execution: TaskExecution,
  now: () => number,
): DatasetStore => ({
  open: async (reference) => {
    await execution.checkpoint();
    const source = await store.open(reference);

    return checkpointedSource(source, execution, now);
  },
});

/** A `data_analysis` executor over the store `datasets` gives at each attempt. */
export const dataAnalysisExecutor =
  (datasets: () => DatasetStore, now: () => number = Date.now): TaskExecutor =>
  async (execution) => {
    // Validated when the task was created; parsed again because the store holds plain JSON.
    const payload = DATA_ANALYSIS_TASK_TYPE.payload.parse(execution.task.payload);
    const result = await analyzeDatasets({
      references: payload.data_references,
      store: checkpointedStore(datasets(), execution, now),
      signal: execution.signal,
    });
    const maxInsights = payload.options?.max_insights;
    if (maxInsights === undefined || result.insights.length <= maxInsights) {
      return result;
    }
    const insights = result.insights.slice(0, maxInsights);

    return { ...result, insights, insights_count: insights.length };
  };
