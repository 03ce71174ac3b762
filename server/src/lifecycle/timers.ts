/**
 * The background loops of a running server. Every process runs both, and both are safe to run on any
 * number of processes at once:
 *   - key refresh, every keys.refresh_interval_seconds: re-read the key table, so that a key another process
 *     (or `baton keys`) published, activated or retired is followed here too;
 *   - storage GC, every storage.gc_interval_seconds: delete expired records (adapters/STORAGE.md) and token
 *     lineage past storage.lineage_retention_days (idempotent deletes in bounded batches).
 * The timers never keep the process alive (unref); stop() ends both, first thing on shutdown.
 */
import type { Logger } from 'pino';
import { collectExpiredPostgres } from '../../../adapters/src/postgres-adapter.ts';
import type { Config } from '../config/schema.ts';
import { collectLineage } from '../provider/lineage.ts';
import type { Storage } from '../storage/index.ts';

export interface Background {
  stop(): void;
}

export function startBackground(
  config: Config,
  log: Logger,
  storage: Storage,
  refreshKeys: () => Promise<void>,
): Background {
  const timers = [
    every(config.keys.refresh_interval_seconds, () => {
      refreshKeys().catch((err: Error) => log.warn({ err: { message: err.message } }, 'keys.refresh_failed'));
    }),
    every(config.storage.gc_interval_seconds, () => collectGarbage(config, log, storage)),
  ];
  return { stop: () => timers.forEach((timer) => clearInterval(timer)) };
}

function every(seconds: number, run: () => void): NodeJS.Timeout {
  const timer = setInterval(run, seconds * 1000);
  timer.unref();
  return timer;
}

function collectGarbage(config: Config, log: Logger, storage: Storage): void {
  Promise.all([
    collectExpiredPostgres(storage.db),
    collectLineage(storage.db, config.storage.lineage_retention_days),
  ]).then(
    ([payloads, lineage]) => (payloads || lineage) && log.info({ deleted: payloads, lineage }, 'storage.gc'),
    (err: Error) => log.warn({ err: { message: err.message } }, 'storage.gc_failed'),
  );
}
