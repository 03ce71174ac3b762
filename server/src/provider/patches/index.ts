/**
 * The patches: every place where baton depends on oidc-provider's exact behaviour (its error texts, the order
 * in which it reads parameters, the answers it renders, private fields and methods it replaces). One file per
 * patch, each naming the upstream version and files it was checked against and the clause it serves; each
 * has a test beside it that fails when an upgrade changes what it relies on. README.md is the table and how
 * to re-check them on an upgrade.
 */
import type Provider from 'oidc-provider';
import type { Adapter } from '../../../../adapters/src/models.ts';
import { clientErrorCodes, type ErrorCorrection } from './client-error-codes.ts';
import { dpopReplayIsInvalidProof } from './dpop-replay-error.ts';
import { pinClientSecretMethod } from './pin-client-secret-method.ts';
import { atomicReplayDetection } from './atomic-replay-detection.ts';
import { acceptClientIdUrls } from './client-id-urls.ts';
import { discoveryScopes } from './discovery-scopes.ts';

/** The oidc-provider version every patch here was checked against (its tests assert on that version's behaviour). */
export const CHECKED_AGAINST = '9.13.3';

/**
 * Listeners of provider `*.error` events that correct oidc-provider's answer, and the error, in place. They
 * must be registered BEFORE any listener that logs or counts errors, in this order, so that the log, the
 * metrics and the wire agree.
 */
export const errorCorrections: ReadonlyArray<readonly [event: string, listener: ErrorCorrection]> = [
  ...clientErrorCodes,
  dpopReplayIsInvalidProof,
];

export interface PatchDeps {
  /** every resource scope of the current policy, for the discovery documents */
  resourceScopes: () => string[];
  /** the shared store whose atomic claim replaces ReplayDetection's find-then-save */
  replayStore: Pick<Adapter, 'claim'>;
  /** the CIMD client ids oidc-provider does not recognise itself (development loopback http ids) */
  acceptClientIdUrl: (id: unknown) => boolean;
}

/** Installs the patches on a provider, once, right after it is built (before any request). */
export function applyPatches(provider: Provider, deps: PatchDeps): void {
  provider.use(discoveryScopes(deps.resourceScopes));
  pinClientSecretMethod(provider);
  atomicReplayDetection(provider, deps.replayStore);
  acceptClientIdUrls(provider, deps.acceptClientIdUrl);
}

export { replayRequestBody } from './replay-request-body.ts';
export { offerScriptHashes, providerScriptHashes } from './script-hashes.ts';
export { defaultRequestedScope } from './default-requested-scope.ts';
export { interactionPrompts } from './native-client-prompt.ts';
export { structuredTokenAsUnknown } from './unsupported-token-type.ts';
export { CIMD_CACHE_HEADERS, CIMD_DOCUMENT_LIMIT, isCimdDocumentFetch } from './cimd-document-fetch.ts';
export { invalidRedirectUri } from './redirect-uri-error.ts';
export { anyLoopbackPort } from './loopback-redirect-port.ts';
export type { ErrorCorrection } from './client-error-codes.ts';
