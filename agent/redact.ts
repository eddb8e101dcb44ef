/**
 * Secret redaction for forensic records (S9, SPEC §9), pure. A record's text (log lines, command
 * arguments) passes through here before it is kept anywhere: every value of the container's own
 * environment that appears in it is masked verbatim, then anything that looks like a key, token
 * or password. It errs towards masking: a record that hides a harmless word is fine, one that
 * leaks a credential is not.
 */

export const MASK = '[REDACTED]';

/** Shorter environment values ("1", "on", "dev") are too common to mask everywhere they appear. */
export const MIN_ENV_VALUE_LENGTH = 4;

/** A name that says its value is a secret (password, token, secret, API key, …), anywhere in it. */
const SECRET_WORD = '(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|auth[a-z]{0,16}|cookie|session[_-]?id|signature)';
// Anchored at the start of a name and bounded, so a long run of word characters costs linear time.
const SECRET_NAME = `(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,64}?${SECRET_WORD}[A-Za-z0-9_.-]{0,64}`;

interface Rule {
  pattern: RegExp;
  replace: (match: string, ...groups: string[]) => string;
}

const whole = () => MASK;

const RULES: Rule[] = [
  // PEM private keys (RSA, EC, OPENSSH, PGP …): the whole block, or to the end when it is cut.
  { pattern: /-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|$)/g, replace: whole },
  // Authorization header schemes.
  { pattern: /\b(Bearer|Basic|Digest)(\s+)[A-Za-z0-9._~+/=-]{6,}/gi, replace: (_m, scheme, space) => `${scheme}${space}${MASK}` },
  // JSON Web Tokens.
  { pattern: /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, replace: whole },
  // AWS access key ids (long-term AKIA, temporary ASIA, and the other id kinds).
  { pattern: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b/g, replace: whole },
  // Well-known token shapes: GitHub, GitLab, Slack, Stripe, OpenAI-style, Google API keys.
  {
    pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|sk-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})/g,
    replace: whole,
  },
  // Credentials in a URL: scheme://user:password@host.
  { pattern: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, replace: (_m, head) => `${head}${MASK}@` },
  // Assignments to a secret-looking name: password=x, "token": "x", API_KEY: x, --secret=x.
  {
    pattern: new RegExp(`(["']?)(${SECRET_NAME})\\1(\\s*[:=]\\s*)("[^"\\n]*"|'[^'\\n]*'|[^\\s"',;&]+)`, 'gi'),
    replace: (_m, quote, name, sep, value) => `${quote}${name}${quote}${sep}${value.startsWith('"') ? `"${MASK}"` : value.startsWith("'") ? `'${MASK}'` : MASK}`,
  },
  // A secret-looking flag followed by its value: --password hunter2.
  { pattern: new RegExp(`(?<![A-Za-z0-9_.-])(-{1,2}[A-Za-z0-9_.-]{0,64}?${SECRET_WORD}[A-Za-z0-9_.-]{0,64})([ \\t]+)(?!-)(\\S+)`, 'gi'), replace: (_m, flag, space) => `${flag}${space}${MASK}` },
  // Long hex strings (hashes, keys, session ids).
  { pattern: /\b[0-9a-fA-F]{32,}\b/g, replace: whole },
  // Long base64/base64url runs mixing upper, lower and digits (AWS secret keys, random tokens);
  // paths and words rarely mix all three.
  {
    pattern: /[A-Za-z0-9+/_-]{32,}={0,2}/g,
    replace: (match) => (/[A-Z]/.test(match) && /[a-z]/.test(match) && /[0-9]/.test(match) ? MASK : match),
  },
];

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The values of `NAME=value` environment entries worth masking; the names are not kept. */
export function envValues(env: readonly string[] | null | undefined): string[] {
  const values = new Set<string>();
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq < 0) continue;
    const value = entry.slice(eq + 1);
    if (value.length >= MIN_ENV_VALUE_LENGTH) values.add(value);
    // A value in quotes may be echoed without them.
    const unquoted = value.replace(/^(["'])(.*)\1$/s, '$2');
    if (unquoted !== value && unquoted.length >= MIN_ENV_VALUE_LENGTH) values.add(unquoted);
  }
  // Longest first: a value that contains another is masked whole.
  return [...values].sort((a, b) => b.length - a.length);
}

export interface RedactOptions {
  /** Exact strings to mask wherever they appear (the container's environment values). */
  secrets?: readonly string[];
}

/** The text with every known secret and everything that looks like one masked. */
export function redact(text: string, options: RedactOptions = {}): string {
  let out = text;
  for (const secret of options.secrets ?? []) {
    if (secret.length >= MIN_ENV_VALUE_LENGTH) out = out.replace(new RegExp(escapeRegExp(secret), 'g'), MASK);
  }
  // A tail that begins inside a PEM block: everything up to its END line is key material.
  const end = /-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----/.exec(out);
  if (end) {
    const begin = /-----BEGIN[A-Z0-9 ]*PRIVATE KEY/.exec(out);
    if (!begin || begin.index > end.index) out = MASK + out.slice(end.index + end[0].length);
  }
  for (const rule of RULES) out = out.replace(rule.pattern, rule.replace as (substring: string, ...args: unknown[]) => string);
  return out;
}

/** A secret-looking flag whose value is the next argument: `--password hunter2`. */
const SECRET_FLAG = new RegExp(`^-{1,2}[A-Za-z0-9_.-]{0,64}?${SECRET_WORD}[A-Za-z0-9_.-]{0,64}$`, 'i');

/** A command's arguments, each redacted, and the value after a secret-looking flag masked. */
export function redactCommand(args: readonly string[], options: RedactOptions = {}): string[] {
  return args.map((arg, i) => (i > 0 && SECRET_FLAG.test(args[i - 1] ?? '') ? MASK : redact(arg, options)));
}

/**
 * The last `maxBytes` UTF-8 bytes of `text`, starting at a line when it can: `truncated` says
 * whether anything was left out. Run after redaction, so no cut can expose part of a secret.
 */
export function tailBytes(text: string, maxBytes: number): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return { text, truncated: false };
  let start = bytes.length - maxBytes;
  // Never start inside a multi-byte character.
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  let kept = bytes.subarray(start).toString('utf8');
  const newline = kept.indexOf('\n');
  if (newline >= 0 && newline < kept.length - 1) kept = kept.slice(newline + 1);
  return { text: kept, truncated: true };
}
