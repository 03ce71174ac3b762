/**
 * Consent:
 *
 *   consentView                            the consent page (or the no-access page), for GET /interaction/:uid
 *   POST /interaction/:uid/consent         allow / deny
 *   POST /interaction/:uid/abort           leave with access_denied
 *
 * MCP authorization 2026-07-28 §Security (confused deputy): a third-party client gets a consent page
 * naming it and its redirect host before any code is issued. What is granted is the user's roles (policy)
 * met with what was asked, recomputed on every step: nothing from the form decides it.
 */
import type Router from '@koa/router';
import { consentPage, noAccessPage } from '../../pages.ts';
import { splitScope, stringList } from '../../params.ts';
import { consentGiven } from './audit.ts';
import type { Ctx, Details, Kit } from './context.ts';

/** RFC 6749 §4.1.2.1: the user denied, or nothing can be granted; oidc-provider redirects with this error */
const NOTHING_GRANTED = {
  error: 'access_denied',
  error_description: 'none of the requested scopes is granted to this user',
} as const;

export async function consentView(kit: Kit, ctx: Ctx, d: Details): Promise<void> {
  const { deps } = kit;
  const accountId = d.session?.accountId;
  const account = accountId ? await deps.accounts.find(accountId) : undefined;
  if (!account || account.disabled) return kit.refuse(ctx, 'account_disabled');
  const clientId = String(d.params.client_id);
  const client = await deps.provider().Client.find(clientId);
  if (!client) return kit.refuse(ctx, 'client_unknown');
  const resources = stringList(d.params.resource);
  const { roles, decisions } = deps.grants.decide(account, splitScope(d.params.scope), resources, clientId);
  const { email, preferred_username: username } = account.profile;
  const user = typeof email === 'string' ? email : typeof username === 'string' ? username : account.idpSubject;
  const clientName = client.clientName ?? clientId;
  const form = (step: string) => ({ action: kit.url(`/interaction/${d.uid}/${step}`), csrf: kit.csrf(d.uid) });
  if (decisions.every((x) => x.granted.length === 0)) {
    ctx.state.log.info({ account: account.id, client: clientId, roles, resources }, 'interaction.nothing_grantable');
    return kit.show(ctx, 403, noAccessPage({ ...form('abort'), clientName, user, roles, resources }));
  }
  const redirect = URL.parse(String(d.params.redirect_uri));
  const policy = deps.policy();
  kit.show(
    ctx,
    200,
    consentPage({
      ...form('consent'),
      clientName,
      clientKind: typeof client['client_kind'] === 'string' ? client['client_kind'] : 'application',
      redirectHost: redirect?.host || String(d.params.redirect_uri),
      user,
      items: decisions
        .filter((x) => x.granted.length > 0)
        .map((x) => {
          const rs = policy.resources.get(x.resource);
          return { ...x, resourceName: rs?.name ?? x.resource, descriptions: rs?.scope_descriptions ?? {} };
        }),
    }),
  );
}

export function mountConsent(router: Router, kit: Kit): void {
  const { deps } = kit;
  kit.postForm(router, '/interaction/:uid/consent', async (ctx, d, b) => {
    if (d.prompt.name !== 'consent') return kit.refuse(ctx, 'no_consent_prompt');
    if (b.decision !== 'allow') {
      return kit.finish(ctx, { error: 'access_denied', error_description: 'the user denied the request' }, true);
    }
    const accountId = d.session?.accountId;
    const account = accountId ? await deps.accounts.find(accountId) : undefined;
    if (!account || account.disabled) return kit.refuse(ctx, 'account_disabled');
    const clientId = String(d.params.client_id);
    const requested = splitScope(d.params.scope);
    // recomputed here: nothing from the form decides what is granted
    const { decisions } = deps.grants.decide(account, requested, stringList(d.params.resource), clientId);
    if (decisions.every((x) => x.granted.length === 0)) return kit.finish(ctx, NOTHING_GRANTED, true);
    const provider = deps.provider();
    const grantId = await deps.grants.buildGrant(provider, account.id, clientId, requested, decisions);
    // issue #13: the consent's record is durable before the consent is kept or handed back; without it the
    // grant just made is removed and nothing is handed out (the audit_unavailable page, index.ts)
    // the login of this interaction, when it had one (local-login.ts, upstream.ts: its ts is the auth_time)
    const ts = (d.lastSubmission?.login as { ts?: unknown } | undefined)?.ts;
    const authTime = typeof ts === 'number' ? ts : undefined;
    const event = consentGiven(ctx, { account: account.id, client: clientId, grantId, decisions, authTime });
    if (!(await kit.record(ctx, [event], { guards: true }))) {
      await (await provider.Grant.find(grantId))?.destroy();
      return;
    }
    for (const x of decisions)
      if (x.granted.length) await deps.accounts.saveConsent(account.id, clientId, x.resource, x.granted);
    ctx.state.log.info({ account: account.id, client: clientId, decisions }, 'consent.given');
    return kit.finish(ctx, { consent: { grantId } }, true);
  });

  kit.postForm(router, '/interaction/:uid/abort', async (ctx) => kit.finish(ctx, NOTHING_GRANTED, true));
}
