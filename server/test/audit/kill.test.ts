/**
 * Kill -9 under load (issue #13, "Bad input and faults"): a `baton start` process on PostgreSQL + Redis
 * serves concurrent client_credentials and token exchange requests and is SIGKILLed while some are in
 * flight. Every access token a client received has its `token.issued` record (a token leaves baton only
 * once its record is durable: provider/audit-trail.ts `awaitAudit`), every exchanged one its lineage row, and
 * `baton audit verify` finds the chain intact, with no gap. A process started afterwards appends to the same
 * chain, which still verifies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { RESOURCES, SERVICE_SECRET, startTestServer, type TestServer } from '../helpers.ts';
import { runCli, startServerProcess, writeConfig, type ServerProcess } from '../processes.ts';
import { codeForm, seedAccount, seedCode } from '../seed.ts';

const COST = 'https://cost.internal.example.com';
const MCP_SECRET = 'logs-mcp-secret-0123456789abcdef0123';
const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** tokens the clients must have received before the kill (so that the kill lands under load) */
const BEFORE_KILL = 60;

let seeder: TestServer; // in this process, on the same store: the seed (an account, a code) and the queries
let file: string;
let killed: ServerProcess | undefined;
let second: ServerProcess | undefined;

beforeAll(async () => {
  seeder = await startTestServer({
    backend: 'postgres+redis',
    config: (base: Config) => ({
      resources: [{ ...RESOURCES[0]!, client_id: 'logs-mcp' }, RESOURCES[1]!],
      clients: {
        static: [
          ...base.clients.static,
          { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: MCP_SECRET, grant_types: ['client_credentials'] },
        ],
      },
      delegation: [{ actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] }],
      // checkpoints during the load too: the kill may land between a batch and its checkpoint
      audit: { checkpoint_every: 25 },
    }),
  });
  file = writeConfig({ ...seeder.config, logging: { level: 'info' } });
});
const running = (p: ServerProcess | undefined) => p && p.child.exitCode === null && p.child.signalCode === null;
afterAll(async () => {
  // (stop() waits for an exit, which a process already killed never makes again)
  await Promise.all([running(killed) && killed!.stop('SIGKILL'), running(second) && second!.stop()]);
  await seeder?.close();
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** One token request; the access token when the client received the whole answer, otherwise why not. */
type Answer = { token: string } | { status: number; body: unknown } | { gone: true };

async function tokenRequest(url: string, auth: string | undefined, form: Record<string, string>): Promise<Answer> {
  try {
    const res = await fetch(`${url}/token`, {
      method: 'POST',
      headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    const body = (await res.json()) as { access_token?: unknown };
    const token = res.status === 200 ? body.access_token : undefined;
    return typeof token === 'string' ? { token } : { status: res.status, body };
  } catch {
    return { gone: true }; // the connection died (the process was killed): nothing received
  }
}

const clientCredentials = (url: string) =>
  tokenRequest(url, basic('cost-reporter', SERVICE_SECRET), { grant_type: 'client_credentials', resource: COST });

interface Load {
  received: { jti: string; exchanged: boolean }[];
  refused: unknown[];
  inFlight: number;
  done: Promise<void>;
}

/** `workers` loops of token requests (a third of them exchanges) until the server is gone. */
function load(url: string, subjectToken: string, workers: number): Load {
  const state: Load = { received: [], refused: [], inFlight: 0, done: Promise.resolve() };
  const exchange = () =>
    tokenRequest(url, basic('logs-mcp', MCP_SECRET), {
      grant_type: TE,
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      resource: COST,
    });
  const worker = async (exchanges: boolean) => {
    for (;;) {
      state.inFlight++;
      const r = await (exchanges ? exchange() : clientCredentials(url));
      state.inFlight--;
      if ('gone' in r) return;
      if ('token' in r) state.received.push({ jti: String(decodeJwt(r.token).jti), exchanged: exchanges });
      else state.refused.push(r);
    }
  };
  state.done = Promise.all(Array.from({ length: workers }, (_, i) => worker(i % 3 === 2))).then(() => {});
  return state;
}

async function verify(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['audit', 'verify', '--config', file]);
}

it('kill -9 under load: every token a client received has its record, and the chain verifies', async () => {
  killed = await startServerProcess(file);
  const account = await seedAccount(seeder.server.accounts);
  const seed = await seedCode(seeder.server.provider(), account);
  const subject = await tokenRequest(killed.url, undefined, codeForm(seed));
  if (!('token' in subject)) throw new Error(`no subject token: ${JSON.stringify(subject)}`);

  const traffic = load(killed.url, subject.token, 12);
  while (traffic.received.length < BEFORE_KILL && traffic.refused.length === 0) await sleep(10); // a poll
  expect(traffic.refused).toEqual([]);
  const inFlight = traffic.inFlight;
  const exit = new Promise<NodeJS.Signals | null>((ok) => killed!.child.once('exit', (_code, signal) => ok(signal)));
  killed.child.kill('SIGKILL');
  expect(await exit).toBe('SIGKILL');
  await traffic.done;
  expect(inFlight).toBeGreaterThan(0);
  expect(traffic.refused).toEqual([]);
  expect(traffic.received.filter((r) => r.exchanged).length).toBeGreaterThan(0);

  const db = seeder.server.storage.db;
  const jtis = traffic.received.map((r) => r.jti);
  const recorded = await db('audit_events').where('type', 'token.issued').whereIn('jti', jtis).pluck('jti');
  expect(new Set(jtis).size).toBe(jtis.length);
  expect(jtis.filter((j) => !recorded.includes(j))).toEqual([]);
  const exchanged = traffic.received.filter((r) => r.exchanged).map((r) => r.jti);
  const lineage = await db('token_lineage').whereIn('jti', exchanged).pluck('jti');
  expect(exchanged.filter((j) => !lineage.includes(j))).toEqual([]);

  // no gap: seq runs 1…n, and verify walks every link and checkpoint
  const { count, max } = await db('audit_events').first<{ count: number; max: number }>(
    db.raw('count(*)::int as count, max(seq)::int as max'),
  );
  expect(max).toBe(count);
  const report = await verify();
  expect(report).toMatchObject({ code: 0, stderr: '' });
  expect(report.stdout).toMatch(new RegExp(`^ok: ${count} events \\(seq 1–${count}\\), `));

  // a process started afterwards appends after the killed one's last batch; the chain still verifies
  second = await startServerProcess(file);
  const after = await clientCredentials(second.url);
  if (!('token' in after)) throw new Error(`no token after the restart: ${JSON.stringify(after)}`);
  const row = await db('audit_events')
    .where('jti', String(decodeJwt(after.token).jti))
    .first<{ seq: string; type: string }>('seq', 'type');
  // after the killed process's records come the first verify's own admin.operation record, then this token
  const verified = await db('audit_events')
    .where('seq', count + 1)
    .first<{ type: string }>('type');
  expect(verified.type).toBe('admin.operation');
  expect({ seq: Number(row.seq), type: row.type }).toEqual({ seq: count + 2, type: 'token.issued' });
  const again = await verify();
  expect(again).toMatchObject({ code: 0, stderr: '' });
  expect(again.stdout).toMatch(new RegExp(`^ok: ${count + 2} events \\(seq 1–${count + 2}\\), `));
});
