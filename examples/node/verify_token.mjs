#!/usr/bin/env node
// Verify an auth4agent access token in a Node service, offline, with jose.
//
//   npm install                                      # installs jose (package.json)
//   node verify_token.mjs --issuer https://auth.example.com --audience https://api.example.com \
//       --token "$TOKEN"                             # or a file holding it, or - for stdin
//
// The server's public keys come from --jwks-url (default: <issuer>/.well-known/jwks.json), fetched
// once and cached; an unknown kid triggers a refresh (key rotation). Checked: EdDSA signature, typ
// "at+jwt", iss, aud, exp/nbf/iat (60 s leeway), and the presence of the RFC 9068 claims.
//
// Every flag has an environment equivalent: AUTH4AGENT_JWKS_URL, AUTH4AGENT_TOKEN, AUTH4AGENT_ISSUER,
// AUTH4AGENT_AUDIENCE.
//
// Prints the claims as JSON on stdout. Exit codes: 0 valid, 1 invalid token, 2 usage error,
// 3 the JWKS could not be fetched.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';

// Only EdDSA ("Ed25519" is its fully-specified name, RFC 9864): never let the token's header choose
// the algorithm (RFC 8725 §2.1).
const ALGORITHMS = ['EdDSA', 'Ed25519'];
const EXPECTED_TYP = 'at+jwt';
const LEEWAY_SECONDS = 60;
const REQUIRED_CLAIMS = ['iss', 'sub', 'client_id', 'aud', 'iat', 'exp', 'jti'];
// Failures to get the keys, as opposed to a bad token.
// (jose reports a non-200 or non-JSON JWKS response with its generic code.)
const JWKS_FETCH_ERRORS = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID', 'ERR_JOSE_GENERIC']);

function usage(message) {
  console.error(`error: ${message}
usage: node verify_token.mjs --token T|FILE|- --issuer URL --audience AUD [--jwks-url URL]
       (or AUTH4AGENT_TOKEN, AUTH4AGENT_ISSUER, AUTH4AGENT_AUDIENCE, AUTH4AGENT_JWKS_URL)`);
  process.exit(2);
}

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        token: { type: 'string' },
        issuer: { type: 'string' },
        audience: { type: 'string' },
        'jwks-url': { type: 'string' },
      },
    }));
  } catch (e) {
    usage(e.message);
  }
  const env = process.env;
  const opts = {
    token: values.token ?? env.AUTH4AGENT_TOKEN,
    issuer: values.issuer ?? env.AUTH4AGENT_ISSUER,
    audience: values.audience ?? env.AUTH4AGENT_AUDIENCE,
    jwksUrl: values['jwks-url'] ?? env.AUTH4AGENT_JWKS_URL,
  };
  const missing = ['token', 'issuer', 'audience'].filter((name) => !opts[name]).map((name) => `--${name}`);
  if (missing.length > 0) usage(`missing ${missing.join(', ')}`);
  opts.jwksUrl ??= `${opts.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`;
  return opts;
}

function readToken(value) {
  if (value === '-') return readFileSync(0, 'utf8').trim();
  if (existsSync(value) && statSync(value).isFile()) return readFileSync(value, 'utf8').trim();
  return value.trim();
}

const opts = options();
let jwksUrl;
try {
  jwksUrl = new URL(opts.jwksUrl);
} catch {
  usage(`--jwks-url ${JSON.stringify(opts.jwksUrl)} is not a URL`);
}
const jwks = createRemoteJWKSet(jwksUrl, { cacheMaxAge: 300_000, timeoutDuration: 10_000 });

try {
  const { payload } = await jwtVerify(readToken(opts.token), jwks, {
    algorithms: ALGORITHMS,
    typ: EXPECTED_TYP,
    issuer: opts.issuer,
    audience: opts.audience,
    clockTolerance: LEEWAY_SECONDS,
    requiredClaims: REQUIRED_CLAIMS,
  });
  console.log(JSON.stringify(payload, null, 2));
} catch (e) {
  if (e instanceof errors.JOSEError && !JWKS_FETCH_ERRORS.has(e.code)) {
    console.error(`invalid token: ${e.message} (${e.code})`);
    process.exit(1);
  }
  const cause = e.cause ? `: ${e.cause.message ?? e.cause}` : '';
  console.error(`error: cannot fetch the JWKS from ${jwksUrl}: ${e.message}${cause}`);
  process.exit(3);
}
