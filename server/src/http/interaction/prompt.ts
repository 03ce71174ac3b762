/**
 * The prompt and the IdP chooser:
 *
 *   GET  /interaction/:uid                 the prompt: IdP chooser / local login / upstream redirect / consent
 *   POST /interaction/:uid/idp             chooser: an IdP, or a work email routed by its domain
 */
import type Router from '@koa/router';
import type { IdpConfig } from '../../config/schema.ts';
import { chooserPage } from '../../pages.ts';
import { consentView } from './consent.ts';
import type { Ctx, Details, Kit } from './context.ts';
import { localLoginPage } from './local-login.ts';
import { startUpstream } from './upstream.ts';

function chooser(kit: Kit, ctx: Ctx, uid: string, error?: string): void {
  const { idps } = kit.deps;
  kit.show(
    ctx,
    error ? 400 : 200,
    chooserPage({
      action: kit.url(`/interaction/${uid}/idp`),
      csrf: kit.csrf(uid),
      idps: idps.signIn.map((i) => ({ id: i.id, name: idps.displayName(i) })),
      emailRouting: idps.signIn.some((i) => i.email_domains.length > 0),
      ...(error ? { error } : {}),
    }),
  );
}

async function toIdp(kit: Kit, ctx: Ctx, uid: string, idp: IdpConfig, hint?: string): Promise<void> {
  if (idp.type === 'local') return localLoginPage(kit, ctx, uid, idp);
  return startUpstream(kit, ctx, uid, idp, hint);
}

/**
 * The login prompt: a `login_hint` (OIDC Core §3.1.2.1) that is an email of a routed domain goes straight
 * to its IdP, as does a lone IdP; otherwise the chooser.
 */
async function loginPrompt(kit: Kit, ctx: Ctx, d: Details): Promise<void> {
  const { idps } = kit.deps;
  const hint = typeof d.params.login_hint === 'string' ? d.params.login_hint : undefined;
  const routed = hint ? idps.forEmail(hint) : undefined;
  if (routed) return toIdp(kit, ctx, d.uid, routed, hint);
  if (idps.signIn.length === 1) return toIdp(kit, ctx, d.uid, idps.signIn[0]!, hint);
  if (idps.signIn.length === 0) return kit.refuse(ctx, 'no_identity_providers');
  return chooser(kit, ctx, d.uid);
}

export function mountPrompt(router: Router, kit: Kit): void {
  router.get('/interaction/:uid', async (ctx) => {
    const d = await kit.details(ctx);
    if (!d) return;
    if (d.prompt.name === 'login') return loginPrompt(kit, ctx, d);
    if (d.prompt.name === 'consent') return consentView(kit, ctx, d);
    return kit.refuse(ctx, 'unknown_prompt', { prompt: d.prompt.name });
  });

  kit.postForm(router, '/interaction/:uid/idp', async (ctx, d, b) => {
    if (typeof b.email === 'string' && b.email) {
      const idp = kit.deps.idps.forEmail(b.email);
      if (!idp) return chooser(kit, ctx, d.uid, 'No sign-in provider is set up for that email domain.');
      return toIdp(kit, ctx, d.uid, idp, b.email);
    }
    const idp = typeof b.idp === 'string' ? kit.deps.idps.forSignIn(b.idp) : undefined;
    if (!idp) return chooser(kit, ctx, d.uid, 'Choose a sign-in provider.');
    return toIdp(kit, ctx, d.uid, idp);
  });
}
