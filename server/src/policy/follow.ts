/**
 * A policy reload asked of one process reaches every process (issue #15; scale-out: any number of processes
 * on one PostgreSQL behave as one). The process asked (`POST /admin/api/policy/reload`, `baton policy reload`
 * through the admin socket) re-reads its configuration file, refuses an invalid one (its policy stays, nothing
 * else moves), then bumps the reload generation (generation.ts) and swaps its policy as SIGHUP does. Every
 * process polls the generation (every keys.refresh_interval_seconds, lifecycle/timers.ts) and, when it moved,
 * re-reads ITS OWN file: the files must say the same, as with SIGHUP. A process whose file is invalid at that
 * moment logs `policy.reload_refused` and keeps its policy (it does not retry that generation: fix the file
 * and reload again); a process that starts later adopts the generation it finds (it has just read its file)
 * and reloads only when it moves again. (A reload asked in the moment between a starting process's read of its
 * file and that adoption does not reach that process: a file changed in that moment needs another reload.) A
 * process's reloads are serialized: its own request and its poll never both apply one generation.
 */
import type { Knex } from 'knex';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { policySha256, type PolicySource } from './audit.ts';
import { bumpGeneration, currentGeneration } from './generation.ts';

/** how big a policy is (what a reload's answer compares) */
export interface PolicyCounts {
  roles: number;
  resources: number;
  clients: number;
}

export const policyCounts = (c: PolicySource): PolicyCounts => ({
  roles: Object.keys(c.roles).length,
  resources: c.resources.length,
  clients: c.clients.static.length,
});

/** What a reload asked of this process answers (admin/policy-operations.ts prints it). */
export interface PolicyReloadResult {
  /** the reload generation every process follows */
  generation: number;
  sha256: string;
  previous_sha256: string;
  changed: boolean;
  before: PolicyCounts;
  after: PolicyCounts;
}

/** The file could not be used: the message names the file and the problem (config/load.ts ConfigError). */
export class PolicyFileError extends Error {
  override name = 'PolicyFileError';
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface FollowDeps {
  db: Knex;
  log: Log;
  /** the configuration file this process was started with; none (startServer without one): nothing to re-read */
  file: string | undefined;
  /** what the policy in force was made of */
  current: () => PolicySource;
  /** swaps the policy in, as SIGHUP does (main.ts reloadPolicy: logs policy.reloaded, records it) */
  apply: (next: Config, generation: number) => Promise<void>;
  load?: (file: string) => Config;
}

export interface PolicyFollower {
  /** adopts the generation in the store (at start: the file was just read) */
  start: () => Promise<void>;
  /** this process was asked: re-read, validate, bump the generation, apply; rejects with PolicyFileError */
  reload: () => Promise<PolicyReloadResult>;
  /** one poll: re-read the file when the generation moved (never throws for a bad file: logs it) */
  follow: () => Promise<void>;
}

export function policyFollower(deps: FollowDeps): PolicyFollower {
  const load = deps.load ?? loadConfigFile;
  let seen: number | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  };
  /** the file, validated; PolicyFileError naming the problem */
  const read = (generation: number | undefined): Config => {
    const problem = (reason: string) => {
      deps.log.error({ reason, ...(generation === undefined ? {} : { generation }) }, 'policy.reload_refused');
      return new PolicyFileError(reason);
    };
    if (!deps.file) throw problem('this server was started without a configuration file: there is nothing to re-read');
    try {
      return load(deps.file);
    } catch (err) {
      throw problem((err as Error).message);
    }
  };
  return {
    start: () =>
      serial(async () => {
        seen = await currentGeneration(deps.db);
      }),
    reload: () =>
      serial(async () => {
        const next = read(undefined);
        const previous = deps.current();
        // validated first: an invalid file moves nothing, here or elsewhere
        const generation = await bumpGeneration(deps.db);
        seen = Math.max(seen ?? 0, generation);
        await deps.apply(next, generation);
        const [sha256, previousSha256] = [policySha256(next), policySha256(previous)];
        return {
          generation,
          sha256,
          previous_sha256: previousSha256,
          changed: sha256 !== previousSha256,
          before: policyCounts(previous),
          after: policyCounts(next),
        };
      }),
    follow: () =>
      serial(async () => {
        const generation = await currentGeneration(deps.db);
        if (seen !== undefined && generation <= seen) return;
        const first = seen === undefined;
        seen = generation;
        if (first) return; // not started yet: adopt it
        let next: Config;
        try {
          next = read(generation);
        } catch {
          return; // logged; the policy in force stays
        }
        await deps.apply(next, generation);
      }),
  };
}
