/**
 * For an MCP server that calls a downstream service for its user: exchange the inbound token for one
 * addressed to the target (RFC 8693), authenticating as itself with a client secret or private_key_jwt
 * (RFC 7523 §2.2), and reuse the result for the same (subject token, target, scope) until shortly before
 * it expires.
 */
import { createHash } from 'node:crypto';
import { clientAuthFor, type ClientCredentials } from './client-auth.ts';

export interface ExchangerOptions extends ClientCredentials {
  issuer: string;
  /** renew this long before expiry (default 30 s) */
  marginSeconds?: number;
  /** give up on baton after this long (default 10 s): ExchangeError 503 temporarily_unavailable */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface Exchanged {
  accessToken: string;
  tokenType: string;
  expiresAt: number;
  scope: string | undefined;
}

/**
 * The token endpoint's refusal (RFC 6749 §5.2 / RFC 8693 §2.2.2), or, with status 503 and
 * `temporarily_unavailable`, baton could not be reached or did not answer in time.
 */
export class ExchangeError extends Error {
  override name = 'ExchangeError';
  readonly status: number;
  readonly error: string;
  constructor(status: number, error: string, description?: string) {
    super(`${error}${description ? `: ${description}` : ''}`);
    this.status = status;
    this.error = error;
  }
}

export function createExchanger(options: ExchangerOptions) {
  if (!options.clientSecret && !options.privateKey)
    throw new TypeError('createExchanger needs clientSecret or privateKey');
  const clientAuth = clientAuthFor(options.issuer, options);
  const cache = new Map<string, Promise<Exchanged>>();
  const doFetch = options.fetch ?? fetch;
  const margin = (options.marginSeconds ?? 30) * 1000;

  async function request(subjectToken: string, target: string, scope: string | undefined): Promise<Exchanged> {
    const auth = await clientAuth();
    let res: Response;
    try {
      res = await doFetch(`${options.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth.headers },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: subjectToken,
          subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          resource: target,
          ...(scope ? { scope } : {}),
          ...auth.params,
        }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new ExchangeError(503, 'temporarily_unavailable', `baton's token endpoint: ${(err as Error).message}`);
    }
    const body = (await res.json().catch(() => ({ error_description: `HTTP ${res.status}, not JSON` }))) as {
      access_token?: string;
      token_type?: string;
      expires_in?: number;
      scope?: string;
      error?: string;
      error_description?: string;
    };
    if (!res.ok || !body.access_token)
      throw new ExchangeError(res.status, body.error ?? 'server_error', body.error_description);
    return {
      accessToken: body.access_token,
      tokenType: body.token_type ?? 'Bearer',
      expiresAt: Date.now() + (body.expires_in ?? 60) * 1000,
      scope: body.scope,
    };
  }

  return async function exchange(subjectToken: string, target: string, scope?: string): Promise<Exchanged> {
    const key = `${createHash('sha256').update(subjectToken).digest('base64url')} ${target} ${scope ?? ''}`;
    const hit = cache.get(key);
    if (hit) {
      const value = await hit.catch(() => undefined);
      if (value && value.expiresAt - margin > Date.now()) return value;
    }
    const pending = request(subjectToken, target, scope);
    if (cache.size > 10_000) cache.clear();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
    return pending;
  };
}
