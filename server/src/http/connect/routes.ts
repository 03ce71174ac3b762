/**
 * The connect pages (issue #20): a person connects a brokered upstream once, so that the gateway can send
 * that upstream's own token with their calls and no agent ever holds it.
 *
 *   GET /connect/<gateway>?ticket=…   the link a gateway gave the agent (brokering/tickets.ts). The person
 *                                     signs in at baton (CONNECT_CLIENT: authorization code + PKCE at baton
 *                                     itself, silent while their baton session lasts) …
 *   GET /connect/signed-in            … and goes on only as the account the ticket names (MCP elicitation
 *                                     §URL mode: the user who opens the URL must be the one it was made for),
 *                                     to the upstream's authorization server (brokering/upstream-auth.ts:
 *                                     code + PKCE + RFC 8707 resource) …
 *   GET /connect/callback             … whose code is redeemed here: the grant stored sealed under the KEK
 *                                     (brokering/grants.ts), `upstream.connected` in the audit trail, and a
 *                                     page that says to go back to the agent.
 *
 * The browser holds random ids only (an HttpOnly, SameSite=Lax cookie per step, which also binds each
 * callback to the browser that started it: RFC 6749 §10.12); the steps are single-use records in the shared
 * store. Every refusal is a clear page; no token is ever in a page, a URL baton makes, or a log line.
 */
import Router from '@koa/router';
import type Koa from 'koa';
import type { RequestListener } from 'node:http';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Adapter } from '../../../../adapters/src/models.ts';
import type { GatewayConfig } from '../../config/schema.ts';
import {
  CONNECT_CALLBACK,
  CONNECT_CLIENT,
  CONNECT_PATH,
  CONNECT_RESOURCE_PATH,
  CONNECT_SCOPE,
  CONNECT_SIGNED_IN,
} from '../../consts.ts';
import type { AuditSink } from '../../audit/sink.ts';
import type { GrantStore } from '../../brokering/grants.ts';
import type { Tickets } from '../../brokering/tickets.ts';
import { UpstreamRefused, type UpstreamAuth } from '../../brokering/upstream-auth.ts';
import { selfClient } from '../admin-console/oauth-client.ts';
import { setCookie } from '../admin-console/gate.ts';
import { isId, newId } from '../admin-console/sessions.ts';
import { Refused, verifyToken, type OwnApiDeps } from '../own-api-token.ts';
import { takePoint } from '../../rate-limit.ts';
import { connectPage } from './views.ts';
import { createHash } from 'node:crypto';

export interface ConnectDeps extends OwnApiDeps {
  /** the brokered gateways (`gateways[]` with `oauth`) */
  gateways: readonly GatewayConfig[];
  grants: GrantStore;
  tickets: Tickets;
  upstream: ReadonlyMap<string, UpstreamAuth>;
  /** the steps under way (ConnectLogin: single use, 10 minutes) */
  steps: Adapter;
  sink: AuditSink;
  /** baton's own HTTP handler: the sign-in's code is redeemed there, in process */
  handler(): RequestListener;
  /** connects started per client address (a record each): shared through Redis */
  limiter: RateLimiterAbstract;
}

const STEP_TTL = 600;
const COOKIE = 'baton_connect';

interface Step {
  phase: 'baton' | 'upstream';
  state: string;
  verifier: string;
  account: string;
  gateway: string;
}

const keyOf = (id: string) => createHash('sha256').update(id).digest('base64url');

async function takeStep(steps: Adapter, id: string): Promise<Step | undefined> {
  const key = keyOf(id);
  const found = (await steps.find(key)) as (Step & { consumed?: unknown }) | undefined;
  if (!found || found.consumed) return undefined;
  try {
    await steps.consume(key); // once, across processes
  } catch {
    return undefined;
  }
  return found;
}

export function connectRoutes(deps: ConnectDeps): Router {
  const issuer = new URL(deps.issuer);
  const base = deps.issuer.replace(/\/$/, '');
  const cookies = {
    path: `${issuer.pathname.replace(/\/$/, '')}${CONNECT_PATH}`,
    secure: issuer.protocol === 'https:',
  };
  const baton = selfClient(deps.issuer, () => deps.handler(), {
    clientId: CONNECT_CLIENT,
    redirectUri: `${base}${CONNECT_SIGNED_IN}`,
    scope: CONNECT_SCOPE,
    resource: `${base}${CONNECT_RESOURCE_PATH}`,
  });
  const api = { audience: `${base}${CONNECT_RESOURCE_PATH}`, name: "baton's connect pages", replayTag: 'connect' };
  const brokered = new Map(deps.gateways.filter((g) => g.oauth).map((g) => [g.id, g]));
  const router = new Router();
  const page = (ctx: Koa.Context, status: number, title: string, text: string) => {
    ctx.status = status;
    ctx.type = 'text/html';
    ctx.set('Cache-Control', 'no-store');
    (ctx.state as { csp?: string }).csp =
      "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    ctx.body = connectPage(title, text);
  };
  const log = (ctx: Koa.Context) =>
    ctx.state.log as { info(o: object, m: string): void; warn(o: object, m: string): void };
  const step = async (ctx: Koa.Context, s: Step) => {
    const id = newId();
    await deps.steps.upsert(keyOf(id), { ...s }, STEP_TTL);
    setCookie(ctx, COOKIE, id, cookies, STEP_TTL);
  };
  const taken = async (ctx: Koa.Context, phase: Step['phase']) => {
    const id = ctx.cookies.get(COOKIE, { signed: false });
    const found = isId(id) ? await takeStep(deps.steps, id) : undefined;
    setCookie(ctx, COOKIE, null, cookies);
    return found?.phase === phase ? found : undefined;
  };
  const expired = (ctx: Koa.Context) =>
    page(
      ctx,
      400,
      'This link has expired',
      'Ask your agent again: it gives you a new link. Each link works once, for 10 minutes.',
    );

  router.get(`${CONNECT_PATH}/signed-in`, async (ctx) => {
    const pending = await taken(ctx, 'baton');
    if (!pending) return expired(ctx);
    if (typeof ctx.query.error === 'string') {
      log(ctx).info({ reason: `baton sign-in: ${ctx.query.error.slice(0, 64)}` }, 'connect.refused');
      return page(ctx, 403, 'Not signed in', 'You did not sign in at baton, so nothing was connected.');
    }
    let account: string;
    try {
      const callback = new URL(baton.redirectUri);
      callback.search = ctx.querystring;
      const tokens = await baton.redeem(callback, pending);
      account = String((await verifyToken(ctx, deps, api, 'Bearer', tokens.access_token)).sub);
    } catch (err) {
      const reason = err instanceof Refused ? err.detail : (err as Error).message;
      log(ctx).warn({ reason: reason.slice(0, 300) }, 'connect.refused');
      return page(ctx, 400, 'Sign-in failed', 'The sign-in at baton could not be completed. Ask your agent again.');
    }
    if (account !== pending.account) {
      // the link was made for another person's call: following it would tie this person's upstream account to
      // theirs (a confused deputy), so nothing happens
      log(ctx).warn(
        { reason: 'signed in as another account than the link names', account, gateway: pending.gateway },
        'connect.refused',
      );
      return page(
        ctx,
        403,
        'This link is not yours',
        'It was made for another person’s request. Ask your own agent for a link.',
      );
    }
    const upstream = deps.upstream.get(pending.gateway)!;
    const state = newId();
    const verifier = newId();
    let url: string;
    try {
      url = await upstream.authorizationUrl({ redirectUri: `${base}${CONNECT_CALLBACK}`, state, verifier });
    } catch (err) {
      log(ctx).warn({ gateway: pending.gateway, reason: (err as Error).message }, 'connect.upstream_unavailable');
      return page(ctx, 503, 'Try again later', `The sign-in page of ${pending.gateway} cannot be reached now.`);
    }
    await step(ctx, { phase: 'upstream', state, verifier, account, gateway: pending.gateway });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(url);
  });

  router.get(`${CONNECT_PATH}/callback`, async (ctx) => {
    const pending = await taken(ctx, 'upstream');
    if (!pending) return expired(ctx);
    const gateway = pending.gateway;
    const upstream = deps.upstream.get(gateway)!;
    const callback = new URL(`${base}${CONNECT_CALLBACK}`);
    callback.search = ctx.querystring;
    let tokens: Awaited<ReturnType<UpstreamAuth['redeem']>>;
    try {
      tokens = await upstream.redeem(callback, {
        redirectUri: `${base}${CONNECT_CALLBACK}`,
        state: pending.state,
        verifier: pending.verifier,
      });
    } catch (err) {
      const refused = err instanceof UpstreamRefused;
      log(ctx).warn({ gateway, account: pending.account, reason: (err as Error).message }, 'connect.refused');
      return refused
        ? page(ctx, 403, 'Not connected', `${gateway} did not grant access, so nothing was connected.`)
        : page(ctx, 503, 'Try again later', `${gateway} cannot be reached now; nothing was connected.`);
    }
    await deps.grants.put(pending.account, gateway, tokens);
    await deps.sink
      .write({
        audit: [
          {
            type: 'upstream.connected',
            outcome: 'success',
            account: pending.account,
            ...(ctx.state.reqId ? { request_id: String(ctx.state.reqId) } : {}),
            details: {
              gateway,
              scope: tokens.scope ?? '',
              ...(tokens.upstreamSub ? { upstream_sub: tokens.upstreamSub } : {}),
            },
          },
        ],
      })
      .catch((err: unknown) => log(ctx).warn({ reason: (err as Error).message }, 'audit.write_failed'));
    log(ctx).info({ gateway, account: pending.account }, 'connect.connected');
    return page(ctx, 200, 'Connected', `Your ${gateway} account is connected. Go back to your agent and try again.`);
  });

  router.get(`${CONNECT_PATH}/:gateway`, async (ctx) => {
    const gateway = brokered.get(ctx.params.gateway ?? '');
    if (!gateway) return page(ctx, 404, 'Not found', 'There is no such upstream to connect.');
    const ticket = typeof ctx.query.ticket === 'string' ? deps.tickets.open(ctx.query.ticket) : undefined;
    if (!ticket || ticket.gateway !== gateway.id) return expired(ctx);
    const wait = await takePoint(deps.limiter, ctx.ip, 'connect');
    if (wait !== undefined) {
      ctx.set('Retry-After', String(wait));
      return page(ctx, 429, 'Too many attempts', `Too many connects from here: try again in ${wait} s.`);
    }
    const start = await baton.start();
    await step(ctx, {
      phase: 'baton',
      state: start.state,
      verifier: start.verifier,
      account: ticket.account,
      gateway: gateway.id,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(start.url);
  });
  return router;
}
