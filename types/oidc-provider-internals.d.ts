/** Types for the oidc-provider internals the seam uses: server/src/provider/internals.ts and provider/patches/. */
declare module 'oidc-provider/lib/helpers/validate_dpop.js' {
  import type Provider from 'oidc-provider';
  import type { KoaContextWithOIDC } from 'oidc-provider';
  export interface DPoPProof {
    thumbprint: string;
    jti: string;
    iat: number;
  }
  export default function validateDpop(
    provider: Provider,
    ctx: KoaContextWithOIDC,
    accessToken?: string,
  ): Promise<DPoPProof | undefined>;
  export function checkDpopReplay(
    provider: Provider,
    ctx: KoaContextWithOIDC,
    dPoP: DPoPProof | undefined,
    clientId: string,
    ErrorClass?: new (description?: string) => Error,
  ): Promise<void>;
}

declare module 'oidc-provider/lib/helpers/fetch_request.js' {
  export function applySSRFProtection<T>(dispatcher: T): T;
  export function isSpecialUseIP(address: string): boolean;
}

declare module 'oidc-provider/lib/helpers/client_id_metadata_document.js' {
  import type Provider from 'oidc-provider';
  export function isValidClientIdUrl(id: string): boolean;
  export function resolveClientByMetadataDocument(provider: Provider, id: string): Promise<unknown>;
}

declare module 'oidc-provider/lib/helpers/sender_constraints.js' {
  import type Provider from 'oidc-provider';
  import type { KoaContextWithOIDC } from 'oidc-provider';
  import type { DPoPProof } from 'oidc-provider/lib/helpers/validate_dpop.js';
  export function checkDpopRequired(
    provider: Provider,
    ctx: KoaContextWithOIDC,
    dPoP: DPoPProof | undefined,
    ErrorClass?: new (description?: string) => Error,
  ): void;
}
