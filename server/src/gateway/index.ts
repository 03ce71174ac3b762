/** `baton gateway`: third-party MCP servers that take one shared key, behind baton (README "Gateway"). */
export { startGateway, type GatewayDeps, type RunningGateway } from './server.ts';
export { gatewayReplayStore } from './replay.ts';
export { sessionBinding, sessionKey, type SessionBinding } from './sessions.ts';
export {
  credentialSource,
  placeCredential,
  CredentialError,
  type CredentialSource,
  type CredentialSourceOptions,
  type SecretLookup,
} from './credential.ts';
