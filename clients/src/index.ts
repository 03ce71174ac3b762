/** baton's kit for MCP servers and downstream services. See clients/README.md. */
export { createVerifier, TokenError, type Caller, type VerifierOptions } from './verify.ts';
export { createMcpAuth, type McpAuth, type McpAuthOptions, type AuditEvent } from './mcp.ts';
export { mcpGuard, mcpMetadataRoute, mcpKoa, withMcpAuth, type BatonAuthInfo } from './adapters.ts';
export { createExchanger, ExchangeError, type Exchanged } from './exchange.ts';
