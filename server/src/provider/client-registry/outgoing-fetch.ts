/**
 * oidc-provider's outgoing fetch (`fetch` option), through baton's dispatcher (SSRF guard, extra CAs). A CIMD
 * document is checked here (status, content type, size, JSON, client_id) so that its failure has a reason
 * for the error page, and failures are cached for `failure_cache_seconds`.
 */
import { isCimdDocumentFetch, outgoingDispatcher } from '../internals.ts';
import type { RegistryAudit } from './audit.ts';
import type { ClientDeps } from './deps.ts';
import { CimdFailure, checkedCimdResponse } from './cimd-document.ts';
import { isCimdClientId, isDevelopmentLoopbackClientId, networkFailureReason } from './rules.ts';

export function outgoingFetch(
  deps: ClientDeps,
  recordFailure: (url: string, reason: string) => void,
  audit?: RegistryAudit,
) {
  const { cimd } = deps.config.clients.registration;
  // always ours (oidc-provider's own guard only drops the socket after connecting): see internals.ts
  const dispatcher = outgoingDispatcher({
    ...(cimd.extra_ca ? { ca: cimd.extra_ca } : {}),
    allowPrivateNetwork: cimd.allow_private_network,
  });
  // development mode: an http loopback client id's document is on loopback by definition
  const loopbackDispatcher =
    deps.config.mode === 'development' ? outgoingDispatcher({ allowPrivateNetwork: true }) : undefined;

  return async (url: URL | string, options: RequestInit) => {
    const key = String(url);
    const document = isCimdClientId(deps.config.mode, key) && isCimdDocumentFetch(options);
    (options as { dispatcher?: unknown }).dispatcher =
      loopbackDispatcher && isDevelopmentLoopbackClientId(deps.config.mode, key) ? loopbackDispatcher : dispatcher;
    const failed = (err: unknown, reason: string) => {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      const message = (err as Error).message;
      deps.log.warn({ url: key, reason: cause ? `${message}: ${cause}` : message }, 'fetch.failed');
      if (document) {
        recordFailure(key, reason);
        audit?.refused(undefined, key, reason); // the request fetching it (provider/audit-trail.ts)
      }
    };
    let res: Response;
    try {
      res = await globalThis.fetch(url, options);
    } catch (err) {
      failed(err, networkFailureReason(err));
      throw document ? new CimdFailure(networkFailureReason(err), { cause: err }) : err;
    }
    if (!document) {
      if (!res.ok) deps.log.warn({ url: key, reason: `status ${res.status}` }, 'fetch.failed');
      return res;
    }
    try {
      return await checkedCimdResponse(key, res);
    } catch (err) {
      const reason = err instanceof CimdFailure ? err.reason : networkFailureReason(err);
      failed(err, reason);
      throw err instanceof CimdFailure ? err : new CimdFailure(reason, { cause: err });
    }
  };
}
