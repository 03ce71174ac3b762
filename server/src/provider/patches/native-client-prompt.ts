/**
 * Patch: oidc-provider's consent prompt check `native_client_prompt`, replaced by name.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/helpers/interaction_policy/prompts/consent.js (the `consent` prompt's first check,
 * 'native_client_prompt' / 'native clients require End-User interaction' / 'interaction_required', requests
 * the prompt for every native client whose response_type is not `none` and that has no consent result in
 * this request, even when the user has just signed in); `interactionPolicy.base()` builds it.
 * Serves: RFC 8252 §8.6 (a native client's identity cannot be assured: any app can claim a loopback
 * redirect, so a request is never completed without the user).
 * Test: native-client-prompt.test.ts.
 *
 * baton keeps the rule, with one change: a first-party native client goes through when the user has just
 * interacted in this same request (signed in); otherwise the consent page is shown.
 */
import { interactionPolicy } from 'oidc-provider';

/** the upstream check replaced, by name, and its texts (kept) */
export const NATIVE_CLIENT_PROMPT = 'native_client_prompt';
const DESCRIPTION = 'native clients require End-User interaction';
const ERROR = 'interaction_required';

/** oidc-provider's prompts, with `native_client_prompt` replaced. */
export function interactionPrompts(isFirstParty: (client: { clientId: string }) => boolean) {
  const policy = interactionPolicy.base();
  const consent = policy.get('consent')!;
  consent.checks.remove(NATIVE_CLIENT_PROMPT);
  consent.checks.add(
    new interactionPolicy.Check(NATIVE_CLIENT_PROMPT, DESCRIPTION, ERROR, (ctx) => {
      const { oidc } = ctx;
      if (oidc.client?.applicationType !== 'native' || oidc.params?.response_type === 'none') return false;
      if (oidc.result?.consent) return false;
      const justSignedIn = oidc.result?.login !== undefined;
      return !(justSignedIn && isFirstParty(oidc.client));
    }),
    0,
  );
  return policy;
}
