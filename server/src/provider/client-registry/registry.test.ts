/** The client registry's pure rules: redirect URIs, host patterns, fetched URIs, client ids, static metadata. */
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.ts';
import { TOKEN_EXCHANGE } from '../../consts.ts';
import {
  fetchedUriProblem,
  hostMatches,
  isDevelopmentLoopbackClientId,
  isUrlClientId,
  networkFailureReason,
  redirectUriProblem,
  staticClientMetadata,
} from './index.ts';
import { SpecialUseAddressError } from '../internals.ts';

describe('redirectUriProblem (RFC 8252 §7, RFC 6749 §3.1.2)', () => {
  it.each([
    'https://app.example.com/cb',
    'https://app.example.com:8443/cb?x=1',
    'http://127.0.0.1/cb',
    'http://127.0.0.1:51004/cb',
    'http://127.9.9.9/cb',
    'http://localhost:3000/cb',
    'http://[::1]:3000/cb',
    'com.example.app:/oauth2redirect',
    'com.example.app://callback',
  ])('accepts %s', (uri) => {
    expect(redirectUriProblem(uri)).toBeUndefined();
  });

  it.each([
    ['https://*.example.com/cb', 'wildcards are not allowed'],
    ['http://127.0.0.1:*/cb', 'wildcards are not allowed'],
    ['https://app.example.com/cb#done', 'fragments are not allowed (RFC 6749 §3.1.2)'],
    ['https://app.example.com/cb#', 'fragments are not allowed (RFC 6749 §3.1.2)'],
    ['/cb', 'is not an absolute URI'],
    ['app.example.com/cb', 'is not an absolute URI'],
    ['javascript:alert(1)', 'the javascript: scheme is not allowed'],
    ['data:text/html,hi', 'the data: scheme is not allowed'],
    ['file:///etc/passwd', 'the file: scheme is not allowed'],
    ['vbscript:msgbox', 'the vbscript: scheme is not allowed'],
    ['ws://127.0.0.1/cb', 'the ws: scheme is not allowed'],
    ['ftp://files.example.com/cb', 'the ftp: scheme is not allowed'],
    ['http://app.example.com/cb', 'http is allowed only on loopback (RFC 8252 §7.3)'],
    ['http://10.0.0.1/cb', 'http is allowed only on loopback (RFC 8252 §7.3)'],
    ['http://127.0.0.1.example.com/cb', 'http is allowed only on loopback (RFC 8252 §7.3)'],
    ['https://app.example.com:/cb', 'the port is empty'],
    ['http://127.0.0.1:/cb', 'the port is empty'],
    ['http://127.0.0.1:0/cb', 'port 0 is not a port a client can listen on'],
    ['myapp:/cb', 'a private-use scheme must be a reverse domain name (RFC 8252 §7.1)'],
  ])('refuses %s: %s', (uri, problem) => {
    expect(redirectUriProblem(uri)).toBe(problem);
  });
});

describe('hostMatches', () => {
  it.each([
    ['api.example.com', ['api.example.com'], true],
    ['API.Example.COM', ['api.example.com'], true],
    ['a.example.com', ['*.example.com'], true],
    ['a.b.example.com', ['*.example.com'], true],
    ['api.example.com:8443', ['api.example.com:8443'], true],
    ['b.example.com', ['a.example.com', '*.example.com'], true],
    // a wildcard is for subdomains: not the domain itself, not a name that merely ends like it
    ['example.com', ['*.example.com'], false],
    ['.example.com', ['*.example.com'], false],
    ['evilexample.com', ['*.example.com'], false],
    ['example.com.evil.net', ['*.example.com'], false],
    ['api.example.com', ['api.example.com:8443'], false],
    ['api.example.com:8443', ['api.example.com'], false],
    ['api.example.com', [], false],
  ])('%s against %j: %s', (host, patterns, expected) => {
    expect(hostMatches(host, patterns)).toBe(expected);
  });
});

describe('fetchedUriProblem (a jwks_uri or request_uri baton would fetch)', () => {
  it.each([
    [42, 'must be a string'],
    [undefined, 'must be a string'],
    ['keys.example.com/jwks', 'is not an absolute URI'],
    ['https://keys.example.com/jwks#k', 'fragments are not allowed'],
    ['http://keys.example.com/jwks', 'must be an https URL'],
    ['ftp://keys.example.com/jwks', 'must be an https URL'],
    ['https://user:pw@keys.example.com/jwks', 'must not contain userinfo'],
    ['https://user@keys.example.com/jwks', 'must not contain userinfo'],
    ['https://keys.example.com:/jwks', 'the port is empty'],
    ['https://keys.example.com:0/jwks', 'port 0 is not a port a client can listen on'],
    ['https://127.0.0.1/jwks', 'must not be a loopback, private or special-use address'],
    ['https://localhost/jwks', 'must not be a loopback, private or special-use address'],
    ['https://[::1]/jwks', 'must not be a loopback, private or special-use address'],
    ['https://10.1.2.3/jwks', 'must not be a loopback, private or special-use address'],
    ['https://192.168.0.10/jwks', 'must not be a loopback, private or special-use address'],
    ['https://169.254.169.254/latest', 'must not be a loopback, private or special-use address'],
    ['https://[fd00::1]/jwks', 'must not be a loopback, private or special-use address'],
  ])('refuses %j: %s', (uri, problem) => {
    expect(fetchedUriProblem(uri, false)).toBe(problem);
  });

  it('accepts a public https URL (names are checked when resolved, at the fetch)', () => {
    expect(fetchedUriProblem('https://keys.example.com/jwks', false)).toBeUndefined();
    expect(fetchedUriProblem('https://keys.example.com:8443/.well-known/jwks.json', false)).toBeUndefined();
    expect(fetchedUriProblem('https://93.184.215.14/jwks', false)).toBeUndefined();
  });

  it('the development flag allows loopback and private addresses, and nothing else', () => {
    expect(fetchedUriProblem('https://127.0.0.1:8443/jwks', true)).toBeUndefined();
    expect(fetchedUriProblem('https://10.1.2.3/jwks', true)).toBeUndefined();
    expect(fetchedUriProblem('http://127.0.0.1/jwks', true)).toBe('must be an https URL');
    expect(fetchedUriProblem('https://u@127.0.0.1/jwks', true)).toBe('must not contain userinfo');
  });
});

describe('client id kinds', () => {
  it('a URL client id (CIMD) is an https string', () => {
    expect(isUrlClientId('https://app.example.com/client.json')).toBe(true);
    expect(isUrlClientId('http://app.example.com/client.json')).toBe(false);
    expect(isUrlClientId('ide-agent')).toBe(false);
    expect(isUrlClientId(undefined)).toBe(false);
  });

  it.each([
    ['http://127.0.0.1:3000/client.json', true],
    ['http://localhost:3000/oauth/client', true],
    ['http://[::1]:3000/client.json', true],
    ['HTTP://127.0.0.1/client.json', true],
    // not loopback, not http, or not a valid client id URL (fragment, userinfo, dot segments)
    ['http://app.example.com/client.json', false],
    ['http://10.0.0.1/client.json', false],
    ['https://127.0.0.1/client.json', false],
    ['http://127.0.0.1/client.json#x', false],
    ['http://me@127.0.0.1/client.json', false],
    ['http://127.0.0.1/a/../client.json', false],
    ['http://127.0.0.1/a/%2e%2e/client.json', false],
    ['ide-agent', false],
    [42, false],
  ])('in development mode, %j is a loopback client id: %s', (id, expected) => {
    expect(isDevelopmentLoopbackClientId('development', id)).toBe(expected);
  });

  it('never in production mode', () => {
    expect(isDevelopmentLoopbackClientId('production', 'http://127.0.0.1:3000/client.json')).toBe(false);
    expect(isDevelopmentLoopbackClientId('production', 'http://localhost/client.json')).toBe(false);
  });
});

describe('staticClientMetadata', () => {
  const clients = (...entries: Record<string, unknown>[]) =>
    configSchema.parse({
      issuer: 'http://127.0.0.1:9400',
      mode: 'development',
      resources: [{ uri: 'https://cost.example.com', name: 'Cost', scopes: ['cost.read'] }],
      clients: { static: entries },
    }).clients.static;

  it('a public agent with a loopback redirect: none, code + refresh, native, no secret', () => {
    const [agent] = clients({
      client_id: 'ide-agent',
      kind: 'agent',
      public: true,
      first_party: true,
      redirect_uris: ['http://127.0.0.1/callback'],
    });
    expect(staticClientMetadata(agent!)).toEqual({
      client_id: 'ide-agent',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      application_type: 'native',
      client_kind: 'agent',
      baton_first_party: true,
      baton_scopes: [],
    });
  });

  it('a service without redirect URIs: client_credentials only, no response type, its resources and scopes', () => {
    const secret = 'a-service-secret-0123456789abcdefghij';
    const [service] = clients({
      client_id: 'cost-reporter',
      name: 'Cost reporter',
      kind: 'service',
      client_secret: secret,
      resources: ['https://cost.example.com'],
      scopes: ['cost.read'],
      dpop_bound_access_tokens: true,
    });
    expect(staticClientMetadata(service!)).toEqual({
      client_id: 'cost-reporter',
      client_name: 'Cost reporter',
      client_secret: secret,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      application_type: 'web',
      dpop_bound_access_tokens: true,
      client_kind: 'service',
      baton_first_party: false,
      baton_resources: ['https://cost.example.com'],
      baton_scopes: ['cost.read'],
    });
  });

  it('a web app (https redirect) is web; a private-use scheme redirect is native', () => {
    const [web, native] = clients(
      {
        client_id: 'partner',
        kind: 'app',
        client_secret: 'partner-secret-0123456789abcdefghijkl',
        redirect_uris: ['https://partner.example.com/cb'],
      },
      { client_id: 'mobile', kind: 'app', public: true, redirect_uris: ['com.example.mobile:/cb'] },
    );
    expect(staticClientMetadata(web!)).toMatchObject({
      application_type: 'web',
      token_endpoint_auth_method: 'client_secret_basic',
    });
    expect(staticClientMetadata(web!)).not.toHaveProperty('dpop_bound_access_tokens');
    expect(staticClientMetadata(native!)).toMatchObject({ application_type: 'native' });
  });

  it('private_key_jwt names its jwks_uri; configured grant types win over the default, implied ones are added once', () => {
    const [actor] = clients({
      client_id: 'mcp-logs',
      kind: 'mcp_server',
      auth: 'private_key_jwt',
      jwks_uri: 'https://mcp.example.com/jwks',
      grant_types: ['client_credentials', TOKEN_EXCHANGE],
    });
    const md = staticClientMetadata(actor!, [TOKEN_EXCHANGE]);
    expect(md).toMatchObject({
      token_endpoint_auth_method: 'private_key_jwt',
      jwks_uri: 'https://mcp.example.com/jwks',
      grant_types: ['client_credentials', TOKEN_EXCHANGE],
      response_types: [],
    });
    expect(md).not.toHaveProperty('client_secret');
    const [plain] = clients({ client_id: 'svc', kind: 'service', client_secret: 'x'.repeat(32) });
    expect(staticClientMetadata(plain!, [TOKEN_EXCHANGE]).grant_types).toEqual(['client_credentials', TOKEN_EXCHANGE]);
  });
});

describe('networkFailureReason', () => {
  const coded = (code: unknown) => Object.assign(new Error('x'), { code });
  const wrapped = (cause: unknown, times = 1): unknown =>
    times === 0 ? cause : wrapped(new TypeError('fetch failed', { cause }), times - 1);

  it.each([
    [new SpecialUseAddressError('10.0.0.1'), 'host not allowed (a private or special-use address)'],
    [Object.assign(new Error('t'), { name: 'TimeoutError' }), 'timeout (the document must arrive within 2.5 s)'],
    [new DOMException('aborted', 'AbortError'), 'timeout (the document must arrive within 2.5 s)'],
    [coded('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'tls (UNABLE_TO_VERIFY_LEAF_SIGNATURE)'],
    [coded('DEPTH_ZERO_SELF_SIGNED_CERT'), 'tls (DEPTH_ZERO_SELF_SIGNED_CERT)'],
    [coded('ERR_TLS_CERT_ALTNAME_INVALID'), 'tls (ERR_TLS_CERT_ALTNAME_INVALID)'],
    [coded('EPROTO'), 'tls (EPROTO)'],
    [coded('ECONNREFUSED'), 'connection refused'],
    [coded('ENOTFOUND'), 'host name not found'],
    [coded('EAI_AGAIN'), 'host name not found'],
    [coded('ECONNRESET'), 'connection reset'],
    [coded('EHOSTUNREACH'), 'connection failed'],
    [coded(404), 'connection failed'],
    [new Error('plain'), 'connection failed'],
    [undefined, 'connection failed'],
  ])('%s: %s', (err, reason) => {
    expect(networkFailureReason(err)).toBe(reason);
  });

  it('looks through causes (as undici wraps them), at most five deep', () => {
    expect(networkFailureReason(wrapped(coded('ECONNREFUSED')))).toBe('connection refused');
    expect(networkFailureReason(wrapped(new SpecialUseAddressError('::1'), 2))).toBe(
      'host not allowed (a private or special-use address)',
    );
    expect(networkFailureReason(wrapped(coded('ENOTFOUND'), 4))).toBe('host name not found');
    expect(networkFailureReason(wrapped(coded('ENOTFOUND'), 5))).toBe('connection failed');
  });
});
