/**
 * createApp: the koa host. Middleware order, as one list:
 *   [metrics] → canonical origin → request context (id + logger) → error boundary → security headers →
 *   health routes → interaction routes → [audit ingestion, admin API, SCIM] → registration CORS → [registration throttle] →
 *   oidc-provider → 404
 * The provider instance is swappable (ProviderHost) so that a key rotation reaches every process without
 * a restart.
 */
import Koa from 'koa';
import mount from 'koa-mount';
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { canonicalOrigin, errorBoundary, notFound, requestContext, securityHeaders } from './http/middleware.ts';
import type { Storage } from './storage/index.ts';
import { interactionRoutes, type InteractionDeps } from './http/interaction/index.ts';
import { registrationCors } from './http/registration-cors.ts';
import { auditIngestRoutes, type AuditIngestDeps } from './http/audit-ingest.ts';
import { adminApiRoutes, type AdminApiDeps } from './http/admin-api.ts';
import { adminConsoleRoutes, type ConsoleDeps } from './http/admin-console/routes.ts';
import { connectRoutes, type ConnectDeps } from './http/connect/routes.ts';
import { statusListRoutes } from './http/status-lists.ts';
import { globalTokenRevocationRoutes, type GlobalTokenRevocationDeps } from './http/global-token-revocation.ts';
import { backChannelLogoutRoutes, type BackChannelLogoutDeps } from './http/backchannel-logout.ts';
import type { StatusListTokens } from './status-list/serve.ts';
import { scimRoutes, type ScimDeps } from './scim/routes.ts';

export interface ProviderHost {
  current(): Provider;
}

export interface AppDeps {
  issuer: string;
  log: Logger;
  storage: Pick<Storage, 'check'>;
  providers: ProviderHost;
  interactions: InteractionDeps;
  trustProxy: boolean;
  /** cookie signing keys (shared by every process); oidc-provider's cookies are signed with them */
  cookieKeys: string[];
  /** counts and times every request (server/src/http/metrics.ts), when metrics are enabled */
  metrics?: Koa.Middleware;
  /** limits registrations per address (server/src/http/registration-throttle.ts) */
  registrationThrottle?: Koa.Middleware;
  /** `POST /audit/events`: MCP servers and services report their calls (server/src/http/audit-ingest.ts) */
  auditIngest?: AuditIngestDeps;
  /** `GET /statuslists/:id`: the Token Status List (server/src/http/status-lists.ts) */
  statusLists?: { tokens: StatusListTokens; ttlSeconds: number };
  /** `/admin/api/…`: the admin API (server/src/http/admin-api.ts, docs/admin-api.md) */
  adminApi?: AdminApiDeps;
  /** the web admin console (`/admin`); its in-process token requests go to this app's own handler */
  adminConsole?: Omit<ConsoleDeps, 'handler'>;
  /** `/connect/…`: people connect brokered upstreams (issue #20, server/src/http/connect/routes.ts) */
  connect?: Omit<ConnectDeps, 'handler'>;
  /** `POST /idp/<id>/global-token-revocation`: an IdP revokes a user (server/src/http/global-token-revocation.ts) */
  globalTokenRevocation?: GlobalTokenRevocationDeps;
  /** `POST /idp/:idp/backchannel-logout`: OIDC Back-Channel Logout 1.0 (server/src/http/backchannel-logout.ts) */
  backChannelLogout?: BackChannelLogoutDeps;
  /** `/idp/:idp/scim/v2/…`: SCIM 2.0 provisioning by the IdPs with `scim` (server/src/scim/routes.ts) */
  scim?: ScimDeps;
  isShuttingDown(): boolean;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  // The request's scheme and host are pinned to the issuer (see canonicalOrigin), so every URL that
  // oidc-provider derives from the request (discovery endpoints, redirects) is under the issuer.
  app.proxy = true;
  // behind a trusted proxy (listen.trust_proxy), the client address is the last X-Forwarded-For entry, the
  // one that proxy appended: the entries before it are whatever the client sent, and would let it choose
  // the address that the sign-in throttle and the registration limit count (without trust_proxy the header
  // is dropped in canonicalOrigin)
  app.maxIpsCount = 1;
  // koa-mount runs the provider on this app's context, so its signed cookies use this app's keys
  app.keys = deps.cookieKeys;
  const issuer = new URL(deps.issuer);
  const prefix = issuer.pathname === '/' ? '/' : issuer.pathname;
  app.silent = true; // errors are logged by our error boundary and provider events, with the request id

  const health = new Router();
  // liveness: the process answers
  health.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  // readiness: every store answers and the schema is current; 503 while draining on SIGTERM
  health.get('/readyz', async (ctx) => {
    const checks = await deps.storage.check();
    const ready = !deps.isShuttingDown() && Object.values(checks).every(Boolean);
    ctx.status = ready ? 200 : 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: ready ? 'ready' : deps.isShuttingDown() ? 'shutting_down' : 'unavailable', checks };
  });

  const interactions = interactionRoutes(deps.interactions);

  // RFC 8414 §3.1: for an issuer with a path, the metadata is at the well-known suffix inserted between host
  // and path (/.well-known/oauth-authorization-server/tenant); MCP clients probe that form first, and the
  // same form for OpenID configuration (MCP authorization §Authorization Server Metadata Discovery).
  // oidc-provider serves both documents under its mount (path-appended): the inserted forms are routed there.
  const insertedWellKnown = new Map(
    prefix === '/'
      ? []
      : ['oauth-authorization-server', 'openid-configuration'].map((doc) => [
          `/.well-known/${doc}${prefix}`,
          `${prefix}/.well-known/${doc}`,
        ]),
  );
  const wellKnownAliases: Koa.Middleware = (ctx, next) => {
    const target = insertedWellKnown.get(ctx.path);
    if (target) ctx.path = target;
    return next();
  };

  const mounted = new WeakMap<Provider, Koa.Middleware>();
  const oidc: Koa.Middleware = (ctx, next) => {
    const provider = deps.providers.current();
    let mw = mounted.get(provider);
    if (!mw) {
      mw = prefix === '/' ? mount(provider) : mount(prefix, provider);
      mounted.set(provider, mw);
    }
    return mw(ctx, next) as Promise<void>;
  };

  if (deps.metrics) app.use(deps.metrics);
  app
    .use(canonicalOrigin(issuer, deps.trustProxy))
    .use(requestContext(deps.log))
    .use(errorBoundary())
    .use(securityHeaders(issuer))
    .use(wellKnownAliases)
    .use(health.routes())
    .use(health.allowedMethods())
    .use(prefix === '/' ? interactions.routes() : mount(prefix, interactions.routes()));
  let handler: ReturnType<Koa['callback']> | undefined;
  mountOwnApis(app, prefix, deps, () => (handler ??= app.callback()));
  app.use(registrationCors(deps.issuer));
  if (deps.registrationThrottle) app.use(deps.registrationThrottle);
  app.use(oidc).use(notFound());
  return app;
}

/** baton's own APIs (policy/builtin-resources.ts), under the issuer's path, before oidc-provider. */
function mountOwnApis(app: Koa, prefix: string, deps: AppDeps, handler: ConsoleDeps['handler']): void {
  const routers = [
    ...(deps.adminConsole ? [adminConsoleRoutes({ ...deps.adminConsole, handler })] : []),
    ...(deps.connect ? [connectRoutes({ ...deps.connect, handler })] : []),
    ...(deps.auditIngest ? [auditIngestRoutes(deps.auditIngest)] : []),
    ...(deps.statusLists ? [statusListRoutes(deps.statusLists.tokens, deps.statusLists.ttlSeconds)] : []),
    ...(deps.adminApi ? [adminApiRoutes(deps.adminApi)] : []),
    ...(deps.globalTokenRevocation ? [globalTokenRevocationRoutes(deps.globalTokenRevocation)] : []),
    ...(deps.backChannelLogout ? [backChannelLogoutRoutes(deps.backChannelLogout)] : []),
    ...(deps.scim ? [scimRoutes(deps.scim)] : []),
  ];
  for (const router of routers) {
    for (const mw of [router.routes(), router.allowedMethods()]) app.use(prefix === '/' ? mw : mount(prefix, mw));
  }
}
