#!/usr/bin/env bash
# Provision a freshly started Glewlwyd (fresh DB, admin/password) through its admin REST API:
#  - user backend 'database' gets a multi-valued 'groups' property (then a module reset, see below)
#  - scopes 'email' and 'profile' (the packaged DB only has 'openid'), so an RP may ask for them
#  - OIDC plugin instance 'oidc': issuer http://127.0.0.1:$GLEWLWYD_PORT/api/oidc, RS256, PKCE S256 only,
#    'email' and 'groups' claims in the ID token
#  - users alice / alice-password (alice@example.com, groups [developers]) and bob / bob-password
#    (bob@example.com, groups [oncall])
#  - confidential client $RP_CLIENT_ID / $RP_CLIENT_SECRET, redirect $RP_REDIRECT, code + refresh_token
#  - with RP_BACKCHANNEL_LOGOUT_URI: session management and OpenID Connect Back-Channel Logout in the plugin
#    (a `sid` in every ID token; ending a session posts a logout token, with `sub` and `sid`, to that URI)
#  - the "upstream authorization server" role (README.md "Upstream authorization server"), each off by default:
#    GLEWLWYD_ACCESS_TOKEN_SECONDS (3600), GLEWLWYD_SCOPES (extra scopes, space-separated, allowed to alice and bob),
#    GLEWLWYD_REVOCATION=1 (RFC 7009 /revoke and RFC 7662 /introspect, the client authenticating with its secret),
#    GLEWLWYD_RESOURCES='scope=uri ...' (RFC 8707 resource indicators: uri allowed for scope; aud = the resource),
#    GLEWLWYD_REFRESH_TOKEN_ONE_USE (never | always: each refresh returns a new refresh token, disables the old one),
#    GLEWLWYD_ALLOW_NON_OIDC=1 (plain OAuth 2.0 requests without the openid scope; otherwise invalid_scope)
# Settings (env): GLEWLWYD_DIR (required, holds idp-rsa.key/.pub), GLEWLWYD_PORT (9011), RP_REDIRECT (required),
# RP_CLIENT_ID (baton), RP_CLIENT_SECRET (baton-idp-secret-0123456789), RP_BACKCHANNEL_LOGOUT_URI (none), and the above.
set -euo pipefail
DIR=${GLEWLWYD_DIR:?set GLEWLWYD_DIR to the state dir holding idp-rsa.key}
PORT=${GLEWLWYD_PORT:-9011}
RP_REDIRECT=${RP_REDIRECT:?set RP_REDIRECT to the relying party redirect URI}
RP_CLIENT_ID=${RP_CLIENT_ID:-baton}
RP_CLIENT_SECRET=${RP_CLIENT_SECRET:-baton-idp-secret-0123456789}
RP_BACKCHANNEL_LOGOUT_URI=${RP_BACKCHANNEL_LOGOUT_URI:-}
ACCESS_TOKEN_SECONDS=${GLEWLWYD_ACCESS_TOKEN_SECONDS:-3600}
read -r -a EXTRA_SCOPES <<<"${GLEWLWYD_SCOPES:-}"
REVOCATION=${GLEWLWYD_REVOCATION:-0}
read -r -a RESOURCES <<<"${GLEWLWYD_RESOURCES:-}"
REFRESH_TOKEN_ONE_USE=${GLEWLWYD_REFRESH_TOKEN_ONE_USE:-never}
ALLOW_NON_OIDC=$([ "${GLEWLWYD_ALLOW_NON_OIDC:-0}" = 1 ] && echo true || echo false)
case "$ACCESS_TOKEN_SECONDS" in '' | *[!0-9]* | 0) echo "GLEWLWYD_ACCESS_TOKEN_SECONDS must be a positive integer" >&2; exit 1 ;; esac
case "$REFRESH_TOKEN_ONE_USE" in never | always) ;; *) echo "GLEWLWYD_REFRESH_TOKEN_ONE_USE must be never or always" >&2; exit 1 ;; esac
# scopes given to users and allowed in the plugin
ALL_SCOPES=$(jq -nc '$ARGS.positional' --args openid email profile "${EXTRA_SCOPES[@]}")
# RFC 8707 resource-scope: {"scope": ["uri", ...]} from 'scope=uri' pairs
RESOURCE_SCOPE=$(jq -nc 'reduce ($ARGS.positional[] | capture("^(?<s>[^=]+)=(?<u>.+)$")) as $p ({};
  .[$p.s] += [$p.u])' --args "${RESOURCES[@]}")
B=http://127.0.0.1:$PORT/api
JAR=$(mktemp)
trap 'rm -f "$JAR"' EXIT
# JSON call with the admin session; on an HTTP error, print the body and fail
j() {
  local out code
  out=$(curl -sS -b "$JAR" -H 'Content-Type: application/json' -w '\n%{http_code}' "$@")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "${code:0:1}" != 2 ]; then
    echo "provision: HTTP $code for curl $*: $out" >&2
    return 1
  fi
  printf '%s' "$out"
}

# 1. admin login (admin/password comes from the packaged init.sqlite3.sql)
curl -sS -f -c "$JAR" -H 'Content-Type: application/json' \
  -d '{"username":"admin","password":"password"}' "$B/auth/" >/dev/null

# 2. multi-valued 'groups' property on the database user backend. Quirk: the module must be reset
#    (reloaded) afterwards, or creating a user with groups fails with "property 'groups' must be a string value".
j "$B/mod/user/database" | jq '.parameters["data-format"].groups =
   {"multiple":true,"read":true,"write":true,"profile-read":true,"profile-write":false}' |
  j -X PUT --data-binary @- "$B/mod/user/database" >/dev/null
j -X PUT "$B/mod/user/database/reset" >/dev/null

# 3. scopes an RP may request besides openid (password-authenticated, no extra factor)
for s in email profile "${EXTRA_SCOPES[@]}"; do
  jq -n --arg s "$s" '{name:$s, display_name:$s, description:("OIDC " + $s), password_required:true,
    password_max_age:0, scheme:{}}' | j -X POST --data-binary @- "$B/scope/" >/dev/null
done

# 4. OIDC plugin instance named 'oidc' -> endpoints under $B/oidc/ (jq 1.6: 'module' is a keyword, so no shorthand)
#    With RP_BACKCHANNEL_LOGOUT_URI: session management (its OIDC session cookie; its value is the `sid`) and
#    back-channel logout (protocol_oidc.c run_backchannel_logout: on DELETE /api/oidc/session/<sid>)
#    GLEWLWYD_REVOCATION=1: introspection-revocation-allowed (discovery lists revocation_endpoint and
#    introspection_endpoint) and introspection-revocation-allow-target-client (a client authenticates there with
#    its own id and secret, and only sees and revokes its own tokens)
#    GLEWLWYD_RESOURCES: resource-allowed (the `resource` parameter is read at /auth and /token; without it, it
#    is ignored) and resource-scope (which resources each scope may ask for)
jq -n --rawfile key "$DIR/idp-rsa.key" --rawfile pub "$DIR/idp-rsa.pub" --arg iss "$B/oidc" \
  --argjson logout "$([ -n "$RP_BACKCHANNEL_LOGOUT_URI" ] && echo true || echo false)" \
  --argjson ats "$ACCESS_TOKEN_SECONDS" --argjson scopes "$ALL_SCOPES" --argjson resources "$RESOURCE_SCOPE" \
  --argjson revocation "$([ "$REVOCATION" = 1 ] && echo true || echo false)" --arg oneuse "$REFRESH_TOKEN_ONE_USE" \
  --argjson nonoidc "$ALLOW_NON_OIDC" '{
  "module":"oidc", name:"oidc", display_name:"Test IdP", enabled:true,
  parameters:({
    iss:$iss, "jwt-type":"rsa", "jwt-key-size":"256",
    key:$key, cert:$pub, "jwks-show":true,
    "access-token-duration":$ats, "refresh-token-duration":1209600, "code-duration":600,
    "refresh-token-rolling":true, "refresh-token-one-use":$oneuse, "allow-non-oidc":$nonoidc,
    "auth-type-code-enabled":true, "auth-type-token-enabled":false,
    "auth-type-id-token-enabled":true, "auth-type-password-enabled":false,
    "auth-type-client-enabled":false, "auth-type-refresh-enabled":true,
    "subject-type":"public", "allowed-scope":$scopes,
    "pkce-allowed":true, "pkce-method-plain-allowed":false,
    "name-claim":"mandatory", "email-claim":"mandatory",
    "claims":[ {"name":"groups","user-property":"groups","type":"string","mandatory":true,"on-demand":false,"scope":[]} ]
  } + (if $logout then {"session-management-allowed":true, "session-cookie-name":"GLEWLWYD2_OIDC_SID",
    "session-cookie-expiration":2419200, "back-channel-logout-allowed":true} else {} end)
  + (if $revocation then {"introspection-revocation-allowed":true,
    "introspection-revocation-allow-target-client":true} else {} end)
  + (if $resources != {} then {"resource-allowed":true, "resource-scope":$resources} else {} end))
  }' | j -X POST --data-binary @- "$B/mod/plugin/" >/dev/null

# 5. users with password, email and groups
user() { # username display-name email group...
  local u=$1 n=$2 e=$3
  shift 3
  jq -n --arg u "$u" --arg n "$n" --arg e "$e" --arg p "$u-password" --argjson scopes "$ALL_SCOPES" '{username:$u,
    name:$n, email:$e, enabled:true, password:$p, scope:$scopes, groups:$ARGS.positional}' --args "$@" |
    j -X POST --data-binary @- "$B/user/" >/dev/null
}
user alice "Alice Example" alice@example.com developers
user bob "Bob Example" bob@example.com oncall

# 6. confidential client: authorization code (+ PKCE) and refresh token, client_secret_basic or _post
#    (with RP_BACKCHANNEL_LOGOUT_URI: the client's backchannel_logout_uri, and the `sid` in its logout tokens:
#    Glewlwyd reads backchannel_logout_session_required as the string "true")
jq -n --arg id "$RP_CLIENT_ID" --arg secret "$RP_CLIENT_SECRET" --arg r "$RP_REDIRECT" \
  --arg bcl "$RP_BACKCHANNEL_LOGOUT_URI" '{client_id:$id,
  name:"Relying party under test", enabled:true, confidential:true, password:$secret,
  redirect_uri:[$r], authorization_type:["code","refresh_token"],
  token_endpoint_auth_method:["client_secret_basic","client_secret_post"], scope:[]}
  + (if $bcl != "" then {backchannel_logout_uri:$bcl, backchannel_logout_session_required:"true"} else {} end)' |
  j -X POST --data-binary @- "$B/client/" >/dev/null
echo "provisioned: client $RP_CLIENT_ID -> $RP_REDIRECT; users alice, bob"
