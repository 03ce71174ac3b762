/**
 * `baton policy show` / `GET /admin/api/policy`: the policy in force (a server's, as reloaded by SIGHUP; the
 * command line's, from its config file): roles, role bindings, resources, clients (static ones without their
 * secret, first-party and blocked ids), delegation and identity chaining rules, and its SHA-256 as the
 * `policy.reloaded` audit record computes it (policy/audit.ts), so the trail's hash can be matched. A read.
 */
import { z } from 'zod';
import { policyParts, policySha256, type PolicySource } from '../policy/audit.ts';
import { Policy } from '../policy/policy.ts';
import { operation, type AdminStores } from './operation.ts';

export type PolicyShow = { sha256: string } & ReturnType<typeof policyParts>;

/** the policy's configuration: a part a policy was made without is the config's (it is the same then) */
function sourceOf(stores: AdminStores): PolicySource {
  const policy = stores.policy?.() ?? new Policy(stores.config);
  return { ...stores.config, ...policy.source };
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
];
