/**
 * baton's conformance suite: black-box scenarios over HTTP only, each naming the clause it proves and its
 * level. Runs against any baton deployment (`npm run conformance -- --issuer <url> --fixture <file>`); the
 * fixture names the clients, a user of the local directory for the scripted sign-in, and optional parts
 * (token exchange, ID-JAG with a test IdP key, DCR, an MCP server behind the kit). Scenarios live in
 * src/scenarios/, one module per area; traceability: conformance/README.md.
 */
import { createContext, Failure, type Fixture, type Result, type Scenario } from './context.ts';
import { authorization } from './scenarios/authorization.ts';
import { discovery } from './scenarios/discovery.ts';
import { dpop } from './scenarios/dpop.ts';
import { exchange } from './scenarios/exchange.ts';
import { idJag } from './scenarios/id-jag.ts';
import { introspection } from './scenarios/introspection.ts';
import { registration } from './scenarios/registration.ts';
import { resourceServer } from './scenarios/resource-server.ts';
import { statusList } from './scenarios/status-list.ts';
import { tokens } from './scenarios/tokens.ts';

export type { Fixture, Result, Scenario } from './context.ts';

export const scenarios: Scenario[] = [
  ...discovery,
  ...authorization,
  ...tokens,
  ...exchange,
  ...idJag,
  ...introspection,
  ...statusList,
  ...registration,
  ...dpop,
  ...resourceServer,
];

export async function runSuite(issuer: string, fixture: Fixture, only?: string[]): Promise<Result[]> {
  const ctx = await createContext(issuer, fixture);
  const results: Result[] = [];
  try {
    for (const s of scenarios) {
      if (only && !only.includes(s.id)) continue;
      const base = { id: s.id, clause: s.clause, level: s.level, title: s.title };
      if (s.needs?.some((n) => fixture[n] === undefined || fixture[n] === false)) {
        results.push({ ...base, status: 'skipped', detail: `the fixture has no ${s.needs.join(', ')}` });
        continue;
      }
      try {
        await s.run(ctx);
        results.push({ ...base, status: 'pass' });
      } catch (err) {
        results.push({
          ...base,
          status: 'fail',
          detail: err instanceof Failure ? err.message : `${(err as Error).name}: ${(err as Error).message}`,
        });
      }
    }
  } finally {
    await ctx.close();
  }
  return results;
}
