import { describe, expect, it } from 'vitest';
import { interactionPolicy } from 'oidc-provider';
import { interactionPrompts, NATIVE_CLIENT_PROMPT } from './native-client-prompt.ts';

type Checkable = { reason: string; description: string; error: string; check: (ctx: unknown) => unknown };
const consentChecks = (policy: ReturnType<typeof interactionPolicy.base>): Checkable[] => [
  ...(policy.get('consent')!.checks as unknown as Checkable[]),
];
const nativeCheck = (policy: ReturnType<typeof interactionPolicy.base>) =>
  consentChecks(policy).find((c) => c.reason === NATIVE_CLIENT_PROMPT)!;

/** the part of an authorization request's context the check reads */
function request(o: { app?: string; clientId?: string; responseType?: string; login?: boolean; consent?: boolean }) {
  return {
    oidc: {
      client: { clientId: o.clientId ?? 'app', applicationType: o.app ?? 'native' },
      params: { response_type: o.responseType ?? 'code' },
      result: {
        ...(o.login ? { login: { accountId: 'alice' } } : {}),
        ...(o.consent ? { consent: { grantId: 'g' } } : {}),
      },
    },
  };
}

describe('upstream (oidc-provider without the patch)', () => {
  it('the consent prompt has a native_client_prompt check, with these texts', () => {
    const check = nativeCheck(interactionPolicy.base());
    expect(check).toMatchObject({
      reason: 'native_client_prompt',
      description: 'native clients require End-User interaction',
      error: 'interaction_required',
    });
  });

  it('asks a native client for consent even when the user has just signed in', () => {
    const { check } = nativeCheck(interactionPolicy.base());
    expect(check(request({ login: true }))).toBe(true);
    expect(check(request({}))).toBe(true);
    expect(check(request({ consent: true }))).toBe(false);
    expect(check(request({ app: 'web' }))).toBe(false);
    expect(check(request({ responseType: 'none' }))).toBe(false);
  });
});

describe('native-client-prompt (the patch)', () => {
  const policy = interactionPrompts((client) => client.clientId === 'first-party');

  it('replaces the check by name, with the same texts, and keeps every other check', () => {
    const upstream = consentChecks(interactionPolicy.base()).map((c) => c.reason);
    const patched = consentChecks(policy).map((c) => c.reason);
    expect(patched.filter((r) => r === NATIVE_CLIENT_PROMPT)).toHaveLength(1);
    expect([...patched].sort()).toEqual([...upstream].sort());
    expect(nativeCheck(policy)).toMatchObject({
      description: 'native clients require End-User interaction',
      error: 'interaction_required',
    });
  });

  it('lets a first-party native client through when the user has just signed in, and no other', () => {
    const { check } = nativeCheck(policy);
    expect(check(request({ clientId: 'first-party', login: true }))).toBe(false);
    expect(check(request({ clientId: 'first-party' }))).toBe(true);
    expect(check(request({ login: true }))).toBe(true);
    expect(check(request({ consent: true }))).toBe(false);
    expect(check(request({ app: 'web' }))).toBe(false);
    expect(check(request({ responseType: 'none' }))).toBe(false);
  });
});
