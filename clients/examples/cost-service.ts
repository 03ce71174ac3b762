/**
 * Example: a downstream service (plain node:http) that accepts only tokens exchanged for it. One call to
 * verify() gives the user, the IdP identity, the current actor and the chain; revocation is checked through
 * baton's introspection.
 */
import { createServer, type Server } from 'node:http';
import { createVerifier, TokenError } from '../src/index.ts';

export function startCostService(opts: {
  issuer: string;
  port: number;
  clientSecret: string;
  seen: (line: string) => void;
}): Promise<Server> {
  const verify = createVerifier({
    issuer: opts.issuer,
    audience: `http://127.0.0.1:${opts.port}`,
    introspection: { clientId: 'cost-service', clientSecret: opts.clientSecret, cacheSeconds: 0 },
  });
  const server = createServer((req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
    verify(token).then(
      (caller) => {
        if (!caller.scopes.includes('cost.read'))
          return void res
            .writeHead(403, { 'www-authenticate': 'Bearer error="insufficient_scope", scope="cost.read"' })
            .end();
        opts.seen(
          `cost service: subject ${caller.idp?.sub}, actor ${caller.actor}, chain ${caller.actorChain.join(' ← ')}`,
        );
        res.writeHead(200, { 'content-type': 'text/plain' }).end('logging costs $1,240 this month');
      },
      (err: unknown) =>
        err instanceof TokenError
          ? res.writeHead(401, { 'www-authenticate': `Bearer error="${err.code}"` }).end()
          : // baton could not be asked (JWKS, introspection): not the token's fault
            res.writeHead(503, { 'retry-after': '5' }).end(),
    );
  });
  return new Promise((ok) => server.listen(opts.port, '127.0.0.1', () => ok(server)));
}
