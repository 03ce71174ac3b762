/** baton's kit for MCP servers and downstream services. See clients/README.md. */
export {
  createVerifier,
  memoryReplayStore,
  redisReplayStore,
  TokenError,
  type Caller,
  type ReplayStore,
  type VerifierOptions,
} from './verify.ts';
export { createMcpAuth, type McpAuth, type McpAuthOptions, type AuditEvent } from './mcp.ts';
export { mcpGuard, mcpMetadataRoute, mcpKoa, withMcpAuth, type BatonAuthInfo } from './adapters.ts';
export { createExchanger, ExchangeError, type Exchanged } from './exchange.ts';
