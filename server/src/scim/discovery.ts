/**
 * SCIM discovery (RFC 7644 §4): `/ServiceProviderConfig` (RFC 7643 §5: PATCH and filtering supported, bulk,
 * sort, ETags and password changes not; the bearer token of RFC 6750), `/Schemas` (RFC 7643 §7: the User
 * schema and the Enterprise User extension, §4.3) and `/ResourceTypes` (RFC 7643 §6: User), each built by scimmy with `meta.location` under this
 * IdP's SCIM base. Filtering these is not supported (RFC 7644 §4: 403 for a filter on ServiceProviderConfig,
 * answered by scimmy's resources' rule: 403 for all three).
 */
import SCIMMY from 'scimmy';
import { notFound, ScimRefusal } from './errors.ts';
// resource.ts also extends scimmy's User schema with the Enterprise extension, before these are described
import { MAX_RESULTS } from './resource.ts';

/** the body limit of a request (ServiceProviderConfig bulk.maxPayloadSize says 0: no bulk) */
export const MAX_BODY_BYTES = 64 * 1024;

export function serviceProviderConfig(base: string, documentationUri: string): SCIMMY.Schemas.ServiceProviderConfig {
  return new SCIMMY.Schemas.ServiceProviderConfig(
    {
      documentationUri,
      patch: { supported: true },
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      filter: { supported: true, maxResults: MAX_RESULTS },
      changePassword: { supported: false },
      sort: { supported: false },
      etag: { supported: false },
      authenticationSchemes: [
        {
          type: 'oauthbearertoken',
          name: 'OAuth Bearer Token',
          description: 'the bearer token configured for this identity provider (identity_providers[].scim.token)',
          specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
          primary: true,
        },
      ],
    },
    `${base}/ServiceProviderConfig`,
  );
}

/** the User schema and its Enterprise extension (resource.ts declares it) */
const SCHEMAS = [SCIMMY.Schemas.User.definition, SCIMMY.Schemas.EnterpriseUser.definition];

/** RFC 7643 §7: the schemas baton serves; one by id, or the ListResponse of all */
export function schemas(base: string, id: string | undefined): unknown {
  if (id === undefined) return new SCIMMY.Messages.ListResponse(SCHEMAS.map((d) => d.describe(`${base}/Schemas`)));
  const schema = SCHEMAS.find((d) => d.id === id);
  if (!schema) throw notFound(`no schema ${id.slice(0, 100)}`);
  return schema.describe(`${base}/Schemas`);
}

/** RFC 7643 §6: the resource types baton serves (User); one by id, or the ListResponse of all */
export function resourceTypes(base: string, id: string | undefined): unknown {
  const user = () => new SCIMMY.Schemas.ResourceType(SCIMMY.Resources.User.describe(), `${base}/ResourceTypes`);
  if (id === undefined) return new SCIMMY.Messages.ListResponse([user()]);
  if (id !== 'User') throw notFound(`no resource type ${id.slice(0, 100)}`);
  return user();
}

/** RFC 7644 §4: the discovery endpoints take no filter */
export function noFilter(query: Record<string, unknown>): void {
  if (query.filter !== undefined) throw new ScimRefusal(403, undefined, 'this endpoint does not support filtering');
}
