/**
 * The dashboard's sign-in where the app has a token (the local stack): the API token, given once
 * in a form, becomes a session cookie. The cookie never holds the token: it holds an expiry and
 * an HMAC of it under the token, so it proves the token was known, ends on its own, and every
 * session ends when the token is rotated. Checked in constant time (timingSafeEqual on
 * equal-length digests). HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * sends it), Path=/dashboard (the /v1 API never sees it: /v1 stays bearer-only).
 *
 * S9: neither the token nor the cookie is ever logged.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { BASE } from './format.js';

export const SESSION_COOKIE = 'clawbox_reaper_session';
export const SESSION_SECONDS = 12 * 3600;
const CONTEXT = 'clawbox-reaper/dashboard-session/v1\n';

const mac = (token: string, expires: number) => createHmac('sha256', token).update(`${CONTEXT}${expires}`).digest();

export function createSessionValue(token: string, nowMs: number): string {
  const expires = Math.floor(nowMs / 1000) + SESSION_SECONDS;
  return `v1.${expires}.${mac(token, expires).toString('base64url')}`;
}

export function verifySessionValue(token: string, value: string | undefined, nowMs: number): boolean {
  if (value === undefined) return false;
  const match = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match?.[1] || !match[2]) return false;
  const expires = Number(match[1]);
  if (expires * 1000 <= nowMs || expires * 1000 > nowMs + SESSION_SECONDS * 1000 + 60_000) return false;
  const given = Buffer.from(match[2], 'base64url');
  const expected = mac(token, expires);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The token typed into the form against the real one, in constant time whatever their lengths. */
export function tokenMatches(token: string, given: string): boolean {
  const a = createHmac('sha256', CONTEXT).update(token).digest();
  const b = createHmac('sha256', CONTEXT).update(given).digest();
  return timingSafeEqual(a, b);
}

export const hasSession = (c: Context, token: string, nowMs: number) => verifySessionValue(token, getCookie(c, SESSION_COOKIE), nowMs);

export function startSession(c: Context, token: string, nowMs: number): void {
  setCookie(c, SESSION_COOKIE, createSessionValue(token, nowMs), {
    path: BASE,
    httpOnly: true,
    sameSite: 'Strict',
    // Only over https, where there is https (AWS); the local stack serves plain http on loopback.
    secure: new URL(c.req.url).protocol === 'https:',
    maxAge: SESSION_SECONDS,
  });
}

export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: BASE, httpOnly: true, sameSite: 'Strict', secure: new URL(c.req.url).protocol === 'https:' });
}

/**
 * CSRF for the two state-changing routes (sign in, sign out): a browser names the page a POST
 * comes from (Origin, and Sec-Fetch-Site in current browsers); anything but this origin is
 * refused. A request with neither header is not a browser's cross-site form, so it holds no
 * ambient cookie worth abusing (curl), and is let through.
 */
export function isSameOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  return origin === new URL(c.req.url).origin;
}

/** Where to go after signing in: only a path of the dashboard itself (no open redirect). */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2048) return BASE;
  // Printable ASCII only (a browser sends the path percent-encoded), no "//" (another host) and no backslash.
  if (!/^\/dashboard(?:[/?][!-~]*)?$/.test(next) || next.includes('\\') || next.includes('//')) return BASE;
  return next;
}
