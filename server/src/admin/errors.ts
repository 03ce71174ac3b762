/**
 * An admin operation refused what it was asked (an unknown or ambiguous account, bad arguments): the message
 * is for the operator, the same whether the command ran on the store or through the running server.
 */
export type AdminErrorCode = 'not_found' | 'ambiguous' | 'invalid_request' | 'unknown_operation';

export class AdminError extends Error {
  override name = 'AdminError';
  readonly code: AdminErrorCode;
  constructor(code: AdminErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export const ADMIN_ERROR_STATUS: Record<AdminErrorCode, number> = {
  not_found: 404,
  ambiguous: 409,
  invalid_request: 400,
  unknown_operation: 404,
};
