import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GatewayConfig } from '../config/schema.ts';
import { tempDir } from '../../test/temp.ts';
import { CredentialError, credentialSource, placeCredential } from './credential.ts';

const gw = (id: string, credential: GatewayConfig['credential']): GatewayConfig => ({
  id,
  resource: `http://127.0.0.1:9600/${id}/mcp`,
  upstream: 'https://mcp.example.com/mcp?region=eu',
  credential,
  scopes: {},
  timeout_seconds: 30,
  max_request_bytes: 1 << 20,
  max_response_bytes: 1 << 24,
});

describe('the gateway credential (gateway/credential.ts)', () => {
  it('reads env and file at every call: a rewritten file is used from the next call on', async () => {
    const file = join(tempDir('credential'), 'key');
    writeFileSync(file, 'sk-one\n');
    const env: Record<string, string | undefined> = { K: 'sk-env' };
    const source = credentialSource(
      [gw('e', { header: 'X-API-Key', env: 'K' }), gw('f', { header: 'X-API-Key', file })],
      {
        env,
      },
    );
    expect(await source('e')).toEqual({ value: 'sk-env' });
    expect(await source('f')).toEqual({ value: 'sk-one' });
    writeFileSync(file, 'sk-two\n');
    env.K = 'sk-env-2';
    expect(await source('f')).toEqual({ value: 'sk-two' });
    expect(await source('e')).toEqual({ value: 'sk-env-2' });
  });

  it('resolves { secret: NAME } through the injected lookup (with the previous value in an overlap), and says so when none is wired', async () => {
    const gateways = [gw('s', { header: 'Authorization', prefix: 'Bearer ', secret: 'SEARCH' })];
    expect(await credentialSource(gateways, { secret: async (name) => ({ value: `value-of-${name}` }) })('s')).toEqual({
      value: 'value-of-SEARCH',
    });
    // in a rotation's overlap, the previous value too; one a header cannot carry is left out, not refused
    const stored = { value: ' sk-new\n', previous: 'sk-old' };
    expect(await credentialSource(gateways, { secret: async () => stored })('s')).toEqual({
      value: 'sk-new',
      previous: 'sk-old',
    });
    stored.previous = 'sk-old\r\nX-Evil: 1';
    expect(await credentialSource(gateways, { secret: async () => stored })('s')).toEqual({ value: 'sk-new' });
    await expect(credentialSource(gateways)('s')).rejects.toThrow(
      new CredentialError('secret SEARCH: no secrets store is wired into this gateway'),
    );
  });

  it('refuses a value unset, empty or with CR/LF (header smuggling), never naming the value', async () => {
    const env = { CRLF: 'sk-live\r\nX-Evil: 1', EMPTY: ' ' };
    const source = credentialSource(
      [
        gw('a', { header: 'X-API-Key', env: 'CRLF' }),
        gw('b', { header: 'X-API-Key', env: 'EMPTY' }),
        gw('c', { header: 'X-API-Key', env: 'NONE' }),
      ],
      { env },
    );
    const messages = await Promise.all(['a', 'b', 'c'].map((id) => source(id).catch((e: Error) => e.message)));
    expect(messages).toEqual([
      'environment variable CRLF holds characters a header value cannot carry',
      'environment variable EMPTY is empty',
      'environment variable NONE is not set',
    ]);
  });

  it('places the value in the header (with its prefix) or as the query parameter', () => {
    expect(placeCredential(gw('h', { header: 'Authorization', prefix: 'Bearer ', env: 'K' }), 'sk')).toEqual({
      url: 'https://mcp.example.com/mcp?region=eu',
      header: ['authorization', 'Bearer sk'],
    });
    expect(placeCredential(gw('q', { query: 'api_key', env: 'K' }), 's k&x')).toEqual({
      url: 'https://mcp.example.com/mcp?region=eu&api_key=s+k%26x',
    });
  });
});
