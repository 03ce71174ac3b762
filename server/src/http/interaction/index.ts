/**
 * The interaction routes (oidc-provider's login and consent prompts), server-rendered, no JavaScript:
 *
 *   prompt.ts       GET  /interaction/:uid            the prompt: chooser / local login / upstream / consent
 *                   POST /interaction/:uid/idp        chooser: an IdP, or a work email routed by its domain
 *   local-login.ts  POST /interaction/:uid/login      local directory: username + password
 *   upstream.ts     GET  /interaction/callback/:idp   the upstream IdP's redirect (no interaction cookie) → below
 *                   GET  /interaction/:uid/upstream   the upstream callback, bound to this browser's interaction
 *   consent.ts      POST /interaction/:uid/consent    allow / deny
 *                   POST /interaction/:uid/abort      leave with access_denied
 *
 * Every POST carries a CSRF token bound to the interaction (RFC 6749 §10.12); the interaction itself is
 * bound to the browser by oidc-provider's interaction cookie. The upstream state is single-use and stored
 * server-side. Every refusal is a row of one table (errors.ts). Sign-ins and consents have audit records
 * (audit.ts), durable before a sign-in or consent continues.
 */
import Router from '@koa/router';
import { awaitAudit } from '../../provider/audit-trail.ts';
import { mountConsent } from './consent.ts';
import { interactionKit, type InteractionDeps } from './context.ts';
import { mountLocalLogin } from './local-login.ts';
import { mountPrompt } from './prompt.ts';
import { mountUpstream } from './upstream.ts';

export type { InteractionDeps } from './context.ts';

export function interactionRoutes(deps: InteractionDeps): Router {
  const router = new Router();
  const kit = interactionKit(deps);
  // issue #13: every page waits for the audit records its request wrote; a sign-in or consent whose record
  // could not be written hands nothing out (the step stops) and this shows the 503 page
  router.use(
    awaitAudit((ctx) => {
      ctx.remove('Location');
      kit.refuse(ctx, 'audit_unavailable');
    }),
  );
  // the upstream callback first: /interaction/callback/upstream also matches /interaction/:uid/upstream
  mountUpstream(router, kit);
  mountPrompt(router, kit);
  mountLocalLogin(router, kit);
  mountConsent(router, kit);
  return router;
}
