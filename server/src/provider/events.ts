/**
 * Provider events → logs. Internal reasons (`error_detail`) are logged for operators; the wire keeps the
 * generic text. Listeners never throw. (Audit events proper come with the audit issue; the event names
 * are oidc-provider's `<noun>.<verb>`, so audit can subscribe to the same list.)
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { AlreadyConsumed } from './storage-errors.ts';

type Err = { error?: string; error_detail?: string; message?: string; status?: number; name?: string };

export function attachProviderEvents(provider: Provider, root: Logger): void {
  const logOf = (ctx: KoaContextWithOIDC | undefined): Logger =>
    (ctx?.state as { log?: Logger } | undefined)?.log ?? root;
  const on = provider.on.bind(provider) as (event: string, fn: (ctx: KoaContextWithOIDC, err: Err) => void) => void;
  const clientOf = (ctx: KoaContextWithOIDC | undefined) => ctx?.oidc?.client?.clientId;

  provider.on(
    'server_error',
    (ctx: KoaContextWithOIDC, err: Error & { cause?: unknown; model?: string; op?: string }) => {
      const cause = err.cause instanceof Error ? err.cause.message : undefined;
      logOf(ctx).error(
        { err: { name: err.name, message: err.message, cause, model: err.model, op: err.op } },
        'server_error',
      );
    },
  );
  const failures = [
    'grant.error',
    'authorization.error',
    'introspection.error',
    'revocation.error',
    'registration_create.error',
    'registration_read.error',
    'registration_update.error',
    'registration_delete.error',
    'userinfo.error',
    'jwks.error',
    'discovery.error',
    'pushed_authorization_request.error',
    'end_session.error',
  ] as const;
  for (const event of failures) {
    on(event, (ctx: KoaContextWithOIDC, err: Err) => {
      // baton's JWT access tokens are introspected and revoked by baton itself (provider/index.ts)
      if (err.error === 'unsupported_token_type' && (event === 'introspection.error' || event === 'revocation.error'))
        return;
      logOf(ctx).warn(
        { event, client_id: clientOf(ctx), error: err.error, detail: err.error_detail ?? err.message },
        event,
      );
    });
  }
  // RFC 6749 §4.1.2 (SHOULD), OAuth 2.1 §4.3.1: a code or refresh token presented twice revokes its grant.
  // oidc-provider does so when the second presentation comes after the first; when the two race, the
  // adapter's atomic consume refuses the loser (AlreadyConsumed, with the grant id) and the grant is
  // revoked here: the winner's refresh token stops working and its access tokens (gid) become inactive.
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: AlreadyConsumed | Err) => {
    if (!(err instanceof AlreadyConsumed) || !err.grantId) return;
    const grantId = err.grantId;
    const models = [provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode];
    void Promise.all([
      ...models.map((m) => m.revokeByGrantId(grantId)),
      provider.Grant.find(grantId).then((g) => g?.destroy()),
    ]).then(
      () => {
        logOf(ctx).warn(
          { event: 'grant.revoked', grant: grantId, client_id: clientOf(ctx), reason: 'reused' },
          'grant.revoked',
        );
        provider.emit('grant.revoked', ctx, grantId);
      },
      (e: Error) => logOf(ctx).error({ err: { message: e.message }, grant: grantId }, 'grant.revoke_failed'),
    );
  });
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    if (!root.isLevelEnabled('info')) return; // the hot path: no request logger made for nothing
    logOf(ctx).info(
      { event: 'grant.success', client_id: clientOf(ctx), grant_type: ctx.oidc.params?.grant_type },
      'grant.success',
    );
  });
}
