/**
 * The actor chain of an exchanged token (RFC 8693 §4.1): `act` names the current actor, and its own `act`
 * the one before, down to the client the user authorized. Built from verified tokens only, never from
 * client input.
 */

export interface Actor {
  sub: string;
  act?: Actor;
}

/** The number of actors in a chain. */
export function chainDepth(act: Actor | undefined): number {
  let depth = 0;
  for (let a = act; a; a = a.act) depth += 1;
  return depth;
}

/** deeper than this, a claimed chain is not read at all (max_chain is far below it) */
const MAX_READ_DEPTH = 16;

/** Only { sub, act } survive from a verified chain (RFC 8693 §4.1: exp, nbf, aud are meaningless inside). */
export function cleanChain(value: unknown, depth = 0): Actor | undefined {
  if (!value || typeof value !== 'object' || depth > MAX_READ_DEPTH) return undefined;
  const { sub, act } = value as { sub?: unknown; act?: unknown };
  if (typeof sub !== 'string' || !sub) return undefined;
  const inner = cleanChain(act, depth + 1);
  return inner ? { sub, act: inner } : { sub };
}

/** The chain with `actor` as the current actor, in front of the subject's chain (if any). */
export function nest(actor: string, chain: Actor | undefined): Actor {
  return chain ? { sub: actor, act: chain } : { sub: actor };
}
