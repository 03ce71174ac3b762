/**
 * baton's own events, typed: its decisions, emitted through the provider (`provider.emit`) next to
 * oidc-provider's own `<noun>.<verb>` events, so a subscriber (metrics, the audit trail) reads one list.
 * provider/events.ts registers every listener; grants emit with `emitEvent`. A leaf module.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

/** baton's own events: name → data (the context is the request's) */
export interface BatonEvents {
  /** RFC 8693: an exchanged access token was issued */
  'token_exchange.issued': { actor: string; audience: string; depth: number; parent: string; jti: string };
  /** identity chaining: baton issued an ID-JAG for a foreign authorization server */
  'id_jag.issued': { actor: string; audience: string; parent: string };
  /** XAA: an ID-JAG was redeemed (`record` is its single-use record id, never the raw jti) */
  'id_jag.redeemed': { issuer: string; record: string; audience: string; jti: string };
  /** a code or refresh token was presented twice: its grant is revoked */
  'grant.revoked': { grant: string };
}

/**
 * Emits a baton event for the request `ctx`, on `provider` (by default the request's; a listener that emits
 * after the request ended passes its provider, as `ctx.oidc` is gone by then).
 */
export function emitEvent<K extends keyof BatonEvents>(
  ctx: KoaContextWithOIDC,
  name: K,
  data: BatonEvents[K],
  provider: Provider = ctx.oidc.provider,
): void {
  provider.emit(name, ctx, data);
}

export function onEvent<K extends keyof BatonEvents>(
  provider: Provider,
  name: K,
  listener: (ctx: KoaContextWithOIDC, data: BatonEvents[K]) => void,
): void {
  (provider.on.bind(provider) as (event: string, fn: typeof listener) => void)(name, listener);
}
