/** Reading request parameters that may be absent, a string, or repeated (an array of strings). */

/** A space-separated scope parameter as a list (RFC 6749 §3.3); absent → []. */
export function splitScope(scope: unknown): string[] {
  return typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
}

/** A parameter that may be repeated (`resource`, `audience`: RFC 8707 §2, RFC 8693 §2.1) as a list. */
export function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * A `scope` parameter as the client sent it: undefined when absent or empty (nothing asked: the grant's
 * default applies), else its scopes.
 */
export function requestedScope(scope: unknown): string[] | undefined {
  return typeof scope === 'string' && scope ? splitScope(scope) : undefined;
}

/** A parameter or claim that must be one non-empty string; anything else (absent, empty, repeated) → undefined. */
export function oneString(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}
