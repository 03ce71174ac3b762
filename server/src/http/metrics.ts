/**
 * Prometheus metrics (prom-client), served on their own listener (config `metrics`), never on the public
 * port. Every label comes from a fixed set (routes, grant types, OAuth error codes, configured resources,
 * storage models), never from request input, so no request can grow the number of series.
 *
 *   baton_http_requests_total{method,route,status}     baton_http_request_duration_seconds{route}
 *   baton_tokens_issued_total{grant_type}              baton_grant_refusals_total{grant_type,error}
 *   baton_token_exchanges_total{audience}              baton_store_errors_total{model,op}
 *   plus the process metrics prom-client collects (baton_process_*, baton_nodejs_*).
 */
import { hostPort } from './address.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { MODELS } from '../../../adapters/src/models.ts';
import type { MetricsObserver } from '../provider/events.ts';

const FIXED_ROUTES = new Set([
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/auth',
  '/jwks',
  '/reg',
  '/me',
  '/request',
  '/session/end',
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-configuration',
  '/healthz',
  '/readyz',
]);
/** parametrised routes: the first path segments name them */
const PREFIXED_ROUTES: [string, string][] = [
  ['/interaction/callback/', '/interaction/callback/:idp'],
  ['/interaction/', '/interaction/:uid'],
  ['/auth/', '/auth/:uid'],
  ['/reg/', '/reg/:client_id'],
  ['/session/end/', '/session/end/:step'],
];
const GRANT_TYPES = new Set([
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
]);
/** RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8707 §2, RFC 9449 §5 */
const ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'server_error',
]);
const BATON_MODELS = new Set<string>([...MODELS, 'UpstreamLogin', 'IdJagReplay', 'RevokedToken']);

const oneOf = (set: ReadonlySet<string>, value: unknown): string =>
  typeof value === 'string' && set.has(value) ? value : 'other';

export interface Metrics {
  registry: Registry;
  /** koa middleware counting and timing every request */
  middleware: Koa.Middleware;
  /** counters fed by the provider events (provider/events.ts subscribes each provider built) */
  observe: MetricsObserver;
  /** GET /metrics on host:port; resolves to its URL */
  listen(host: string, port: number): Promise<{ url: string; server: Server }>;
}

export function createMetrics(issuerPath: string): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'baton_' });
  const registers = [registry];
  const requests = new Counter({
    name: 'baton_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  const duration = new Histogram({
    name: 'baton_http_request_duration_seconds',
    help: 'HTTP request duration, by route',
    labelNames: ['route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const issued = new Counter({
    name: 'baton_tokens_issued_total',
    help: 'token endpoint responses that issued tokens, by grant type',
    labelNames: ['grant_type'],
    registers,
  });
  const refused = new Counter({
    name: 'baton_grant_refusals_total',
    help: 'token requests refused, by grant type and OAuth error code',
    labelNames: ['grant_type', 'error'],
    registers,
  });
  const exchanges = new Counter({
    name: 'baton_token_exchanges_total',
    help: 'RFC 8693 exchanges that issued an access token, by target resource',
    labelNames: ['audience'],
    registers,
  });
  const storeErrors = new Counter({
    name: 'baton_store_errors_total',
    help: 'PostgreSQL or Redis operations that failed (answered 503), by model and operation',
    labelNames: ['model', 'op'],
    registers,
  });

  const prefix = issuerPath === '/' ? '' : issuerPath;
  const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']);
  function routeOf(path: string): string {
    const p = prefix && path.startsWith(prefix) ? path.slice(prefix.length) || '/' : path;
    if (FIXED_ROUTES.has(p)) return p;
    return PREFIXED_ROUTES.find(([start]) => p.startsWith(start))?.[1] ?? 'other';
  }

  const middleware: Koa.Middleware = async (ctx, next) => {
    const stop = duration.startTimer();
    try {
      await next();
    } finally {
      const route = routeOf(ctx.path);
      stop({ route });
      requests.inc({ method: oneOf(METHODS, ctx.method), route, status: String(ctx.status) });
    }
  };

  // what the provider events report (provider/events.ts calls these); labels from fixed sets only
  const observe: MetricsObserver = {
    tokenIssued: (grantType) => issued.inc({ grant_type: oneOf(GRANT_TYPES, grantType) }),
    grantRefused: (grantType, error) =>
      refused.inc({ grant_type: oneOf(GRANT_TYPES, grantType), error: oneOf(ERRORS, error) }),
    exchanged: (audience, isResource) => exchanges.inc({ audience: isResource ? audience : 'other' }),
    storeFailed: (model, op) =>
      storeErrors.inc({ model: oneOf(BATON_MODELS, model), op: typeof op === 'string' ? op.slice(0, 32) : 'other' }),
  };

  async function listen(host: string, port: number): Promise<{ url: string; server: Server }> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    return { url: `http://${hostPort(host, address.port)}/metrics`, server };
  }

  return { registry, middleware, observe, listen };
}
