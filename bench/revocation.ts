/**
 * npm run bench, second part (issue #14): what the Token Status List costs a resource server and how fast a
 * revocation reaches it, on a baton process over real Redis and PostgreSQL, with the kit's verifier and MCP
 * guard in this process as the resource servers (JWKS and status list only, no introspection), with their
 * default settings (the list's ttl is baton's `status_list.ttl_seconds`, 5 s by default).
 *
 * - Verifier rate: `createVerifier` verifying the same valid token back to back, with status checking on
 *   (the default: the list is cached and refreshed in the background) and off (`statusList: false`),
 *   alternating in BENCH_VERIFY_ROUNDS (10) rounds of BENCH_VERIFY_SECONDS (1) each, so that drift hits both;
 *   the median round of each.
 * - Propagation: Alice gets a token for the logs MCP server and one exchanged from it for the cost service;
 *   both resource servers accept theirs; `baton revoke user` runs (the command line, as an operator would);
 *   each resource server then verifies its token every 20 ms until it refuses it. The time from the command's
 *   start to each first refusal, over BENCH_REVOCATION_ROUNDS (5) revocations, min / median / max.
 * A benchmark, not a test: it reports figures. Run alone: `BENCH_ONLY=revocation npm run bench`.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMcpAuth, createVerifier } from '../clients/src/index.ts';
import { startServer } from '../server/src/main.ts';
import { createLogger } from '../server/src/logger.ts';
import { localIssuer } from '../server/src/idp/registry.ts';
import { freshDatabase, makeConfig, redisPrefix, requireEnv, RESOURCES } from '../server/test/helpers.ts';
import { codeForm, seedCode } from '../server/test/seed.ts';
import { runCli, startServerProcess, writeConfig } from '../server/test/processes.ts';

const ROUNDS = Number(process.env.BENCH_REVOCATION_ROUNDS ?? 5);
const VERIFY_ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 10);
const VERIFY_SECONDS = Number(process.env.BENCH_VERIFY_SECONDS ?? 1);
const SECRET = 'bench-secret-0123456789abcdef0123';
const LOGS = RESOURCES[0]!.uri;
const COST = RESOURCES[1]!.uri;
const PORT = 9472;

export async function revocationBench(): Promise<string> {
  const db = await freshDatabase();
  const issuer = `http://127.0.0.1:${PORT}`;
  const base = makeConfig();
  // the seeder (in this process, for accounts and codes) listens on a free port; the measured server on PORT
  const config = makeConfig({
    issuer,
    storage: { postgres: db.url, redis: requireEnv('TEST_REDIS_URL'), redis_key_prefix: redisPrefix() },
    logging: { level: 'info' }, // startServerProcess waits for server.listening
    resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
    clients: {
      static: [
        ...base.clients.static,
        { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: SECRET, grant_types: ['client_credentials'] },
      ],
    },
    delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] }],
  });
  const configFile = writeConfig({ ...config, listen: { host: '127.0.0.1', port: PORT } });
  const baton = await startServerProcess(configFile);
  const seeder = await startServer(config, createLogger('silent'));
  try {
    const alice = await seeder.accounts.recordLogin({
      idpId: 'local',
      idpIssuer: localIssuer('local'),
      idpSubject: 'alice',
      profile: {},
      groups: ['developers'],
      roles: ['developer'],
    });
    const tokensOfAlice = async () => {
      const code = await seedCode(seeder.provider(), alice.id);
      const logs = await post('/token', new URLSearchParams(codeForm(code)));
      const cost = await post(
        '/token',
        new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: logs,
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          resource: COST,
        }),
        `Basic ${Buffer.from(`logs-mcp:${SECRET}`).toString('base64')}`,
      );
      return { logs, cost };
    };
    const post = async (path: string, body: URLSearchParams, authorization?: string) => {
      const res = await fetch(`${issuer}${path}`, {
        method: 'POST',
        body,
        headers: authorization ? { authorization } : {},
      });
      const json = (await res.json()) as { access_token?: string };
      if (!json.access_token) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
      return json.access_token;
    };

    const rate = await verifierRate(issuer, (await tokensOfAlice()).cost);
    const propagation = await propagationTimes(issuer, tokensOfAlice, async () => {
      const r = await runCli(['revoke', 'user', alice.id, '--config', configFile]);
      if (r.code !== 0) throw new Error(`baton revoke user: ${r.code} ${r.stderr}`);
    });
    return report(rate, propagation);
  } finally {
    await seeder.close();
    await baton.stop();
    await db.drop();
  }
}

/** verifications per second of one token, status checking on and off, alternating */
async function verifierRate(issuer: string, token: string) {
  const on = createVerifier({ issuer, audience: COST });
  const off = createVerifier({ issuer, audience: COST, statusList: false });
  await on(token); // the JWKS and the list fetched once, before measuring
  await off(token);
  const perSecond = { on: [] as number[], off: [] as number[] };
  for (let round = 0; round < VERIFY_ROUNDS; round++) {
    // alternating which goes first, so that neither always runs right after the other
    for (const mode of round % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const verify = mode === 'on' ? on : off;
      let n = 0;
      const start = performance.now();
      const end = start + VERIFY_SECONDS * 1000;
      while (performance.now() < end) for (let i = 0; i < 100; i++, n++) await verify(token);
      perSecond[mode].push(n / ((performance.now() - start) / 1000));
    }
  }
  return { on: median(perSecond.on), off: median(perSecond.off) };
}

/** ms from the start of each revocation to the first refusal at the MCP server's guard and at the service */
async function propagationTimes(
  issuer: string,
  tokensOfAlice: () => Promise<{ logs: string; cost: string }>,
  revokeAlice: () => Promise<void>,
) {
  // long-running resource servers: their caches are warm when the revocation comes
  const mcp = createMcpAuth({ issuer, resource: LOGS });
  const service = createVerifier({ issuer, audience: COST });
  const times = { mcp: [] as number[], service: [] as number[], command: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    const { logs, cost } = await tokensOfAlice();
    await mcp.verify(logs);
    await service(cost);
    // a random phase against the list's ttl, as a revocation has in production
    await sleep(Math.random() * 5000);
    const start = performance.now();
    const refusedAt = (verify: () => Promise<unknown>) =>
      (async () => {
        for (;;) {
          if (
            await verify().then(
              () => false,
              () => true,
            )
          )
            return performance.now() - start;
          await sleep(20);
        }
      })();
    const command = revokeAlice().then(() => performance.now() - start);
    const [m, s, c] = await Promise.all([refusedAt(() => mcp.verify(logs)), refusedAt(() => service(cost)), command]);
    times.mcp.push(m);
    times.service.push(s);
    times.command.push(c);
  }
  return times;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function report(rate: { on: number; off: number }, times: Record<'mcp' | 'service' | 'command', number[]>) {
  const secs = (xs: number[]) =>
    `${(Math.min(...xs) / 1000).toFixed(1)} / ${(median(xs) / 1000).toFixed(1)} / ${(Math.max(...xs) / 1000).toFixed(1)} s`;
  return (
    `\nrevocation (issue #14): kit defaults; verifier ${VERIFY_ROUNDS} × ${VERIFY_SECONDS} s per mode, ${ROUNDS} revocations\n` +
    `verifier rate, status list on:  ${rate.on.toFixed(0)} verifications/s\n` +
    `verifier rate, status list off: ${rate.off.toFixed(0)} verifications/s\n` +
    `status checking costs: ${((1 - rate.on / rate.off) * 100).toFixed(1)} % (target < 5 %)\n` +
    `baton revoke user → first refusal at the MCP server (kit guard), min / median / max: ${secs(times.mcp)}\n` +
    `baton revoke user → first refusal at the downstream service (verifier):                ${secs(times.service)}\n` +
    `the command itself (node start, revocation, exit):                                    ${secs(times.command)}\n` +
    'target (issue #14): ≤ 5 s with default settings\n'
  );
}

if (import.meta.main) process.stdout.write(await revocationBench());
