/** baton's own client metadata properties (oidc-provider `extraClientMetadata`). */
export const CLIENT_KIND = 'client_kind';
export const FIRST_PARTY = 'baton_first_party';
export const ALLOWED_RESOURCES = 'baton_resources';
export const ALLOWED_SCOPES = 'baton_scopes';
