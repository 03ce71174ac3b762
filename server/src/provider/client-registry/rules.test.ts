import { describe, expect, it } from 'vitest';
import { causeChain, isCimdClientId, isLoopbackHttpUri, notPrintable } from './rules.ts';

describe('client id and URI rules (pure)', () => {
  it('a CIMD id is an https URL, or an http loopback URL in development mode only', () => {
    expect(isCimdClientId('production', 'https://app.example/client.json')).toBe(true);
    expect(isCimdClientId('production', 'http://127.0.0.1:4000/client.json')).toBe(false);
    expect(isCimdClientId('development', 'http://127.0.0.1:4000/client.json')).toBe(true);
    expect(isCimdClientId('development', 'http://localhost/client.json')).toBe(true);
    expect(isCimdClientId('development', 'http://app.example/client.json')).toBe(false);
    expect(isCimdClientId('development', 'http://127.0.0.1/client.json#x')).toBe(false);
    expect(isCimdClientId('development', 'my-client')).toBe(false);
    expect(isCimdClientId('development', 42)).toBe(false);
  });

  it('a loopback http URI (RFC 8252 §7.3) is http on 127.0.0.1, [::1] or localhost', () => {
    expect(isLoopbackHttpUri('http://127.0.0.1:8080/cb')).toBe(true);
    expect(isLoopbackHttpUri('http://[::1]/cb')).toBe(true);
    expect(isLoopbackHttpUri('http://localhost/cb')).toBe(true);
    expect(isLoopbackHttpUri('https://127.0.0.1/cb')).toBe(false);
    expect(isLoopbackHttpUri('http://app.example/cb')).toBe(false);
    expect(isLoopbackHttpUri('not a uri')).toBe(false);
    expect(isLoopbackHttpUri(undefined)).toBe(false);
  });

  it('printable metadata: control characters and unpaired surrogates are found, nested too', () => {
    expect(notPrintable('Acme Agent')).toBe(false);
    expect(notPrintable('Acme\u0000')).toBe(true);
    expect(notPrintable('\ud800')).toBe(true);
    expect(notPrintable({ contacts: ['a@example.com', 'b\u007f'] })).toBe(true);
    expect(notPrintable([1, true, null])).toBe(false);
  });

  it('the cause chain of an error stops after five links', () => {
    let err: Error = new Error('0');
    for (let i = 1; i < 8; i++) err = new Error(String(i), { cause: err });
    expect([...causeChain(err)].map((e) => (e as Error).message)).toEqual(['7', '6', '5', '4', '3']);
    expect([...causeChain(undefined)]).toEqual([]);
  });
});
