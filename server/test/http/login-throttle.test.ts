/**
 * Password guessing at the local directory's form (login_throttle) under concurrency: attempts sent at once
 * from one sign-in page are counted before their passwords are checked, so with a limit of N exactly N are
 * checked (401) and the rest refused (429) — per user and per address, in one process on every backend and
 * across two `baton start` processes sharing PostgreSQL + Redis. A success gives its points back.
 */
import { createHash, randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { BACKENDS, batonOn, startTestServer, type TestServer } from '../helpers.ts';
import { actionOf, csrfOf } from '../pages.ts';
import { startServerProcess, writeConfig, type ServerProcess } from '../processes.ts';

const PER_USER = 5;
const PER_IP = 10;
const THROTTLE = {
  listen: { host: '127.0.0.1', port: 0, trust_proxy: true }, // each test signs in from an address of its own
  login_throttle: { per_user: PER_USER, per_ip: PER_IP, window_seconds: 900 },
};

let addresses = 0;
/** A client address of its own (X-Forwarded-For, honoured with listen.trust_proxy), so tests do not share counts. */
const newAddress = () => `198.51.100.${++addresses}`;

interface LoginForm {
  cookie: string;
  action: string;
  csrf: string;
  address: string;
}

/** Opens a sign-in page (an authorization request, then baton's redirects) on `base`, as a browser at `address`. */
async function loginForm(base: string, address: string): Promise<LoginForm> {
  const query = new URLSearchParams({
    client_id: 'ide-agent',
    redirect_uri: 'http://127.0.0.1/callback',
    response_type: 'code',
    code_challenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    resource: 'https://logs.mcp.example.com/mcp',
  });
  const cookies: string[] = [];
  let path = `/auth?${query.toString()}`;
  for (let i = 0; i < 5; i++) {
    const res = await request(base).get(path).set('X-Forwarded-For', address).set('Cookie', cookies.join('; '));
    for (const c of ([] as string[]).concat(res.headers['set-cookie'] ?? [])) cookies.push(c.split(';')[0]!);
    if (res.status === 303) {
      const to = new URL(res.headers.location!, base);
      path = to.pathname + to.search;
      continue;
    }
    expect(res.status).toBe(200);
    expect(res.text).toContain('Sign in to Example Corp');
    const [action, csrf] = [actionOf(res.text), csrfOf(res.text)];
    if (!action || !csrf) throw new Error('no login form');
    return { cookie: cookies.join('; '), action, csrf, address };
  }
  throw new Error('too many redirects');
}

/** Submits the form on `base` (any process of the deployment: they share the interaction). */
function submit(base: string, form: LoginForm, username: string, password: string) {
  return request(base)
    .post(form.action)
    .set('X-Forwarded-For', form.address)
    .set('Cookie', form.cookie)
    .type('form')
    .send({ csrf: form.csrf, username, password });
}

/** `n` submissions sent at once, alternating over `bases`; the statuses, sorted. */
async function burst(bases: string[], form: LoginForm, n: number, username: (i: number) => string, password: string) {
  const responses = await Promise.all(
    Array.from({ length: n }, (_, i) => submit(bases[i % bases.length]!, form, username(i), password)),
  );
  for (const r of responses) {
    if (r.status === 401) expect(r.text).toContain('Wrong username or password.');
    else if (r.status === 429) {
      expect(r.text).toContain('Too many failed sign-ins. Try again in 15 minutes.');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
  }
  return responses.map((r) => r.status).sort();
}

const times = (n: number, status: number) => Array.from({ length: n }, () => status);

/** The throttle's behaviour on one deployment: `bases` are its processes' URLs. */
function throttleCases(bases: () => string[]) {
  it(`24 wrong passwords for one user sent at once: exactly per_user (${PER_USER}) are checked, the rest 429`, async () => {
    const form = await loginForm(bases()[0]!, newAddress());
    expect(await burst(bases(), form, 24, () => 'alice', 'wrong-password')).toEqual([
      ...times(PER_USER, 401),
      ...times(24 - PER_USER, 429),
    ]);
    // the window holds: even the right password is refused, on every process
    for (const base of bases()) expect((await submit(base, form, 'alice', 'alice-password')).status).toBe(429);
  });

  it(`24 wrong sign-ins for different users from one address at once: exactly per_ip (${PER_IP}) are checked`, async () => {
    const form = await loginForm(bases()[0]!, newAddress());
    expect(await burst(bases(), form, 24, (i) => `nobody-${i}`, 'x')).toEqual([
      ...times(PER_IP, 401),
      ...times(24 - PER_IP, 429),
    ]);
    expect((await submit(bases()[0]!, form, 'bob', 'bob-password')).status).toBe(429);
  });

  it('the right password after per_user - 1 failures signs in, and clears the user count', async () => {
    const address = newAddress();
    const form = await loginForm(bases()[0]!, address);
    expect(await burst(bases(), form, PER_USER - 1, () => 'alice', 'wrong')).toEqual(times(PER_USER - 1, 401));
    const ok = await submit(bases().at(-1)!, form, 'alice', 'alice-password');
    expect(ok.status).toBe(303);
    // cleared: a full per_user of failures again, then refused
    const again = await loginForm(bases()[0]!, address);
    expect(await burst(bases(), again, PER_USER + 3, () => 'alice', 'wrong')).toEqual([
      ...times(PER_USER, 401),
      ...times(3, 429),
    ]);
  });

  it('a success gives the address its point back: sign-ins that succeed never use up the address', async () => {
    const address = newAddress();
    const form = await loginForm(bases()[0]!, address);
    expect(await burst(bases(), form, PER_IP - 1, (i) => `nobody-${i}`, 'x')).toEqual(times(PER_IP - 1, 401));
    for (let i = 0; i < 3; i++) {
      const page = await loginForm(bases()[0]!, address);
      expect((await submit(bases()[i % bases().length]!, page, 'bob', 'bob-password')).status).toBe(303);
    }
    // the address has per_ip - 1 failures: one more is checked, the next is not
    expect((await submit(bases()[0]!, form, 'nobody-x', 'x')).status).toBe(401);
    expect((await submit(bases()[0]!, form, 'bob', 'bob-password')).status).toBe(429);
  });
}

for (const backend of BACKENDS) {
  describe(`password guessing in one process (${backend.name})`, () => {
    const baton = batonOn(backend, THROTTLE);
    throttleCases(() => [baton.server.url]);
  });
}

describe('password guessing across two processes on one PostgreSQL + Redis', () => {
  let a: ServerProcess;
  let b: ServerProcess;
  let seeder: TestServer | undefined; // an in-test instance on the same store: it sets the store up before the processes

  beforeAll(async () => {
    seeder = await startTestServer({ backend: 'postgres+redis', log: createLogger('silent'), config: THROTTLE });
    const file = writeConfig({ ...seeder.config, logging: { level: 'info' } });
    [a, b] = await Promise.all([startServerProcess(file), startServerProcess(file)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await seeder?.close();
  });

  throttleCases(() => [a.url, b.url]);
});
