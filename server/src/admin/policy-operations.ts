/**
 * `baton policy show` / `GET /admin/api/policy`: the policy in force (a server's, as reloaded by SIGHUP; the
 * command line's, from its config file): roles, role bindings, resources, clients (static ones without their
 * secret, first-party and blocked ids), delegation and identity chaining rules, and its SHA-256 as the
 * `policy.reloaded` audit record computes it (policy/audit.ts), so the trail's hash can be matched. A read.
 *
 * `baton policy reload` / `POST /admin/api/policy/reload`: the server asked re-reads its configuration file
 * and swaps its policy as SIGHUP does (an invalid file is refused, invalid_request naming the problem, and
 * the old policy stays), and every other process on the store follows within keys.refresh_interval_seconds
 * (policy/follow.ts). The command line reaches a server on the embedded store through its admin socket; on
 * PostgreSQL it moves the reload generation itself, so that every running server reloads.
 */
import { z } from 'zod';
import { policyParts, policySha256, type PolicySource } from '../policy/audit.ts';
import { policyCounts, PolicyFileError, type PolicyCounts } from '../policy/follow.ts';
import { bumpGeneration } from '../policy/generation.ts';
import { AdminError } from './errors.ts';
import { operation, policyOf, type AdminStores } from './operation.ts';

export type PolicyShow = { sha256: string } & ReturnType<typeof policyParts>;

/**
 * A reload: the generation every process follows, and the asked server's policy before and after. On
 * PostgreSQL without a server (the command line moved the generation itself) `sha256` and `after` are its own
 * file's, and what each server had before is not known here (null).
 */
export interface PolicyReload {
  generation: number;
  sha256: string;
  previous_sha256: string | null;
  changed: boolean | null;
  before: PolicyCounts | null;
  after: PolicyCounts;
  /** every other process re-reads its file within this many seconds (keys.refresh_interval_seconds) */
  within_seconds: number;
}

async function reload(stores: AdminStores): Promise<PolicyReload> {
  const within_seconds = stores.config.keys.refresh_interval_seconds;
  if (stores.reloadPolicy) {
    try {
      return { ...(await stores.reloadPolicy()), within_seconds };
    } catch (err) {
      if (err instanceof PolicyFileError) throw new AdminError('invalid_request', err.message);
      throw err;
    }
  }
  if (!stores.config.storage.postgres)
    throw new AdminError(
      'invalid_request',
      `policy reload needs a running server, and none holds storage.data_dir ${stores.config.storage.data_dir}: the next \`baton start\` reads the configuration file`,
    );
  // the command line on PostgreSQL: its file was read and validated to get here; every running server follows
  const generation = await bumpGeneration(stores.db);
  const source = sourceOf(stores);
  return {
    generation,
    sha256: policySha256(source),
    previous_sha256: null,
    changed: null,
    before: null,
    after: policyCounts(source),
    within_seconds,
  };
}

const counted = (c: PolicyCounts) => `${c.roles} roles, ${c.resources} resources, ${c.clients} static clients`;

function printReload(r: PolicyReload): string {
  const others = `generation ${r.generation}: every other process re-reads its configuration file within ${r.within_seconds} s (policy.reloaded, or policy.reload_refused if its file is invalid)\n`;
  if (r.before === null)
    return `${others.replace('every other process', 'every running server')}this file's policy: sha256 ${r.sha256} (${counted(r.after)})\n`;
  const sha = r.changed ? `sha256 ${r.sha256} (was ${r.previous_sha256})` : `sha256 ${r.sha256} (unchanged)`;
  return `reloaded: ${sha}\nbefore: ${counted(r.before)}\nafter:  ${counted(r.after)}\n${others}`;
}

/** the policy's configuration: a part a policy was made without is the config's (it is the same then) */
function sourceOf(stores: AdminStores): PolicySource {
  return { ...stores.config, ...policyOf(stores).source };
}

export const POLICY_OPERATIONS: [string, ReturnType<typeof operation>][] = [
  [
    'policy.show',
    operation({
      args: z.strictObject({}),
      run(stores): Promise<PolicyShow> {
        const source = sourceOf(stores);
        return Promise.resolve({ sha256: policySha256(source), ...policyParts(source) });
      },
      print: ({ sha256, ...parts }: PolicyShow) => `sha256 ${sha256}\n${JSON.stringify(parts, null, 2)}\n`,
    }),
  ],
  [
    'policy.reload',
    operation({
      args: z.strictObject({}),
      run: reload,
      print: printReload,
    }),
  ],
];
