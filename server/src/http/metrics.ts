/**
 * Prometheus metrics (prom-client), served on their own listener (config `metrics`), never on the public
 * port. Every label comes from a fixed set (routes, grant types, OAuth error codes, configured resources,
 * storage models), never from request input, so no request can grow the number of series
 * (http/metrics/labels.ts).
 *
 *   baton_http_requests_total{method,route,status}     baton_http_request_duration_seconds{route}
 *   baton_tokens_issued_total{grant_type}              baton_grant_refusals_total{grant_type,error}
 *   baton_token_exchanges_total{audience}              baton_store_errors_total{model,op}
 *   plus the process metrics prom-client collects (baton_process_*, baton_nodejs_*).
 */
import type { Server } from 'node:http';
import type Koa from 'koa';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { MetricsObserver } from '../provider/events.ts';
import { BATON_MODELS, ERRORS, GRANT_TYPES, METHODS, oneOf, routeOf } from './metrics/labels.ts';
import { listenMetrics } from './metrics/listener.ts';

export interface Metrics {
  registry: Registry;
  /** koa middleware counting and timing every request */
  middleware: Koa.Middleware;
  /** counters fed by the provider events (provider/events.ts subscribes each provider built) */
  observe: MetricsObserver;
  /** GET /metrics on host:port; resolves to its URL */
  listen(host: string, port: number): Promise<{ url: string; server: Server }>;
}

/** baton's series, registered in `registry` */
function createSeries(registry: Registry) {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'baton_http_requests_total',
      help: 'HTTP requests answered, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'baton_http_request_duration_seconds',
      help: 'HTTP request duration, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    issued: new Counter({
      name: 'baton_tokens_issued_total',
      help: 'token endpoint responses that issued tokens, by grant type',
      labelNames: ['grant_type'],
      registers,
    }),
    refused: new Counter({
      name: 'baton_grant_refusals_total',
      help: 'token requests refused, by grant type and OAuth error code',
      labelNames: ['grant_type', 'error'],
      registers,
    }),
    exchanges: new Counter({
      name: 'baton_token_exchanges_total',
      help: 'RFC 8693 exchanges that issued an access token, by target resource',
      labelNames: ['audience'],
      registers,
    }),
    storeErrors: new Counter({
      name: 'baton_store_errors_total',
      help: 'PostgreSQL or Redis operations that failed (answered 503), by model and operation',
      labelNames: ['model', 'op'],
      registers,
    }),
  };
}
type Series = ReturnType<typeof createSeries>;

/** counts and times every request, by its route label */
function requestMiddleware(series: Series, issuerPath: string): Koa.Middleware {
  return async (ctx, next) => {
    const stop = series.duration.startTimer();
    try {
      await next();
    } finally {
      const route = routeOf(issuerPath, ctx.path);
      stop({ route });
      series.requests.inc({ method: oneOf(METHODS, ctx.method), route, status: String(ctx.status) });
    }
  };
}

/** what the provider events report (provider/events.ts calls these); labels from fixed sets only */
function observer(series: Series): MetricsObserver {
  return {
    tokenIssued: (grantType) => series.issued.inc({ grant_type: oneOf(GRANT_TYPES, grantType) }),
    grantRefused: (grantType, error) =>
      series.refused.inc({ grant_type: oneOf(GRANT_TYPES, grantType), error: oneOf(ERRORS, error) }),
    exchanged: (audience, isResource) => series.exchanges.inc({ audience: isResource ? audience : 'other' }),
    storeFailed: (model, op) =>
      series.storeErrors.inc({
        model: oneOf(BATON_MODELS, model),
        op: typeof op === 'string' ? op.slice(0, 32) : 'other',
      }),
  };
}

export function createMetrics(issuerPath: string): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'baton_' });
  const series = createSeries(registry);
  return {
    registry,
    middleware: requestMiddleware(series, issuerPath),
    observe: observer(series),
    listen: (host, port) => listenMetrics(registry, host, port),
  };
}
