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
export { createMcpAuth, toolCallEvent, type McpAuth, type McpAuthOptions, type AuditEvent } from './mcp.ts';
export {
  apiCallEvent,
  createAuditReporter,
  type AuditReporter,
  type AuditReporterOptions,
  type AuditReporterStats,
  type ReportedCall,
} from './audit-reporter.ts';
export { mcpGuard, mcpMetadataRoute, mcpKoa, withMcpAuth, type BatonAuthInfo } from './adapters.ts';
export {
  decodeStatusList,
  encodeStatusList,
  StatusList,
  StatusListFormatError,
  StatusListUnavailableError,
  STATUS_INVALID,
  STATUS_SUSPENDED,
  STATUS_VALID,
  type StatusListInfo,
  type StatusListOptions,
  type StatusListStats,
} from './status-list.ts';
export { createExchanger, ExchangeError, type Exchanged } from './exchange.ts';
