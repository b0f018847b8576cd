import { describe, expect, it } from 'vitest';
import { FolderDatasetStore } from '@shared/tasks/datasets/folder-dataset-store';
import { S3DatasetStore } from '@shared/tasks/datasets/s3-dataset-store';
import { dataAnalysisExecutor } from '@shared/tasks/executors/data-analysis-executor';
import {
  datasetStoreFromEnvironment,
  DATASET_BUCKET_VARIABLE,
  DATASETS_DIR_VARIABLE,
} from '@shared/tasks/executors/dataset-stores';
import { executorFor } from '@shared/tasks/executors/executor-registry';
import type { TaskExecution } from '@shared/tasks/executors/task-executor';
import { TaskAttemptStoppedError } from '@shared/tasks/task-runner';
import { DATA_ANALYSIS_TASK_TYPE, DOCUMENT_REVIEW_TASK_TYPE } from '@shared/tasks/task-types';
import { acceptedTask } from '@test/fixtures/tasks';

const SAMPLES = ['ref://dataset/sample', 'ref://dataset/sample.jsonl'];

interface Run {
  readonly result: Promise<unknown>;
  readonly checkpoints: () => number;
}

const run = (payload: unknown, checkpoint?: () => Promise<void>): Run => {
  let checkpoints = 0;
  const execution: TaskExecution = {
    task: { ...acceptedTask(DATA_ANALYSIS_TASK_TYPE.name, payload), status: 'running' },
    signal: new AbortController().signal,
    checkpoint: async () => {
      checkpoints += 1;
      await checkpoint?.();
    },
  };
  const executor = dataAnalysisExecutor(() => new FolderDatasetStore());

  return { result: executor(execution), checkpoints: () => checkpoints };
};

describe('the data_analysis executor', () => {
  it('analyses every referenced dataset, with a checkpoint before each one', async () => {
    const { result, checkpoints } = run({ data_references: SAMPLES });

    const analysis = (await result) as { statistics: Record<string, unknown>; insights: unknown[] };

    expect(Object.keys(analysis.statistics)).toEqual(SAMPLES);
    expect(checkpoints()).toBeGreaterThanOrEqual(SAMPLES.length);
  });

  it('keeps the first max_insights insights and counts those it keeps', async () => {
    const all = (await run({ data_references: SAMPLES }).result) as { insights: unknown[] };
    const kept = (await run({ data_references: SAMPLES, options: { max_insights: 1 } }).result) as {
      insights: unknown[];
      insights_count: number;
    };

    expect(all.insights.length).toBeGreaterThan(1);
    expect(kept.insights).toEqual(all.insights.slice(0, 1));
    expect(kept.insights_count).toBe(1);
  });

  it('stops with the checkpoint’s error when the task is no longer running', async () => {
    const stop = new TaskAttemptStoppedError('tsk_x', 'cancelled');
    const { result } = run({ data_references: SAMPLES }, async () => {
      throw stop;
    });

    await expect(result).rejects.toBe(stop);
  });

  it('is the executor of data_analysis, and no external type has one', () => {
    expect(executorFor(DATA_ANALYSIS_TASK_TYPE)).toBeTypeOf('function');
    expect(executorFor(DOCUMENT_REVIEW_TASK_TYPE)).toBeUndefined();
  });
});

describe('the dataset store the environment names', () => {
  it('is the S3 bucket when DATASET_BUCKET is set', () => {
    const store = datasetStoreFromEnvironment({ [DATASET_BUCKET_VARIABLE]: 'blux-datasets' });

    expect(store).toBeInstanceOf(S3DatasetStore);
    expect((store as S3DatasetStore).bucket).toBe('blux-datasets');
  });

  it('is the folder of BLUX_DATASETS_DIR, or datasets/ without it', () => {
    const named = datasetStoreFromEnvironment({ [DATASETS_DIR_VARIABLE]: '/srv/datasets' });
    const fallback = datasetStoreFromEnvironment({});

    expect((named as FolderDatasetStore).folder).toBe('/srv/datasets');
    expect((fallback as FolderDatasetStore).folder).toMatch(/\/datasets\/$/);
  });
});
