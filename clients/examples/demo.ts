/**
 * npm run demo: the incident scenario (README.md, "See it work"; clients/README.md, "The demo"), end to end,
 * on one machine with nothing else running:
 * baton on its embedded store with the local directory, the logs and analytics MCP servers and the cost
 * service built on the kit, and an IDE agent built on the MCP SDK client that signs in as Alice (developer)
 * and as Bob (SRE), calls allowed and forbidden tools, steps up, triggers a hop exchange, and prints the
 * tokens and the audit trail. It finishes by itself and leaves nothing running (exit 0 when every step
 * behaved as the scenario says).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import { parseConfig } from '../../server/src/config/load.ts';
import { createLogger } from '../../server/src/logger.ts';
import { startServer } from '../../server/src/main.ts';
import { createAuditReporter, type AuditEvent, type AuditReporter } from '../src/index.ts';
import { scopeChallenges, stepUp } from './step-up.ts';
import { answerAs, walkSignIn } from '../../conformance/src/browser.ts';
import { startAnalyticsMcp } from './analytics-mcp.ts';
import { startCostService, type CostAuditEvent } from './cost-service.ts';
import { startLogsMcp } from './logs-mcp.ts';
import { GATEWAY, gatewaySteps } from './gateway-steps.ts';

const ISSUER = 'http://127.0.0.1:9500';
const LOGS = 'http://127.0.0.1:9501/mcp';
const ANALYTICS = 'http://127.0.0.1:9502/mcp';
const COST = 'http://127.0.0.1:9503';
const REDIRECT = 'http://127.0.0.1:9599/callback';
const out = (s = '') => process.stdout.write(`${s}\n`);
const run = promisify(execFile);
/** the audit trail: the MCP servers' events (one per call) and the cost service's (one per request) */
type AuditRow = (AuditEvent | CostAuditEvent) & { server: string };
const audit: AuditRow[] = [];
let failures = 0;
const check = (ok: boolean, what: string) => {
  out(`  ${ok ? '✔' : '✘'} ${what}`);
  if (!ok) failures += 1;
};

/** The person at the browser: signs in with the local directory; returns the code, or why not. */
async function browser(url: URL, username: string): Promise<{ code?: string; refused?: string }> {
  const answer = answerAs({ username, password: `${username}-password` });
  const back = await walkSignIn(url.href, {
    base: ISSUER,
    stopAt: (u) => u.href.startsWith(REDIRECT),
    answer: (html) => {
      if (html.includes('<h1>No access</h1>')) {
        out(`  baton shows ${username} a "No access" page: ${/None of the permissions[^<]*/.exec(html)?.[0] ?? ''}…`);
        return {};
      }
      return answer(html);
    },
  });
  const code = back.searchParams.get('code');
  return code ? { code } : { refused: back.searchParams.get('error') ?? 'error' };
}

class Agent implements OAuthClientProvider {
  saved: OAuthTokens | undefined;
  verifier = '';
  pending: URL | undefined;
  readonly redirectUrl = REDIRECT;
  readonly clientMetadata = {
    client_name: 'IDE agent',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
  } as OAuthClientMetadata;
  clientInformation(): OAuthClientInformationMixed {
    return { client_id: 'ide-agent' }; // pre-registered, first-party (config)
  }
  tokens() {
    return this.saved;
  }
  saveTokens(t: OAuthTokens) {
    this.saved = t;
  }
  redirectToAuthorization(url: URL) {
    this.pending = url;
  }
  invalidateCredentials(what: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (what === 'tokens' || what === 'all') this.saved = undefined;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** An MCP session for one user at one server; signs in (and steps up) through the browser when asked. */
async function session(user: string, server: string) {
  const agent = new Agent();
  const client = new Client({ name: 'ide-agent', version: '1.0.0' });
  // the step-up recipe (./step-up.ts): the transport never sees an insufficient_scope challenge, so it does
  // not refresh and re-send the refused call; the agent steps up itself
  const challenges = scopeChallenges();
  const transport = () =>
    new StreamableHTTPClientTransport(new URL(server), { authProvider: agent, fetch: challenges.fetch });
  const signIn = async (): Promise<boolean> => {
    const result = await browser(agent.pending!, user);
    agent.pending = undefined;
    if (!result.code) return false;
    await transport().finishAuth(result.code);
    return true;
  };
  try {
    await client.connect(transport());
  } catch (err) {
    if (!(err instanceof UnauthorizedError) || !(await signIn())) throw err;
    await client.connect(transport());
  }
  return {
    agent,
    close: () => client.close(),
    /** tools/list: each tool, marked with the scope it needs when this token does not cover it */
    tools: async () =>
      (await client.listTools()).tools
        .map((t) => {
          const needs = /\(needs (\S+): step up\)/.exec(t.description ?? '')?.[1];
          return needs ? `${t.name} (step-up: ${needs})` : t.name;
        })
        .sort(),
    /**
     * Calls a tool. On 403 insufficient_scope the agent steps up (./step-up.ts): a new authorization for
     * the scopes it has plus those the server challenged (MCP 2026-07-28, SEP-2350: the union is the
     * client's job), then retries once. If baton does not grant the scope, the user's roles do not allow it.
     */
    async call(
      name: string,
      args: Record<string, unknown> = {},
    ): Promise<{ text?: string; refused?: string; meta?: Record<string, unknown> }> {
      try {
        const r = await client.callTool({ name, arguments: args });
        return { text: (r.content as { text: string }[])[0]?.text, meta: r._meta as Record<string, unknown> };
      } catch (err) {
        const challenged = challenges.take();
        if (!challenged) return { refused: (err as Error).message };
        const { scope, result } = await stepUp(agent, new URL(server), challenged);
        out(
          `  the MCP server answered 403 insufficient_scope, scope="${challenged}"; the agent asks baton for "${scope}"`,
        );
        if (result !== 'REDIRECT' || !(await signIn())) return { refused: 'baton did not grant the step-up' };
        const granted = agent.saved?.scope ?? '';
        const missing = scope.split(' ').filter((s) => !granted.split(' ').includes(s));
        if (missing.length > 0) {
          return { refused: `baton granted only "${granted}": the user's roles do not include ${missing.join(' ')}` };
        }
      }
      await client.close();
      await client.connect(transport());
      const r = await client.callTool({ name, arguments: args });
      return { text: (r.content as { text: string }[])[0]?.text, meta: r._meta as Record<string, unknown> };
    },
  };
}

/**
 * `baton …` as an operator runs it: the command line, reaching the running server's embedded store (through
 * its admin socket); `stdin` is what the command reads (a secret's value).
 */
async function batonCommand(dir: string, config: object, args: string[], stdin?: string): Promise<string> {
  const file = join(dir, 'baton.json');
  writeFileSync(file, JSON.stringify({ ...config, logging: { level: 'warn' } }));
  const cli = fileURLToPath(new URL('../../server/src/cli.ts', import.meta.url));
  const [command, ...rest] = args;
  const child = run(process.execPath, [cli, command!, '--config', file, ...rest]);
  child.child.stdin?.end(stdin ?? '');
  return (await child).stdout;
}
const auditCommand = (dir: string, config: object, args: string[]) => batonCommand(dir, config, ['audit', ...args]);

const show = (label: string, token: string) => {
  const c = decodeJwt(token);
  out(
    `  ${label}: sub=${String(c.sub)} aud=${String(c.aud)} client_id=${String(c.client_id)} scope="${String(c.scope)}" roles=${JSON.stringify(c.roles)}${c.act ? ` act=${JSON.stringify(c.act)}` : ''}`,
  );
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'baton-demo-'));
  const text = readFileSync(new URL('./demo.yaml', import.meta.url), 'utf8');
  const parsed = parseConfig(text, { env: {}, source: 'demo.yaml' });
  const config = { ...parsed, storage: { ...parsed.storage, data_dir: join(dir, 'data') } };
  const baton = await startServer(config, createLogger('warn'));
  // each server reports its calls to baton's audit trail with its own client credentials (clients/README.md)
  const secrets = {
    logs: ['logs-mcp', 'demo-logs-mcp-secret-0123456789abcdef'],
    analytics: ['analytics-mcp', 'demo-analytics-mcp-secret-0123456789abc'],
    cost: ['cost-service', 'demo-cost-service-secret-0123456789abcd'],
  } as const;
  const reporters = Object.fromEntries(
    Object.entries(secrets).map(([name, [clientId, clientSecret]]) => [
      name,
      createAuditReporter({ issuer: ISSUER, clientId, clientSecret }),
    ]),
  ) as Record<keyof typeof secrets, AuditReporter>;
  const servers: Server[] = await Promise.all([
    startLogsMcp({
      issuer: ISSUER,
      port: 9501,
      costUrl: COST,
      clientSecret: secrets.logs[1],
      reporter: reporters.logs,
      audit: (e) => audit.push({ ...e, server: 'logs' }),
    }),
    startAnalyticsMcp({
      issuer: ISSUER,
      port: 9502,
      reporter: reporters.analytics,
      audit: (e) => audit.push({ ...e, server: 'analytics' }),
    }),
    startCostService({
      issuer: ISSUER,
      port: 9503,
      clientSecret: secrets.cost[1],
      reporter: reporters.cost,
      audit: (e) => audit.push({ ...e, server: 'cost' }),
    }),
  ]);
  try {
    out('baton demo: the incident scenario');
    out(
      `baton ${ISSUER} · logs MCP ${LOGS} · analytics MCP ${ANALYTICS} · cost service ${COST} · gateway ${GATEWAY}\n`,
    );

    out('1. Alice (group developers → role developer) signs in from her IDE agent and reads the logs');
    const alice = await session('alice', LOGS);
    out(`  tools/list offers her: ${(await alice.tools()).join(', ')}`);
    const logs = await alice.call('read_logs');
    check(logs.text?.startsWith('3 errors') === true, `read_logs → ${logs.text}`);
    show('her token', alice.agent.saved!.access_token);

    out('\n2. Alice tries to trigger an incident: refused, and baton will not grant it on step-up');
    const trigger = await alice.call('trigger_incident');
    check(
      trigger.refused?.includes('roles do not include incidents.trigger') === true,
      `trigger_incident → refused: ${trigger.refused}`,
    );

    out('\n3. The logs MCP server asks the cost service for her, by token exchange (RFC 8693)');
    const cost = await alice.call('cost_of_logs');
    check(cost.text?.startsWith('logging costs') === true, `cost_of_logs → ${cost.text}`);
    show('the exchanged token', String(cost.meta?.exchangedToken));
    const act = decodeJwt(String(cost.meta?.exchangedToken)).act as { sub: string; act?: { sub: string } };
    check(
      act.sub === 'logs-mcp' && act.act?.sub === 'ide-agent',
      'act: the logs MCP server is the current actor, the IDE agent the prior one',
    );
    for (const e of audit.filter((x) => x.type === 'cost.request'))
      out(`  cost service: subject ${e.idp?.sub}, actor ${e.actorChain[0]}, chain ${e.actorChain.join(' ← ')}`);
    await alice.close();

    out('\n4. Alice queries analytics (her role grants analytics.query)');
    const analytics = await session('alice', ANALYTICS);
    const q = await analytics.call('query');
    check(q.text === 'p99 latency 412 ms', `query → ${q.text}`);
    await analytics.close();

    out('\n5. Bob (group oncall → role sre) starts with logs.read, then steps up to incidents.trigger');
    const bob = await session('bob', LOGS);
    show('his first token', bob.agent.saved!.access_token);
    out(`  tools/list offers him: ${(await bob.tools()).join(', ')}`);
    const inc = await bob.call('trigger_incident');
    check(inc.text === 'incident INC-42 declared by bob', `trigger_incident → ${inc.text}`);
    show('his token after step-up', bob.agent.saved!.access_token);
    out(`  tools/list now offers him: ${(await bob.tools()).join(', ')}`);
    await bob.close();

    out('\n6. The audit trail: one line per MCP call (the MCP servers) and per request (the cost service)');
    const subjects = new Map<string, string>();
    for (const a of await baton.accounts.list()) subjects.set(a.id, a.idpSubject);
    const userOf = (e: AuditRow) => (e.subject ? (subjects.get(e.subject) ?? e.subject) : '-');
    const what = (e: AuditRow) => (e.type === 'cost.request' ? `GET ${e.path}` : String(e.name));
    const rows = audit.filter((e) => e.type === 'cost.request' || e.method === 'tools/call');
    for (const e of rows) {
      out(
        `  ${e.at}  ${e.server.padEnd(9)} ${userOf(e).padEnd(6)} ${what(e).padEnd(17)} ${e.outcome.padEnd(8)} ${e.status}  via ${e.actorChain.join(' ← ') || '-'}${e.reason ? `  (${e.reason})` : ''}`,
      );
    }
    const lines = (user: string, outcome: string) =>
      rows.filter((e) => userOf(e) === user && what(e) === 'trigger_incident' && e.outcome === outcome).length;
    check(
      lines('alice', 'denied') === 1 && lines('bob', 'denied') === 1 && lines('bob', 'allowed') === 1,
      "one line per call: Alice's refused trigger_incident once, Bob's refused once (before his step-up), then allowed",
    );
    check(
      rows.some((e) => e.type === 'cost.request' && e.outcome === 'allowed' && userOf(e) === 'alice'),
      "the cost service's hop has its line: Alice, via logs-mcp ← ide-agent",
    );

    out("\n7. baton's own trail: the servers reported those calls to baton, which ties each one to the person");
    out('  and the token chain; `baton audit trace` on the token the cost service got shows the whole tree');
    await Promise.all(Object.values(reporters).map((r) => r.flush()));
    const exchanged = String(decodeJwt(String(cost.meta?.exchangedToken)).jti);
    // a jti may begin with '-' (base64url): after '--' it is not read as an option
    const trace = await auditCommand(dir, config, ['trace', '--', exchanged]);
    out(`  $ baton audit trace -- ${exchanged}`);
    for (const line of trace.split('\n').filter(Boolean)) out(`  ${line}`);
    check(
      /^ {2}token /m.test(trace) && /^ {4}\S.* api\.called +success .* GET \/cost\/logs → 200/m.test(trace),
      "the trace: her token, the tool call at the logs MCP, the exchanged token and the cost service's request under it",
    );
    const refused = await auditCommand(dir, config, ['search', '--agent', 'ide-agent', '--tool', 'trigger_incident']);
    out('  $ baton audit search --agent ide-agent --tool trigger_incident');
    for (const line of refused.split('\n').filter(Boolean)) out(`  ${line}`);
    check(
      (refused.match(/ refused /g) ?? []).length === 2 && (refused.match(/ success /g) ?? []).length === 1,
      "the search: Alice's and Bob's refused trigger_incident (403), then Bob's, allowed after his step-up",
    );

    await gatewaySteps({
      baton,
      config,
      session,
      baton_: (args, stdin) => batonCommand(dir, config, args, stdin),
      check,
      out,
    });
  } finally {
    for (const s of servers) await new Promise((ok) => s.close(ok));
    await baton.close();
    rmSync(dir, { recursive: true, force: true });
  }
  out(
    failures === 0
      ? '\ndemo: every step behaved as the scenario says'
      : `\ndemo: ${failures} step(s) did not behave as expected`,
  );
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
