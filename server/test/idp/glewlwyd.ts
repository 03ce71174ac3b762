/**
 * A real upstream OpenID Connect IdP for end-to-end federation tests: Glewlwyd 2.7 (Debian package, C, SQLite),
 * started and provisioned by scripts/glewlwyd/glewlwyd-up.sh on 127.0.0.1:<port> with a fresh database.
 * Users: alice / alice-password (groups [developers]), bob / bob-password (groups [oncall]).
 * `login` does without a browser what Glewlwyd's login SPA does (the server does not serve that SPA).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPTS = resolve(import.meta.dirname, '../../../scripts/glewlwyd');
export const GLEWLWYD_CLIENT_ID = 'baton';
export const GLEWLWYD_CLIENT_SECRET = 'baton-idp-secret-0123456789';

export interface Glewlwyd {
  /** http://127.0.0.1:<port>/api/oidc (discovery at <issuer>/.well-known/openid-configuration) */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Replaces the user's groups (admin REST API); later tokens and userinfo answers carry the new list. */
  setGroups(user: string, groups: string[]): Promise<void>;
  /**
   * Logs `user` in for an authorization request a relying party built, consents to the scopes it asks for,
   * and returns the URL the IdP redirects the browser to (the redirect URI with `code` and `state`, or `error`).
   */
  login(authorizationUrl: string, user: string, password: string): Promise<string>;
  /**
   * Ends `user`'s last Glewlwyd session (started with `backchannelLogoutUri`) as its login SPA does once the
   * user confirms at the end_session endpoint: `DELETE <issuer>/session/<sid>` with that browser's cookies.
   * Glewlwyd then posts a logout token (OIDC Back-Channel Logout 1.0) to the client's URI, in the
   * background. Returns the `sid`.
   */
  endSession(user: string): Promise<string>;
  /** Kills the IdP and removes its state directory. */
  stop(): Promise<void>;
}

/** A minimal browser: a cookie jar and fetch without following redirects. */
class Browser {
  readonly jar = new Map<string, string>();

  async request(url: string, init: { method?: string; json?: unknown } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (init.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      redirect: 'manual',
    });
    for (const cookie of res.headers.getSetCookie()) {
      const pair = cookie.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      // an expired or emptied cookie is a deletion
      if (value === '' || /;\s*max-age=0\b/i.test(cookie)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }
}

/** True while `pid` is a live (not zombie) glewlwyd process. */
async function isGlewlwyd(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "<pid> (<comm>) <state> ..."
    const m = /^\d+ \((.*)\) (\S)/.exec(stat);
    return m?.[1] === 'glewlwyd' && m[2] !== 'Z';
  } catch {
    return false;
  }
}

async function describe(res: Response): Promise<string> {
  const body = await res.text();
  return `HTTP ${res.status}${body ? `: ${body.slice(0, 300)}` : ' (empty body)'}`;
}

/** Glewlwyd's OIDC session cookie (provision.sh `session-cookie-name`): its value is the session's `sid` */
const SID_COOKIE = 'GLEWLWYD2_OIDC_SID';

/** The "upstream authorization server" settings of provision.sh (scripts/glewlwyd/README.md); all off by default. */
export interface GlewlwydAsSettings {
  /** GLEWLWYD_ACCESS_TOKEN_SECONDS: the access tokens' lifetime (default 3600) */
  accessTokenSeconds?: number;
  /** GLEWLWYD_SCOPES: more scopes a client may request, allowed to alice and bob */
  scopes?: string[];
  /** GLEWLWYD_REVOCATION: RFC 7009 /revoke and RFC 7662 /introspect, the client authenticating with its secret */
  revocation?: boolean;
  /** GLEWLWYD_RESOURCES: RFC 8707 resource indicators, scope -> the resources it may be asked for */
  resources?: Record<string, string[]>;
  /** GLEWLWYD_REFRESH_TOKEN_ONE_USE: `always` makes every refresh return a new refresh token (default never) */
  refreshTokenOneUse?: 'never' | 'always';
  /** GLEWLWYD_ALLOW_NON_OIDC: plain OAuth 2.0 authorization requests, without `openid` (otherwise invalid_scope) */
  allowNonOidc?: boolean;
}

function asEnv(s: GlewlwydAsSettings): Record<string, string> {
  const env: Record<string, string> = {};
  if (s.accessTokenSeconds !== undefined) env.GLEWLWYD_ACCESS_TOKEN_SECONDS = String(s.accessTokenSeconds);
  if (s.scopes?.length) env.GLEWLWYD_SCOPES = s.scopes.join(' ');
  if (s.revocation) env.GLEWLWYD_REVOCATION = '1';
  if (s.resources) {
    env.GLEWLWYD_RESOURCES = Object.entries(s.resources)
      .flatMap(([scope, uris]) => uris.map((uri) => `${scope}=${uri}`))
      .join(' ');
  }
  if (s.refreshTokenOneUse) env.GLEWLWYD_REFRESH_TOKEN_ONE_USE = s.refreshTokenOneUse;
  if (s.allowNonOidc) env.GLEWLWYD_ALLOW_NON_OIDC = '1';
  return env;
}

/**
 * `backchannelLogoutUri`: session management and back-channel logout on, the client's `backchannel_logout_uri`
 * (provision.sh). `as`: the settings of the upstream authorization server role (server/test/upstream/).
 */
export async function startGlewlwyd(opts: {
  port: number;
  redirectUri: string;
  backchannelLogoutUri?: string;
  as?: GlewlwydAsSettings;
}): Promise<Glewlwyd> {
  const dir = await mkdtemp(join(tmpdir(), 'baton-glewlwyd-'));
  const env = {
    ...process.env,
    GLEWLWYD_DIR: dir,
    GLEWLWYD_PORT: String(opts.port),
    RP_REDIRECT: opts.redirectUri,
    RP_CLIENT_ID: GLEWLWYD_CLIENT_ID,
    RP_CLIENT_SECRET: GLEWLWYD_CLIENT_SECRET,
    ...(opts.backchannelLogoutUri ? { RP_BACKCHANNEL_LOGOUT_URI: opts.backchannelLogoutUri } : {}),
    ...asEnv(opts.as ?? {}),
  };
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [join(SCRIPTS, 'glewlwyd-up.sh')], { env, timeout: 110_000 }));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`glewlwyd-up.sh failed: ${e.message}\n${e.stderr ?? ''}`, { cause: err });
  }
  const issuer = /^GLEWLWYD_ISSUER=(\S+)$/m.exec(stdout)?.[1];
  const pid = Number((await readFile(join(dir, 'glewlwyd.pid'), 'utf8')).trim());
  if (!issuer || !Number.isInteger(pid) || pid <= 0) throw new Error(`glewlwyd-up.sh printed no issuer:\n${stdout}`);
  const api = `http://127.0.0.1:${opts.port}/api`;

  // do not leave the IdP running when the test process ends without stop()
  const killOnExit = (): void => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);
  let stopped = false;
  const browsers = new Map<string, Browser>();

  return {
    issuer,
    clientId: GLEWLWYD_CLIENT_ID,
    clientSecret: GLEWLWYD_CLIENT_SECRET,

    async setGroups(user, groups) {
      await run('bash', [join(SCRIPTS, 'set-groups.sh'), user, ...groups], { env, timeout: 30_000 });
    },

    async login(authorizationUrl, user, password) {
      const authUrl = new URL(authorizationUrl);
      const clientId = authUrl.searchParams.get('client_id');
      const redirectUri = authUrl.searchParams.get('redirect_uri');
      if (!clientId || !redirectUri)
        throw new Error(`authorization URL lacks client_id or redirect_uri: ${authUrl.href}`);
      const scope = authUrl.searchParams.get('scope') ?? 'openid';
      const browser = new Browser();
      browsers.set(user, browser);

      // 1. the authorization request without a session: 302 to the login page (or an error for the RP)
      let res = await browser.request(authUrl.href);
      let location = res.headers.get('location');
      if (res.status !== 302 || !location) throw new Error(`authorization request rejected: ${await describe(res)}`);
      if (location.startsWith(redirectUri)) return location;

      // 2. what the login SPA does: POST the credentials, then record consent for the requested scopes
      res = await browser.request(`${api}/auth/`, { method: 'POST', json: { username: user, password } });
      if (!res.ok) throw new Error(`login as ${user} failed: ${await describe(res)}`);
      res = await browser.request(`${api}/auth/grant/${encodeURIComponent(clientId)}`, {
        method: 'PUT',
        json: { scope },
      });
      if (!res.ok) throw new Error(`consent for ${clientId} failed: ${await describe(res)}`);

      // 3. the same authorization request with the session and g_continue: 302 to the redirect URI
      res = await browser.request(`${authUrl.href}&g_continue`);
      location = res.headers.get('location');
      if (res.status !== 302 || !location?.startsWith(redirectUri)) {
        throw new Error(
          `authorization after login did not redirect to ${redirectUri}: ${location ?? (await describe(res))}`,
        );
      }
      return location;
    },

    async endSession(user) {
      const browser = browsers.get(user);
      const sid = browser?.jar.get(SID_COOKIE);
      if (!browser || !sid) throw new Error(`${user} has no Glewlwyd session with a sid (backchannelLogoutUri?)`);
      const res = await browser.request(`${issuer}/session/${encodeURIComponent(sid)}`, { method: 'DELETE' });
      if (!res.ok) throw new Error(`ending ${user}'s session failed: ${await describe(res)}`);
      return sid;
    },

    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', killOnExit);
      if (await isGlewlwyd(pid)) {
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 100 && (await isGlewlwyd(pid)); i++) await new Promise((r) => setTimeout(r, 20));
        if (await isGlewlwyd(pid)) process.kill(pid, 'SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
