/**
 * The local API's bearer token (SPEC §7): hono/bearer-auth, which compares in constant time
 * (hashes of both, then the strings). Its refusals are turned into the API's own JSON errors.
 * On AWS there is no token: API Gateway authorises every route with IAM before the app runs.
 *
 * S9: the token is held only in this closure; nothing here logs a header or the token.
 */
import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { unauthorized } from '../../lib/errors.js';

/** What hono/bearer-auth accepts as a token (RFC 6750 b64token). */
const TOKEN_PATTERN = /^[A-Za-z0-9._~+/-]+=*$/;
export const MIN_TOKEN_CHARS = 16;

export class InvalidApiTokenError extends Error {
  override name = 'InvalidApiTokenError';
}

/** Throws when the token could never authenticate a request, or is too short to be a secret. */
export function assertUsableToken(token: string): void {
  // The messages never contain the token (S9).
  if (!TOKEN_PATTERN.test(token)) throw new InvalidApiTokenError('REAPER_API_TOKEN must be letters, digits and . _ ~ + / - (optionally ending in =)');
  if (token.length < MIN_TOKEN_CHARS) throw new InvalidApiTokenError(`REAPER_API_TOKEN must be at least ${MIN_TOKEN_CHARS} characters`);
}

export function bearerTokenAuth(token: string): MiddlewareHandler {
  assertUsableToken(token);
  return bearerAuth({
    token,
    noAuthenticationHeader: {
      message: () => {
        throw unauthorized('missing_token', 'send Authorization: Bearer <REAPER_API_TOKEN>');
      },
    },
    // A header that is not "Bearer <token>" at all is refused like a wrong token: 401, not 400.
    invalidAuthenticationHeader: {
      message: () => {
        throw unauthorized('invalid_token', 'the Authorization header is not "Bearer <REAPER_API_TOKEN>"');
      },
    },
    invalidToken: {
      message: () => {
        throw unauthorized('invalid_token', 'the bearer token is not this API\'s REAPER_API_TOKEN');
      },
    },
  });
}
