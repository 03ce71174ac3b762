/**
 * An admin operation refused what it was asked (an unknown or ambiguous account, bad arguments): the message
 * is for the operator, the same whether the command ran on the store or through the running server.
 */
export type AdminErrorCode = 'not_found' | 'ambiguous' | 'conflict' | 'invalid_request' | 'unknown_operation';

export class AdminError extends Error {
  override name = 'AdminError';
  readonly code: AdminErrorCode;
  /** the audit record's reason when it is not the code (a key store refusal: `keystore_refused`) */
  readonly reason: string | undefined;
  constructor(code: AdminErrorCode, message: string, reason?: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}

export const ADMIN_ERROR_STATUS: Record<AdminErrorCode, number> = {
  not_found: 404,
  ambiguous: 409,
  /** the target's state forbids it (a key not in the state the change needs, too early; a configured block) */
  conflict: 409,
  invalid_request: 400,
  unknown_operation: 404,
};
