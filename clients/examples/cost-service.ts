/**
 * Example: a downstream service (plain node:http) that accepts only tokens exchanged for it. One call to
 * verify() gives the user, the IdP identity, the current actor and the chain; revocation is checked through
 * baton's introspection. Every request gets one audit event, allowed or denied, printed and reported to
 * baton's audit trail as an `api_call` (with the same client credentials: `cost-service`).
 *
 * Run on its own against `npm start`'s baton (config/development.yaml): `node clients/examples/cost-service.ts`
 * serves http://127.0.0.1:9403; BATON_ISSUER, PORT and COST_SERVICE_SECRET override the development defaults.
 */
import { createServer, type Server } from 'node:http';
import {
  apiCallEvent,
  createAuditReporter,
  createVerifier,
  TokenError,
  type AuditReporter,
  type Caller,
} from '../src/index.ts';

/** one per request: who asked, through which actors, and what the service answered */
export interface CostAuditEvent {
  type: 'cost.request';
  outcome: 'allowed' | 'denied';
  status: number;
  path: string;
  subject: string | undefined;
  idp: Caller['idp'];
  actorChain: string[];
  reason?: string;
  at: string;
}

export function startCostService(opts: {
  issuer: string;
  port: number;
  /** the cost service's client secret at baton (`cost-service`), for introspection */
  clientSecret: string;
  /** the reporter to baton's audit trail (default: one made from clientSecret; closed with the server) */
  reporter?: AuditReporter;
  audit: (e: CostAuditEvent) => void;
}): Promise<Server> {
  const verify = createVerifier({
    issuer: opts.issuer,
    audience: `http://127.0.0.1:${opts.port}`,
    introspection: { clientId: 'cost-service', clientSecret: opts.clientSecret, cacheSeconds: 0 },
  });
  // baton's audit trail: each request as an api_call, batched and never slowing the answer
  const reporter =
    opts.reporter ??
    createAuditReporter({ issuer: opts.issuer, clientId: 'cost-service', clientSecret: opts.clientSecret });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const audit = (outcome: CostAuditEvent['outcome'], status: number, caller?: Caller, reason?: string) => {
      reporter.report(
        apiCallEvent({ caller, method: req.method ?? 'GET', path, outcome, status, ...(reason ? { reason } : {}) }),
      );
      opts.audit({
        type: 'cost.request',
        outcome,
        status,
        path,
        subject: caller?.subject,
        idp: caller?.idp,
        actorChain: caller?.actorChain ?? [],
        ...(reason ? { reason } : {}),
        at: new Date().toISOString(),
      });
    };
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) {
      audit('denied', 401, undefined, 'no token');
      // RFC 6750 §3.1: no error code when the request carried no token
      return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
    }
    verify(token).then(
      (caller) => {
        if (!caller.scopes.includes('cost.read')) {
          audit('denied', 403, caller, 'missing scope cost.read');
          return void res
            .writeHead(403, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="cost.read"' })
            .end();
        }
        audit('allowed', 200, caller);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('logging costs $1,240 this month');
      },
      (err: unknown) => {
        if (err instanceof TokenError) {
          audit('denied', 401, undefined, err.message);
          return void res.writeHead(401, { 'www-authenticate': `Bearer error="${err.code}"` }).end();
        }
        // baton could not be asked (JWKS, introspection): not the token's fault
        audit('denied', 503, undefined, 'verification unavailable');
        res.writeHead(503, { 'retry-after': '5' }).end();
      },
    );
  });
  server.on('close', () => void reporter.close());
  return new Promise((ok) => server.listen(opts.port, '127.0.0.1', () => ok(server)));
}

// `node clients/examples/cost-service.ts`: on its own, against the development baton (npm start)
if (import.meta.main) {
  const env = process.env;
  const port = Number(env.PORT ?? 9403);
  const issuer = env.BATON_ISSUER ?? 'http://127.0.0.1:9400';
  await startCostService({
    issuer,
    port,
    // development only: config/development.yaml's public secret for cost-service
    clientSecret: env.COST_SERVICE_SECRET ?? 'dev-only-cost-service-secret-0123456789ab',
    audit: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
  });
  process.stdout.write(`cost service on http://127.0.0.1:${port}, trusting ${issuer}\n`);
}
