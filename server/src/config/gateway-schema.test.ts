/** The `gateway` and `gateways` sections (server/src/gateway/): each refusal names its key path. */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './load.ts';

const KEK = 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4';
const GW = 'http://127.0.0.1:9600/search/mcp';
const base = {
  issuer: 'https://auth.example.com',
  keys: { encryption_key: KEK },
  resources: [{ uri: GW, name: 'Search', scopes: ['search.query'] }],
};
const search = (extra: Record<string, unknown> = {}) => ({
  id: 'search',
  resource: GW,
  upstream: 'https://mcp.search.example.com/mcp',
  credential: { header: 'X-API-Key', env: 'SEARCH_KEY' },
  ...extra,
});
const parse = (config: Record<string, unknown>) =>
  parseConfig(JSON.stringify({ ...base, ...config }), { env: {}, source: 'baton.yaml' });
const problem = (config: Record<string, unknown>) => {
  try {
    parse(config);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message.replace('invalid configuration in baton.yaml:\n  ', '');
  }
  throw new Error('expected a ConfigError');
};

describe('gateways', () => {
  it('takes a gateway with its defaults', () => {
    const c = parse({ gateways: [search({ scopes: { 'tools/call:echo': 'search.query' } })] });
    expect(c.gateway.listen).toEqual({ host: '127.0.0.1', port: 9600 });
    expect(c.gateways[0]).toEqual({
      ...search(),
      scopes: { 'tools/call:echo': 'search.query' },
      timeout_seconds: 30,
      max_request_bytes: 1024 * 1024,
      max_response_bytes: 16 * 1024 * 1024,
    });
  });

  it('refuses a gateway whose resource is not one of resources[].uri', () => {
    expect(problem({ gateways: [search({ resource: 'http://127.0.0.1:9600/other/mcp' })] })).toBe(
      'gateways[0].resource: names http://127.0.0.1:9600/other/mcp, which is not in resources',
    );
  });

  it('refuses two gateways with one id or one resource', () => {
    expect(problem({ gateways: [search(), search()] })).toBe(
      'gateways[1].id: is listed twice\n  gateways[1].resource: is listed twice',
    );
  });

  it('refuses a credential without placement, with two places or two sources', () => {
    expect(problem({ gateways: [search({ credential: { env: 'K' } })] })).toBe(
      'gateways[0].credential.header: set either header or query',
    );
    expect(problem({ gateways: [search({ credential: { query: 'api_key', prefix: 'Bearer ', env: 'K' } })] })).toBe(
      'gateways[0].credential.prefix: goes with header',
    );
    expect(problem({ gateways: [search({ credential: { header: 'X-API-Key', env: 'K', file: '/k' } })] })).toBe(
      'gateways[0].credential.secret: set exactly one of secret, env, file (where the value comes from)',
    );
    expect(problem({ gateways: [search({ credential: { header: 'X-API-Key', value: 'sk-live' } })] })).toMatch(
      /^gateways\[0\]\.credential\.value: unknown key/,
    );
  });

  it('refuses a header name that is no HTTP token (header smuggling)', () => {
    expect(problem({ gateways: [search({ credential: { header: 'X-Key\r\nX-Evil', env: 'K' } })] })).toBe(
      'gateways[0].credential.header: must be an HTTP header name (RFC 9110 §5.1)',
    );
  });

  it('a reporting gateway must be its resources’ server (resources[].client_id)', () => {
    expect(
      problem({
        gateway: { client_id: 'search-gateway', client_secret: 'a-client-secret-0123456789abcdefghij' },
        gateways: [search()],
      }),
    ).toBe(
      'gateways[0].resource: is served by the gateway: its resources[].client_id must be gateway.client_id (search-gateway) for its calls to reach the audit trail',
    );
    expect(problem({ gateway: { client_id: 'search-gateway' } })).toBe(
      'gateway.client_secret: is required with client_id',
    );
  });
});
