/**
 * The admin console's pages (issue #15 "Web console"), each an admin operation (or two) rendered by
 * views.ts, behind the gate (gate.ts): pages need `admin.read`, forms `admin.write` and the CSRF token.
 *
 *   GET  /admin                         overview                 (overview)
 *   GET  /admin/access                  the access matrix        (access.matrix)
 *   GET  /admin/people/{account}        a person                 (access.person, accounts.show)
 *   POST /admin/people/{account}/revoke "revoke everything"      (revoke.user; a confirmation box is required)
 *   POST /admin/people/{account}/disable|enable                  (accounts.disable|enable)
 *   GET  /admin/accounts                accounts, paged          (accounts.list)
 *   GET  /admin/clients, /admin/clients/{client}                 (clients.list, clients.show)
 *   POST /admin/clients/{client}/block|unblock                   (clients.block|unblock, a reason optional)
 *   GET  /admin/audit                   the trail, filtered      (audit.search, 50 a page)
 *   GET  /admin/audit/trace/{jti}       one chain as a tree      (audit.trace)
 *   GET  /admin/keys                    signing keys             (keys.list)
 *   POST /admin/sign-out                (any admin: `admin.read` and the CSRF token)
 */
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type Koa from 'koa';
import { ADMIN_CONSOLE_PATH, ADMIN_READ_SCOPE, ADMIN_WRITE_SCOPE } from '../../consts.ts';
import { ADMIN_ERROR_STATUS, AdminError } from '../../admin/errors.ts';
import type { AdminCaller } from '../../admin/audit-record.ts';
import type { ChainedRow } from '../../audit/chain.ts';
import type { Trace } from '../../audit/store.ts';
import { checkForm, Stopped, type GateStop, type Signed } from './gate.ts';
import * as views from './views.ts';
import type { AccessMatrix, PersonAccess } from '../../policy/access-matrix.ts';
import type { AccountShow, Holdings } from '../../admin/account-operations.ts';
import type { ClientList, ClientSummary } from '../../admin/client-operations.ts';
import type { Overview } from '../../admin/overview-operations.ts';
import type { RevocationCounts } from '../../revocation/revoke.ts';

export interface PageKit {
  base: string;
  issuer: URL;
  html(ctx: Koa.Context, status: number, body: string): void;
  gate(ctx: Koa.Context, scope: typeof ADMIN_READ_SCOPE | typeof ADMIN_WRITE_SCOPE): Promise<Signed & { id: string }>;
  run(caller: AdminCaller, name: string, args: Record<string, unknown>): Promise<unknown>;
  stopped(ctx: Koa.Context, stop: GateStop): void;
  signOut(ctx: Koa.Context, sessionId: string): Promise<void>;
}

type Chrome = views.Chrome;
type Run = (name: string, args: Record<string, unknown>) => Promise<unknown>;
type Handler = (ctx: Koa.Context, run: Run, chrome: Chrome, form: Record<string, unknown>) => Promise<void>;

const P = ADMIN_CONSOLE_PATH;
const AUDIT_FILTERS = ['account', 'client', 'agent', 'resource', 'tool', 'type', 'outcome', 'since', 'until'];
const PAGE = 50;
const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

class BadRequest extends Error {}

/** The query's known parameters, each once; empty ones (a form's blank fields) left out. */
function query(ctx: Koa.Context, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (!allowed.includes(name)) throw new BadRequest(`unknown query parameter ${name.slice(0, 64)}`);
    if (typeof value !== 'string') throw new BadRequest(`the query parameter ${name} is given more than once`);
    if (value.length > 1024) throw new BadRequest(`the query parameter ${name} is too long`);
    if (value !== '') out[name] = value;
  }
  return out;
}

async function formBody(ctx: Koa.Context): Promise<Record<string, unknown>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new BadRequest('a console form posts a form');
  try {
    await parseForm(ctx, async () => {});
  } catch {
    throw new BadRequest('the form could not be read');
  }
  return ((ctx.request as { body?: unknown }).body ?? {}) as Record<string, unknown>;
}

/** One page or form: the gate, the form's checks, the handler; every refusal a page with its status. */
function handle(kit: PageKit, scope: typeof ADMIN_READ_SCOPE | typeof ADMIN_WRITE_SCOPE, h: Handler): Koa.Middleware {
  return async (ctx) => {
    let chrome: Chrome | undefined;
    try {
      const signed = await kit.gate(ctx, scope);
      chrome = {
        base: kit.base,
        admin: { name: signed.session.name, account: signed.session.account },
        csrf: signed.session.csrf,
        canWrite: signed.canWrite,
      };
      let form: Record<string, unknown> = {};
      if (ctx.method === 'POST') {
        form = await formBody(ctx);
        checkForm(ctx, signed.session, kit.issuer, form);
      }
      if (ctx.path.endsWith('/sign-out')) return await kit.signOut(ctx, signed.id);
      await h(ctx, (name, args) => kit.run(signed.caller, name, args), chrome, form);
    } catch (err) {
      if (err instanceof Stopped) return kit.stopped(ctx, err.stop);
      if (err instanceof BadRequest)
        return kit.html(ctx, 400, views.errorPage(chrome ?? { base: kit.base }, 400, 'Bad request', err.message));
      if (err instanceof AdminError) {
        const status = ADMIN_ERROR_STATUS[err.code];
        const title = status === 404 ? 'Not found' : 'Cannot do that';
        return kit.html(ctx, status, views.errorPage(chrome ?? { base: kit.base }, status, title, err.message));
      }
      (ctx.state as { log?: { error(o: object, m: string): void } }).log?.error(
        { reason: (err as Error).message?.slice(0, 300) },
        'admin_console.failed',
      );
      ctx.set('Retry-After', '5');
      kit.html(
        ctx,
        503,
        views.errorPage(
          chrome ?? { base: kit.base },
          503,
          'Try again',
          'The console cannot answer right now; try again in a moment.',
        ),
      );
    }
  };
}

const param = (ctx: Koa.Context, name: string) => (ctx.params as Record<string, string>)[name]!;

export function pageRoutes(router: Router, kit: PageKit): void {
  const read = (path: string, h: Handler) => router.get(`${P}${path}`, handle(kit, ADMIN_READ_SCOPE, h));
  const write = (path: string, h: Handler) => router.post(`${P}${path}`, handle(kit, ADMIN_WRITE_SCOPE, h));

  read('', async (ctx, run, chrome) => {
    query(ctx, []);
    const o = (await run('overview', {})) as Overview;
    kit.html(
      ctx,
      200,
      views.overviewPage(chrome, {
        resources: o.resources,
        clients: o.clients.static + o.clients.registered,
        accounts: o.accounts.total,
        issuedLastHour: o.last_hour.tokens_issued,
        refusedLastHour: o.last_hour.refused,
        health: o.health,
        since: o.last_hour.since,
      }),
    );
  });
  read('/access', async (ctx, run, chrome) => {
    query(ctx, []);
    kit.html(ctx, 200, views.accessPage(chrome, (await run('access.matrix', {})) as AccessMatrix));
  });
  const person = async (run: Run, account: string, cursors: Record<string, string> = {}) => {
    const access = (await run('access.person', { account })) as PersonAccess;
    const show = (await run('accounts.show', { account, ...cursors, limit: PAGE })) as AccountShow;
    // recent activity: the account's newest events (its id, so an ambiguous name was refused above)
    const recent = (await run('audit.search', { account: access.account.id, newest: true, limit: 20, json: true })) as {
      rows: ChainedRow[];
    };
    return { access, account: show, activity: recent.rows };
  };
  read('/people/:account', async (ctx, run, chrome) => {
    const p = await person(run, param(ctx, 'account'), query(ctx, ['grants_after', 'tokens_after']));
    kit.html(ctx, 200, views.personPage(chrome, p.access, p.account, p.activity));
  });
  write('/people/:account/revoke', async (ctx, run, chrome, form) => {
    // the page's confirmation box: "revoke everything" only when it was ticked
    if (form.confirm !== 'yes') throw new BadRequest('tick the confirmation box to revoke everything');
    const account = param(ctx, 'account');
    const counts = (await run('revoke.user', { account })) as RevocationCounts & { id: string };
    const p = await person(run, account);
    const label = p.access.account.subject;
    kit.html(ctx, 200, views.revokeDonePage(chrome, { id: counts.id, label }, counts));
  });
  for (const action of ['disable', 'enable'] as const)
    write(`/people/:account/${action}`, async (ctx, run) => {
      const account = param(ctx, 'account');
      await run(`accounts.${action}`, { account });
      ctx.status = 303;
      ctx.redirect(`${kit.base}/people/${encodeURIComponent(account)}`);
    });
  read('/accounts', async (ctx, run, chrome) => {
    const q = query(ctx, ['after', 'search']);
    const list = (await run('accounts.list', { ...q, limit: PAGE })) as views.AccountList;
    kit.html(ctx, 200, views.accountsPage(chrome, list, q.search));
  });
  read('/clients', async (ctx, run, chrome) => {
    const q = query(ctx, ['after']);
    kit.html(ctx, 200, views.clientsPage(chrome, (await run('clients.list', { ...q, limit: PAGE })) as ClientList));
  });
  read('/clients/:client', async (ctx, run, chrome) => {
    const cursors = query(ctx, ['grants_after', 'tokens_after']);
    const client = param(ctx, 'client');
    const summary = (await run('clients.show', { client })) as ClientSummary;
    const holdings = (await run('clients.tokens', { client, ...cursors, limit: PAGE })) as Holdings;
    kit.html(ctx, 200, views.clientPage(chrome, summary, holdings));
  });
  write('/clients/:client/block', async (ctx, run, _chrome, form) => {
    const reason = typeof form.reason === 'string' ? form.reason.trim() : '';
    const client = param(ctx, 'client');
    await run('clients.block', { client, ...(reason ? { reason } : {}) });
    ctx.status = 303;
    ctx.redirect(`${kit.base}/clients/${encodeURIComponent(client)}`);
  });
  write('/clients/:client/unblock', async (ctx, run) => {
    const client = param(ctx, 'client');
    await run('clients.unblock', { client });
    ctx.status = 303;
    ctx.redirect(`${kit.base}/clients/${encodeURIComponent(client)}`);
  });
  read('/audit', async (ctx, run, chrome) => {
    const q = query(ctx, [...AUDIT_FILTERS, 'after']);
    const { after, ...filters } = q;
    if (after !== undefined && !/^\d{1,15}$/.test(after)) throw new BadRequest('after is an event number');
    const { rows } = (await run('audit.search', {
      ...filters,
      ...(after !== undefined ? { after: Number(after) } : {}),
      limit: PAGE,
      json: true,
    })) as { rows: ChainedRow[] };
    kit.html(ctx, 200, views.auditPage(chrome, filters, rows, rows.length === PAGE ? rows.at(-1)!.seq : null));
  });
  read('/audit/trace/:jti', async (ctx, run, chrome) => {
    query(ctx, []);
    const { trace } = (await run('audit.trace', { jti: param(ctx, 'jti'), json: true })) as { trace: Trace };
    kit.html(ctx, 200, views.tracePage(chrome, trace, param(ctx, 'jti')));
  });
  read('/keys', async (ctx, run, chrome) => {
    query(ctx, []);
    kit.html(ctx, 200, views.keysPage(chrome, (await run('keys.list', {})) as views.KeyListing[]));
  });
  router.post(
    `${P}/sign-out`,
    handle(kit, ADMIN_READ_SCOPE, async () => {}),
  );
}
