#!/usr/bin/env bash
# Signs a user of `npm start`'s local directory in without a browser, with curl only, as the IDE agent
# (ide-agent, public, first party), and prints the authorization code (README.md, Quickstart):
#   GET /auth → the interaction page → POST its form (its CSRF token, the interaction cookie) → the
#   redirects → the client's callback, http://127.0.0.1/callback?code=…&state=…&iss=… (not fetched).
# usage: scripts/try-signin.sh [USERNAME [PASSWORD]]   (default alice / <username>-password)
# environment: BATON (http://127.0.0.1:9400), RESOURCE (http://127.0.0.1:9401/mcp),
#   SCOPE ("logs.read incidents.trigger")
# The PKCE pair is RFC 7636 Appendix B's, for trying only: redeem the code with
#   code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
set -euo pipefail

BATON=${BATON:-http://127.0.0.1:9400}
ORIGIN=$(printf '%s' "$BATON" | sed -E 's#^(https?://[^/]+).*#\1#')
USERNAME=${1:-alice}
PASSWORD=${2:-$USERNAME-password}
RESOURCE=${RESOURCE:-http://127.0.0.1:9401/mcp}
SCOPE=${SCOPE:-logs.read incidents.trigger}
REDIRECT=http://127.0.0.1/callback

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar=$work/cookies page=$work/page.html

# one request with the cookie jar; prints where it redirects to (empty: a page, saved in $page)
get() { curl -sS -c "$jar" -b "$jar" -o "$page" -w '%{redirect_url}' "$@"; }

next=$(get -G "$BATON/auth" --data-urlencode client_id=ide-agent --data-urlencode response_type=code \
  --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "resource=$RESOURCE" --data-urlencode "scope=$SCOPE" \
  --data-urlencode code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM \
  --data-urlencode code_challenge_method=S256 --data-urlencode state=try-signin)

for _ in 1 2 3 4 5 6 7 8 9 10; do
  case "$next" in
    "$REDIRECT"*)
      code=$(printf '%s' "$next" | sed -nE 's/.*[?&]code=([^&]+).*/\1/p')
      if [ -z "$code" ]; then
        echo "try-signin: baton sent back no code: $next" >&2
        exit 1
      fi
      printf '%s\n' "$code"
      exit 0
      ;;
    "") # a page: the IdP chooser, the login form or the consent page; submit its form
      action=$(sed -nE 's/.*<form method="post" action="([^"]+)".*/\1/p' "$page" | head -n 1 | sed 's/&amp;/\&/g')
      csrf=$(sed -nE 's/.*name="csrf" value="([^"]+)".*/\1/p' "$page" | head -n 1)
      if [ -z "$action" ] || [ -z "$csrf" ]; then
        echo "try-signin: the sign-in stopped on a page without a form:" >&2
        sed -e 's/<[^>]*>/ /g' "$page" | tr -s ' \n' ' ' | cut -c 1-300 >&2
        echo >&2
        exit 1
      fi
      if grep -q 'name="password"' "$page"; then
        if [ -n "${tried:-}" ]; then
          echo "try-signin: baton refused $USERNAME's password (the login form came back)" >&2
          exit 1
        fi
        tried=1
        fields=(--data-urlencode "username=$USERNAME" --data-urlencode "password=$PASSWORD")
      elif grep -q 'name="idp"' "$page"; then
        fields=(--data-urlencode idp=local)
      else
        fields=(--data-urlencode decision=allow)
      fi
      case "$action" in http*) ;; *) action=$ORIGIN$action ;; esac
      next=$(get --data-urlencode "csrf=$csrf" "${fields[@]}" "$action")
      ;;
    *) next=$(get "$next") ;;
  esac
done
echo "try-signin: the sign-in did not reach $REDIRECT" >&2
exit 1
