/**
 * `npm run bench`: the costs the design depends on, measured on this machine.
 *
 *   - sealing audit entries (ES512 over canonical JSON): entries per second per core, which
 *     bounds what one sealer invocation can keep up with;
 *   - verifying the gateway's own tokens (ES256): a first verification and a cached one,
 *     which every authenticated request pays;
 *   - analysing a CSV dataset (`data_analysis`): megabytes and rows per second on one core,
 *     which says how large a dataset fits in the type's timeout.
 *
 * Each figure is the median of several rounds, after a warm-up round.
 */
import { newAuditEntry, auditChainOf } from '@shared/audit/audit-ids';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { sealAuditEntries } from '@shared/audit/audit-seal';
import { generateAuditSigningKey } from '@shared/audit/audit-signing-key';
import { issueAccessToken } from '@shared/identity/tokens/token-issuer';
import { createTokenVerifier } from '@shared/identity/tokens/token-verifier';
import { openLocalKeyRing } from '@shared/identity/tokens/local-key-ring';
import { analyzeDatasetSource } from '@shared/tasks/data-analysis/analyze-datasets';
import type { DatasetSource } from '@shared/tasks/datasets/dataset-store';

const ROUNDS = 5;
const AUDIT_ENTRIES_PER_ROUND = 1_000;
const TOKENS_PER_ROUND = 2_000;
const DATASET_ROWS = 100_000;
// Chunks of the size a file or S3 stream hands over.
const DATASET_CHUNK_BYTES = 64 * 1024;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);

  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** Runs `round` once to warm up, then ROUNDS times; the median of its results. */
const measure = async (round: () => Promise<number> | number): Promise<number> => {
  await round();
  const results: number[] = [];
  for (let index = 0; index < ROUNDS; index += 1) {
    results.push(await round());
  }

  return median(results);
};

const chainEntries = (count: number): UnsealedAuditEntry[] => {
  const entries: UnsealedAuditEntry[] = [];
  while (entries.length < count) {
    const entry = newAuditEntry({
      service: 'blux-lite',
      operation: 'task.create',
      identity: 'service:bench',
      outcome: 'success',
      requestId: `bench-${entries.length}`,
      resource: { type: 'task', id: `tsk_${entries.length}` },
      details: { type: 'data_analysis' },
    });
    if (auditChainOf(entry.audit_id) === 0) {
      entries.push(entry);
    }
  }

  return entries;
};

const benchAuditSealing = async (): Promise<number> => {
  const key = generateAuditSigningKey();
  const entries = chainEntries(AUDIT_ENTRIES_PER_ROUND);

  return measure(() => {
    const started = performance.now();
    sealAuditEntries({ head: undefined, entries, key });

    return AUDIT_ENTRIES_PER_ROUND / ((performance.now() - started) / 1_000);
  });
};

const benchTokenVerification = async (): Promise<{ first: number; cached: number }> => {
  const ring = await openLocalKeyRing();
  const issuer = 'http://bench.local';
  const tokens = await Promise.all(
    Array.from({ length: TOKENS_PER_ROUND }, (_, index) =>
      issueAccessToken({
        key: ring.activeKey(),
        issuer,
        audience: 'blux-api',
        clientId: `bench-${index}`,
        scopes: ['tasks:read'],
      }),
    ),
  );
  const keys = async () => Promise.all(ring.publishedKeys().map((key) => key.publicJwk()));
  const perToken = async (verifyAll: () => Promise<void>): Promise<number> => {
    const started = performance.now();
    await verifyAll();

    return ((performance.now() - started) * 1_000) / TOKENS_PER_ROUND;
  };

  const first = await measure(async () => {
    // A new verifier each round, so that no token is in its cache yet.
    const verifier = createTokenVerifier({ issuer, audience: 'blux-api', keys });
    await verifier.refreshKeys();

    return perToken(async () => {
      for (const token of tokens) {
        await verifier.verify(token.accessToken);
      }
    });
  });
  const warm = createTokenVerifier({ issuer, audience: 'blux-api', keys });
  for (const token of tokens) {
    await warm.verify(token.accessToken);
  }
  const cached = await measure(() =>
    perToken(async () => {
      for (const token of tokens) {
        await warm.verify(token.accessToken);
      }
    }),
  );

  return { first, cached };
};

/** A CSV of five numeric columns and a label, with a few gaps, the shape of the sample. */
const syntheticCsv = (rows: number): Buffer => {
  const lines = ['id,amount,latency_ms,score,quantity,region'];
  for (let row = 0; row < rows; row += 1) {
    const gap = row % 97 === 0 ? '' : String((row * 7919) % 1000);
    lines.push(
      `${row},${(row % 5000) / 10},${gap},${Math.sin(row).toFixed(4)},${row % 13},r${row % 4}`,
    );
  }

  return Buffer.from(`${lines.join('\n')}\n`);
};

const benchDataAnalysis = async (): Promise<{
  megabytesPerSecond: number;
  rowsPerSecond: number;
}> => {
  const bytes = syntheticCsv(DATASET_ROWS);
  const source: DatasetSource = {
    format: 'csv',
    sizeBytes: bytes.length,
    stream: async function* () {
      for (let start = 0; start < bytes.length; start += DATASET_CHUNK_BYTES) {
        yield bytes.subarray(start, start + DATASET_CHUNK_BYTES);
      }
    },
  };
  const seconds = await measure(async () => {
    const started = performance.now();
    await analyzeDatasetSource(source, { dataset: 'ref://dataset/bench' });

    return (performance.now() - started) / 1_000;
  });

  return {
    megabytesPerSecond: bytes.length / 1_048_576 / seconds,
    rowsPerSecond: DATASET_ROWS / seconds,
  };
};

const main = async (): Promise<void> => {
  const sealing = await benchAuditSealing();
  const verification = await benchTokenVerification();
  const analysis = await benchDataAnalysis();

  console.log(`node ${process.version}, ${ROUNDS} rounds each, medians`);
  console.log(`audit sealing (ES512 + RFC 8785):   ${Math.round(sealing)} entries/s on one core`);
  console.log(`token verification, first time:    ${verification.first.toFixed(1)} µs per token`);
  console.log(`token verification, cached:        ${verification.cached.toFixed(1)} µs per token`);
  console.log(
    `data_analysis of a CSV:             ${analysis.megabytesPerSecond.toFixed(1)} MiB/s, ` +
      `${Math.round(analysis.rowsPerSecond)} rows/s on one core`,
  );
};

await main();
