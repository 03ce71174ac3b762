/**
 * What every sign-in step shares: its dependencies, the CSRF token, the interaction of this browser, the
 * page answer, the refusal (from the error table, errors.ts) and the hand-back to oidc-provider.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { Adapter } from '../../../../adapters/src/models.ts';
import type { AccountStore } from '../../accounts/store.ts';
import type { AuditEvent } from '../../audit/record.ts';
import { recordFor, type AuditSink } from '../../provider/audit-trail.ts';
import type { IdpRegistry } from '../../idp/registry.ts';
import { messagePage } from '../../pages.ts';
import type { Policy } from '../../policy/policy.ts';
import type { AccountAccess } from '../../provider/accounts.ts';
import type { LoginThrottle } from '../login-throttle.ts';
import { refusal, type FactsOf, type Reason } from './errors.ts';

export interface InteractionDeps {
  provider(): Provider;
  policy(): Policy;
  accounts: AccountStore;
  idps: IdpRegistry;
  grants: AccountAccess;
  /** server-side, single-use records of upstream logins (state → uid, PKCE verifier, nonce) */
  upstreamLogins: Adapter;
  csrfKey: string;
  /** the issuer's path ('' at the root) */
  base: string;
  /** failed local sign-ins per user and per address */
  throttle: LoginThrottle;
  /** the audit trail (audit/writer.ts): sign-ins and consents */
  audit?: AuditSink | undefined;
}

export type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
export type Ctx = Koa.ParameterizedContext;

export interface Kit {
  deps: InteractionDeps;
  /**
   * RFC 6749 §10.12: the CSRF token of an interaction, an HMAC of its uid (the interaction is bound to the
   * browser by oidc-provider's interaction cookie)
   */
  csrf(uid: string): string;
  csrfOk(uid: string, value: unknown): boolean;
  /** a path under the issuer */
  url(path: string): string;
  show(ctx: Ctx, status: number, html: string): void;
  /** answers with the page of the reason, and logs its detail */
  refuse<R extends Reason>(ctx: Ctx, reason: R, ...facts: FactsOf<R>): void;
  /** the interaction of this browser, or undefined (and a page) when the cookie is missing or expired */
  details(ctx: Ctx): Promise<Details | undefined>;
  /** hands the result back to oidc-provider, which resumes the authorization request */
  finish(ctx: Ctx, result: InteractionResults, merge: boolean): Promise<void>;
  /** a form step: runs only for this browser's interaction and with its CSRF token (RFC 6749 §10.12) */
  postForm(router: Router, path: string, step: FormStep): void;
  /**
   * Writes audit records for the request (awaited before it is answered: provider/audit-trail.ts). A record
   * that `guards` what the step hands out resolves false when it could not be written: the step must then
   * hand nothing out (the page becomes the audit_unavailable 503). One that does not guard (a refusal) is
   * only logged when it fails.
   */
  record(ctx: Ctx, events: AuditEvent[], opts: { guards: boolean }): Promise<boolean>;
}

export type FormStep = (ctx: Ctx, d: Details, body: Record<string, unknown>) => Promise<void>;

export function interactionKit(deps: InteractionDeps): Kit {
  const csrf = (uid: string) => createHmac('sha256', deps.csrfKey).update(`interaction:${uid}`).digest('base64url');
  const show = (ctx: Ctx, status: number, html: string) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = html;
  };
  const refuse = <R extends Reason>(ctx: Ctx, reason: R, ...facts: FactsOf<R>) => {
    const r = refusal(reason, ...facts);
    ctx.state.log.warn({ reason: r.detail }, 'interaction.refused');
    show(ctx, r.status, messagePage(r.title, r.message));
  };
  const csrfOk = (uid: string, value: unknown) => {
    if (typeof value !== 'string') return false;
    const a = Buffer.from(csrf(uid));
    const b = Buffer.from(value);
    return a.length === b.length && timingSafeEqual(a, b);
  };
  const body = (ctx: Ctx) => ((ctx.request as { body?: unknown }).body ?? {}) as Record<string, unknown>;
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb', onError: () => undefined });
  const kit: Kit = {
    deps,
    csrf,
    csrfOk,
    url: (path) => `${deps.base}${path}`,
    show,
    refuse,
    async details(ctx) {
      try {
        const d = await deps.provider().interactionDetails(ctx.req, ctx.res);
        const wanted = (ctx.params as Record<string, string | undefined>).uid;
        if (wanted && d.uid !== wanted) throw new Error('uid mismatch');
        return d;
      } catch (err) {
        refuse(ctx, 'interaction_expired', { error: (err as Error).message });
        return undefined;
      }
    },
    async finish(ctx, result, merge) {
      const to = await deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
      ctx.redirect(to);
      ctx.status = 303;
    },
    postForm(router, path, step) {
      router.post(path, form, async (ctx) => {
        const d = await kit.details(ctx);
        if (!d) return;
        const b = body(ctx);
        if (!csrfOk(d.uid, b.csrf)) return refuse(ctx, 'csrf');
        return step(ctx, d, b);
      });
    },
    async record(ctx, events, { guards }) {
      if (!deps.audit) return true;
      return recordFor(ctx, deps.audit, { audit: events }, { guards }).then(
        () => true,
        () => false,
      );
    },
  };
  return kit;
}
