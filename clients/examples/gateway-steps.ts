/**
 * The demo's last part (npm run demo, README "Gateway"): a third-party MCP server that takes one shared API
 * key (server-everything behind ./shared-key-front.ts, the stand-in for the SaaS's key check) put behind
 * baton's gateway. The operator stores the key with `baton secrets set`; Alice and Bob sign in with their
 * corporate identity and call tools through the gateway, each within their roles; the key is rotated with
 * `baton secrets rotate` while both keep calling, with no failed call; and `baton audit search` names who
 * used the shared key. The gateway runs in the demo's process beside baton's embedded store (in production,
 * `baton gateway` on PostgreSQL).
 */
import type { ChildProcess } from 'node:child_process';
import { createLogger } from '../../server/src/logger.ts';
import type { Config } from '../../server/src/config/schema.ts';
import type { RunningServer } from '../../server/src/main.ts';
import { credentialSource, startGateway } from '../../server/src/gateway/index.ts';
import { storedSecrets } from '../../server/src/secrets/stored.ts';
import { startEverything } from '../../server/test/everything.ts';
import { fingerprint, startSharedKeyFront } from './shared-key-front.ts';

export const GATEWAY = 'http://127.0.0.1:9504/search/mcp';
const FRONT_PORT = 9505;
const EVERYTHING_PORT = 9506;

interface Session {
  close(): Promise<void>;
  tools(): Promise<string[]>;
  call(name: string, args?: Record<string, unknown>): Promise<{ text?: string; refused?: string }>;
}

export interface GatewayDemo {
  baton: RunningServer;
  config: Config;
  session: (user: string, server: string) => Promise<Session>;
  /** `baton …` on the command line; stdin: what it reads */
  baton_: (args: string[], stdin?: string) => Promise<string>;
  check: (ok: boolean, what: string) => void;
  out: (s?: string) => void;
}

/** a run of fingerprints as "a1b2c3d4 ×12, e5f6a7b8 ×30" */
function runs(keys: string[]): string {
  const out: [string, number][] = [];
  for (const k of keys) {
    const last = out.at(-1);
    if (last?.[0] === k) last[1] += 1;
    else out.push([k, 1]);
  }
  return out.map(([k, n]) => `${k} ×${n}`).join(', ');
}

export async function gatewaySteps(d: GatewayDemo): Promise<void> {
  const { out, check } = d;
  const [first, second] = ['sk-demo-search-key-one-4f1c2a9e7b', 'sk-demo-search-key-two-8d3e6b1f0c'];
  let everything: ChildProcess | undefined;
  const front = await startSharedKeyFront({
    port: FRONT_PORT,
    upstream: `http://127.0.0.1:${EVERYTHING_PORT}/mcp`,
    keys: [first],
  });
  const secrets = storedSecrets(d.config, d.baton.storage.db);
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    everything = await startEverything(EVERYTHING_PORT);
    gateway = await startGateway(d.config, {
      credential: credentialSource(d.config.gateways, { secret: secrets.lookup }),
      log: createLogger('warn'),
    });
    out('\n8. A third-party MCP server that takes one shared API key, behind baton gateway');
    out(`  gateway ${GATEWAY} → the server's own key check http://127.0.0.1:${FRONT_PORT}/mcp (server-everything)`);
    out(`  the operator stores the key baton will use (the value on stdin, never an argument):`);
    out('  $ baton secrets set search-key < key.txt');
    for (const line of (await d.baton_(['secrets', 'set', 'search-key'], `${first}\n`)).split('\n').filter(Boolean))
      out(`  ${line}`);

    out('\n9. Alice (developer → search.query) and Bob (sre → search.query, search.admin) sign in at the gateway');
    const alice = await d.session('alice', GATEWAY);
    const bob = await d.session('bob', GATEWAY);
    out(`  tools/list offers Alice: ${(await alice.tools()).join(', ')}`);
    out(`  tools/list offers Bob: ${(await bob.tools()).join(', ')}`);
    const echo = await alice.call('echo', { message: 'hello from Alice' });
    check(echo.text === 'Echo: hello from Alice', `Alice: echo → ${echo.text}`);
    const sum = await bob.call('get-sum', { a: 2, b: 3 });
    check(sum.text?.includes('5') === true, `Bob: get-sum → ${sum.text}`);
    const refused = await alice.call('get-sum', { a: 1, b: 1 });
    check(
      refused.refused?.includes('roles do not include search.admin') === true,
      `Alice: get-sum → refused: ${refused.refused}`,
    );
    check(
      front.seen.every((s) => s.key === fingerprint(first)),
      `the server saw the shared key (${fingerprint(first)}) on every request: never Alice's or Bob's token`,
    );

    out('\n10. Rotation while both keep calling: the SaaS issues a second key (it takes both for a while),');
    out('  the operator rotates it in baton, every gateway process uses it within 2 s, the SaaS drops the old one');
    const since = front.seen.length;
    let failed = 0;
    let calls = 0;
    let stop = false;
    const keepCalling = async (who: Session, name: string, args: Record<string, unknown>) => {
      while (!stop) {
        const r = await who.call(name, args);
        calls += 1;
        if (!r.text) failed += 1;
      }
    };
    const callers = [
      keepCalling(alice, 'echo', { message: 'during the rotation' }),
      keepCalling(bob, 'get-sum', { a: 40, b: 2 }),
    ];
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 400 && !done(); i++) await new Promise((ok) => setTimeout(ok, 25));
    };
    const seenSince = () => front.seen.slice(since).map((s) => s.key);
    await until(() => seenSince().length >= 10);
    front.keys.add(second);
    out('  $ baton secrets rotate search-key --overlap 60 < new-key.txt');
    for (const line of (await d.baton_(['secrets', 'rotate', 'search-key', '--overlap', '60'], `${second}\n`))
      .split('\n')
      .filter(Boolean))
      out(`  ${line}`);
    await until(() => seenSince().filter((k) => k === fingerprint(second)).length >= 10);
    front.keys.delete(first); // the SaaS revokes the old key
    const dropped = front.seen.length;
    await until(() => front.seen.length >= dropped + 10);
    stop = true;
    await Promise.all(callers);
    out(`  what the server saw, in order: ${runs(seenSince())}`);
    check(failed === 0 && calls > 20, `${calls} calls during the rotation, ${failed} failed`);
    check(
      front.seen.slice(dropped).every((s) => s.key === fingerprint(second) && s.taken),
      `after the old key was revoked, every call went with the new one (${fingerprint(second)})`,
    );
    await alice.close();
    await bob.close();

    out("\n11. Who used the shared key: every call through the gateway is in baton's trail, with the person");
    await gateway.close(1000); // its audit reporter sends what it holds
    gateway = undefined;
    const accounts = new Map((await d.baton.accounts.list()).map((a) => [a.id, a.idpSubject]));
    const trail = await d.baton_(['audit', 'search', '--resource', GATEWAY, '--tool', 'get-sum', '--limit', '5']);
    out(`  $ baton audit search --resource ${GATEWAY} --tool get-sum --limit 5`);
    for (const line of trail.split('\n').filter(Boolean)) out(`  ${line}`);
    const byPerson = (user: string) =>
      [...accounts].filter(([, sub]) => sub === user).map(([id]) => id)[0] ?? `(no account for ${user})`;
    const [aliceId, bobId] = [byPerson('alice'), byPerson('bob')];
    out(`  (${aliceId} is alice and ${bobId} is bob at the IdP: baton accounts list)`);
    check(
      trail.includes(bobId) && trail.includes(aliceId) && / refused /.test(trail),
      `Bob's get-sum calls (${bobId}) and Alice's refused one (${aliceId}), each under the person's own account`,
    );
  } finally {
    await gateway?.close(0);
    secrets.close();
    everything?.kill();
    front.server.closeAllConnections();
    await new Promise((ok) => front.server.close(ok));
  }
}
