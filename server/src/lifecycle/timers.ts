/**
 * The background loops of a running server. Every process runs both, and both are safe to run on any
 * number of processes at once:
 *   - key refresh, every keys.refresh_interval_seconds: re-read the key table, so that a key another process
 *     (or `baton keys`) published, activated or retired is followed here too;
 *   - policy reload generation, at the same cadence: a reload asked of another process (the admin API,
 *     `baton policy reload`) is followed here too: this process re-reads its own file (policy/follow.ts);
 *   - block refresh, every clients.block_refresh_interval_seconds: re-read the clients blocked at runtime
 *     (revocation/client-blocks.ts), so that a block or unblock another process (or `baton clients`) made
 *     applies here too;
 *   - storage GC, every storage.gc_interval_seconds: delete expired records (adapters/STORAGE.md) and token
 *     lineage past storage.lineage_retention_days (idempotent deletes in bounded batches), and audit events
 *     past audit.retention_days (up to a checkpoint: audit/store.ts retainAudit);
 *   - audit checkpoints, every audit.checkpoint_every events or audit.checkpoint_interval_seconds
 *     (audit/checkpoint.ts; serialized by the audit lock, so any number of processes may run them); none
 *     with audit.enabled false (the process writes no events), which is logged once as `audit.disabled`.
 * The timers never keep the process alive (unref); stop() ends them all, first thing on shutdown.
 */
import type { Logger } from 'pino';
import { collectExpiredPostgres } from '../../../adapters/src/postgres-adapter.ts';
import type { Config } from '../config/schema.ts';
import { collectLineage } from '../provider/lineage.ts';
import { retireStatusLists } from '../status-list/retire.ts';
import { auditKey, startCheckpoints, type Checkpointing } from '../audit/checkpoint.ts';
import { retainAudit } from '../audit/store.ts';
import { sharedAuditWriter } from '../audit/writer.ts';
import { resolveKek } from '../keys/kek.ts';
import type { Storage } from '../storage/index.ts';
import { collectSessionLogins } from '../sessions/logins.ts';

export interface Background {
  stop(): void;
}

export function startBackground(
  config: Config,
  log: Logger,
  storage: Storage,
  refreshKeys: () => Promise<void>,
  followPolicy: () => Promise<void> = () => Promise.resolve(),
  refreshBlocks: () => Promise<void> = () => Promise.resolve(),
): Background {
  const timers = [
    every(config.keys.refresh_interval_seconds, () => {
      refreshKeys().catch((err: Error) => log.warn({ err: { message: err.message } }, 'keys.refresh_failed'));
      followPolicy().catch((err: Error) => log.warn({ err: { message: err.message } }, 'policy.follow_failed'));
    }),
    every(config.clients.block_refresh_interval_seconds, () => {
      refreshBlocks().catch((err: Error) =>
        log.warn({ err: { message: err.message } }, 'client.blocks_refresh_failed'),
      );
    }),
    every(config.storage.gc_interval_seconds, () => collectGarbage(config, log, storage)),
  ];
  const checkpoints = startAuditCheckpoints(config, log, storage);
  return {
    stop: () => {
      timers.forEach((timer) => clearInterval(timer));
      void checkpoints.stop();
    },
  };
}

function startAuditCheckpoints(config: Config, log: Logger, storage: Storage): Pick<Checkpointing, 'stop'> {
  if (!config.audit.enabled) {
    // no trail from this process: say so where it matters (docs/config.md `audit.enabled`)
    if (config.mode !== 'development') log.warn({ setting: 'audit.enabled' }, 'audit.disabled');
    return { stop: () => Promise.resolve() };
  }
  return startCheckpoints(sharedAuditWriter(storage.db), storage.db, (trx) => auditKey(trx, resolveKek(config)), log, {
    every: config.audit.checkpoint_every,
    intervalSeconds: config.audit.checkpoint_interval_seconds,
  });
}

function every(seconds: number, run: () => void): NodeJS.Timeout {
  const timer = setInterval(run, seconds * 1000);
  timer.unref();
  return timer;
}

function collectGarbage(config: Config, log: Logger, storage: Storage): void {
  const days = config.audit.retention_days;
  Promise.all([
    collectExpiredPostgres(storage.db),
    collectLineage(storage.db, config.storage.lineage_retention_days),
    days > 0 ? retainAudit(storage.db, days) : 0,
    retireStatusLists(storage.db),
    collectSessionLogins(storage.db),
  ]).then(
    ([payloads, lineage, audit, lists, sessionLogins]) =>
      (payloads || lineage || audit || lists || sessionLogins) &&
      log.info({ deleted: payloads, lineage, audit, status_lists: lists, session_logins: sessionLogins }, 'storage.gc'),
    (err: Error) => log.warn({ err: { message: err.message } }, 'storage.gc_failed'),
  );
}
