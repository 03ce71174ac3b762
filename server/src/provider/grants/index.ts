/**
 * baton's own grant types, each a module in node-oidc-provider's shape (lib/actions/grants/*.js):
 * `grantType`, `parameters` (and `allowedDuplicates`), and `handler(ctx, deps)`. `registerGrants` is the
 * one place they are handed to oidc-provider, which authenticates the client, checks the parameters and
 * that the client may use the grant type, calls the handler, and emits `grant.success` / `grant.error`.
 *
 * To add a grant: a folder here exporting those four names, listed in GRANTS, its deps in GrantDeps.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { TtlCache } from '../token-state.ts';
import type { GrantDeps } from './deps.ts';
import * as tokenExchange from './token-exchange/index.ts';
import * as jwtBearer from './jwt-bearer/index.ts';

interface GrantModule {
  grantType: string;
  parameters: readonly string[];
  allowedDuplicates?: readonly string[];
  handler(ctx: KoaContextWithOIDC, deps: GrantDeps): Promise<void>;
}

const GRANTS: readonly GrantModule[] = [tokenExchange, jwtBearer];

export function registerGrants(provider: Provider, deps: Omit<GrantDeps, 'cache'>): void {
  const all: GrantDeps = { ...deps, cache: { accounts: new TtlCache(), workloadKeys: new Map() } };
  for (const grant of GRANTS) {
    provider.registerGrantType(
      grant.grantType,
      (ctx) => grant.handler(ctx, all),
      [...grant.parameters],
      grant.allowedDuplicates ? [...grant.allowedDuplicates] : undefined,
    );
  }
}
