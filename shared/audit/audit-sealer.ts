/**
 * The audit sealer: what the `sealAudit` stream consumer does with the entries written since
 * its last batch. Signing costs milliseconds per entry, so it happens here, behind the table's
 * stream, and never on the request path.
 *
 * For one batch:
 *   1. repeats are dropped and the entries grouped by chain (`auditChainOf`), each group by
 *      timestamp, so that a chain reads in time order as far as its writers' clocks agree;
 *   2. the active key is published before it seals anything, so that no sealed entry is ever
 *      visible without the key that verifies it;
 *   3. the chains are sealed in parallel, each in steps of at most the store's
 *      `maxEntriesPerCommit` entries: read the head, `sealAuditEntries`, and one transaction
 *      that moves the head from the seq it was read at, seals each entry that has no seal yet
 *      and stores the checkpoint;
 *   4. a step that conflicts (`AuditSealConflictError`) drops the entries found sealed already
 *      (a repeated delivery), and tries again on a fresh head after a short random pause (another
 *      sealer moved the head), at most `MAX_SEAL_ATTEMPTS` times;
 *   5. a chain that still fails fails the batch, once every other chain has been sealed: the
 *      event source mapping retries it, and the entries sealed meanwhile are skipped.
 */
import { recordMetric } from '@shared/metrics/metrics';
import type { UnsealedAuditEntry } from './audit-entry';
import { auditChainOf } from './audit-ids';
import type { AuditKeySource } from './audit-key-source';
import { sealAuditEntries } from './audit-seal';
import type { AuditSigningKey } from './audit-signing-key';
import { AuditSealConflictError, type AuditCheckpointStore } from './audit-store';

/** Tries of one sealing step before the chain fails the batch. */
export const MAX_SEAL_ATTEMPTS = 8;

/** Upper bound of the random pause after a lost race; it doubles with each try. */
export const SEAL_RETRY_BASE_DELAY_MS = 20;

export type AuditSealerErrorCode = 'auditSealer.chainsFailed' | 'auditSealer.contention';

/** A batch the sealer could not seal completely; the stream delivers it again. */
export class AuditSealerError extends Error {
  override readonly name = 'AuditSealerError';
  readonly code: AuditSealerErrorCode;
  /** The chains left with unsealed entries of the batch. */
  readonly chains: readonly number[];

  constructor(
    code: AuditSealerErrorCode,
    message: string,
    chains: readonly number[],
    cause?: unknown,
  ) {
    super(`${code}: ${message}`, { cause });
    this.code = code;
    this.chains = chains;
  }
}

export interface AuditSealerOptions {
  readonly store: AuditCheckpointStore;
  readonly keys: AuditKeySource;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** What a batch came to. */
export interface AuditSealReport {
  /** Entries this call sealed. */
  readonly sealed: number;
  /** Entries found sealed already, by an earlier delivery or another sealer. */
  readonly skipped: number;
}

export interface AuditSealer {
  /** Seals `entries`; throws `AuditSealerError` when a chain could not be sealed. */
  seal(entries: readonly UnsealedAuditEntry[]): Promise<AuditSealReport>;
}

const defaultSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

const byTimeThenId = (a: UnsealedAuditEntry, b: UnsealedAuditEntry): number => {
  if (a.timestamp !== b.timestamp) {
    return a.timestamp < b.timestamp ? -1 : 1;
  }

  return a.audit_id < b.audit_id ? -1 : a.audit_id > b.audit_id ? 1 : 0;
};

/** The entries of each chain, once each, by timestamp and then id (the listing's order). */
export const groupByChain = (
  entries: readonly UnsealedAuditEntry[],
): Map<number, UnsealedAuditEntry[]> => {
  const unique = new Map(entries.map((entry) => [entry.audit_id, entry]));
  const chains = new Map<number, UnsealedAuditEntry[]>();
  for (const entry of unique.values()) {
    const chain = auditChainOf(entry.audit_id);
    chains.set(chain, [...(chains.get(chain) ?? []), entry]);
  }
  for (const group of chains.values()) {
    group.sort(byTimeThenId);
  }

  return chains;
};

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    result.push(items.slice(start, start + size));
  }

  return result;
};

/** A sealer over a checkpoint store and a key source. */
export const createAuditSealer = (options: AuditSealerOptions): AuditSealer => {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const publishedKids = new Set<string>();

  /** Publishes every key of the source once per process, and again when the active one changes. */
  const publishedKey = async (): Promise<AuditSigningKey> => {
    const key = await options.keys.activeKey();
    if (publishedKids.has(key.kid)) {
      return key;
    }
    const createdAt = now().toISOString();
    for (const jwk of await options.keys.publicKeys()) {
      const kid = String(jwk.kid);
      await options.store.publishKey({ kid, jwk, createdAt });
      publishedKids.add(kid);
    }

    return key;
  };

  /** One step: at most `maxEntriesPerCommit` entries of one chain, retried on conflicts. */
  const sealStep = async (
    chain: number,
    entries: readonly UnsealedAuditEntry[],
    key: AuditSigningKey,
  ): Promise<AuditSealReport> => {
    let pending = entries;
    for (let attempt = 0; attempt < MAX_SEAL_ATTEMPTS; attempt += 1) {
      const previous = await options.store.head(chain);
      const batch = sealAuditEntries({ head: previous, entries: pending, key, now: now() });
      try {
        await options.store.commitSeal({ previous, ...batch });

        return { sealed: pending.length, skipped: entries.length - pending.length };
      } catch (error) {
        if (!(error instanceof AuditSealConflictError)) {
          throw error;
        }
        const sealedAlready = new Set(error.alreadySealed);
        pending = pending.filter((entry) => !sealedAlready.has(entry.audit_id));
        if (pending.length === 0) {
          return { sealed: 0, skipped: entries.length };
        }
        if (error.headMoved) {
          await sleep(random() * SEAL_RETRY_BASE_DELAY_MS * 2 ** attempt);
        }
      }
    }

    throw new AuditSealerError(
      'auditSealer.contention',
      `chain ${chain} kept moving under ${MAX_SEAL_ATTEMPTS} attempts to seal it`,
      [chain],
    );
  };

  const sealChain = async (
    chain: number,
    entries: readonly UnsealedAuditEntry[],
    key: AuditSigningKey,
  ): Promise<AuditSealReport> => {
    let sealed = 0;
    let skipped = 0;
    for (const step of chunks(entries, options.store.maxEntriesPerCommit)) {
      const report = await sealStep(chain, step, key);
      // Counted per committed step: a chain that fails later keeps what it already sealed.
      recordMetric('AuditEntriesSealed', report.sealed);
      sealed += report.sealed;
      skipped += report.skipped;
    }

    return { sealed, skipped };
  };

  return {
    seal: async (entries) => {
      const groups = groupByChain(entries);
      if (groups.size === 0) {
        return { sealed: 0, skipped: 0 };
      }
      const key = await publishedKey();
      const chains = [...groups.keys()];
      const outcomes = await Promise.allSettled(
        chains.map((chain) => sealChain(chain, groups.get(chain) ?? [], key)),
      );

      const failed = chains.filter((_, index) => outcomes[index]?.status === 'rejected');
      if (failed.length > 0) {
        const causes = outcomes.flatMap((outcome) =>
          outcome.status === 'rejected' ? [outcome.reason as unknown] : [],
        );
        throw new AuditSealerError(
          'auditSealer.chainsFailed',
          `chains ${failed.join(', ')} could not be sealed`,
          failed,
          new AggregateError(causes, 'sealing failures'),
        );
      }

      return outcomes.reduce(
        (total, outcome) =>
          outcome.status === 'fulfilled'
            ? {
                sealed: total.sealed + outcome.value.sealed,
                skipped: total.skipped + outcome.value.skipped,
              }
            : total,
        { sealed: 0, skipped: 0 },
      );
    },
  };
};
