/**
 * How the kit authenticates to baton's token endpoint as a client (exchange.ts, audit-reporter.ts): HTTP
 * Basic with the client secret (RFC 6749 §2.3.1, `client_secret_basic`, each part form-urlencoded), or a
 * `private_key_jwt` assertion (RFC 7523 §2.2, OpenID Connect Core §9) signed with jose, good for 60 s.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, type CryptoKey, type KeyObject } from 'jose';

export interface ClientCredentials {
  clientId: string;
  clientSecret?: string;
  privateKey?: { key: CryptoKey | KeyObject; alg: string; kid?: string };
}

export type ClientAuth = () => Promise<{ headers: Record<string, string>; params: Record<string, string> }>;

/** The headers and form parameters that authenticate `credentials` at `issuer`'s token endpoint. */
export function clientAuthFor(issuer: string, credentials: ClientCredentials): ClientAuth {
  const { clientId, clientSecret, privateKey } = credentials;
  if (!clientSecret && !privateKey) throw new TypeError('client authentication needs clientSecret or privateKey');
  return async (): ReturnType<ClientAuth> => {
    if (privateKey) {
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: privateKey.alg, ...(privateKey.kid ? { kid: privateKey.kid } : {}) })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(issuer)
        .setJti(randomUUID())
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(privateKey.key);
      return {
        headers: {},
        params: {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
          client_id: clientId,
        },
      };
    }
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret!)}`).toString(
      'base64',
    );
    return { headers: { authorization: `Basic ${basic}` }, params: {} };
  };
}
