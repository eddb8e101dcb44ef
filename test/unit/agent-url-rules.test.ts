/**
 * The agent URL rules (SPEC §4, Transport): at registration (HostInput, the PUT body) and before
 * every call (checkAgentUrl, for items written by hand), and what a TLS failure is reported as.
 */
import { describe, expect, it, vi } from 'vitest';
import { addHost, repinHost } from '../../cli/admin-commands.js';
import type { ApiClient } from '../../cli/api-client.js';
import { HostPutBody } from '../../functions/api/contract.js';
import { AGENT_URL_REFUSED, checkAgentUrl } from '../../functions/reaper/agent-url.js';
import { AgentUrl, HostInput, HostItem } from '../../functions/store/schemas.js';
import { isLoopbackHost } from '../../lib/agent-url.js';
import { tlsFailureOf } from '../../lib/tls-failure.js';

const problemOf = (body: Record<string, unknown>) => {
  const parsed = HostInput.safeParse({ enabled: true, ...body });
  return parsed.success ? undefined : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
};

const LOOPBACK = ['http://127.0.0.1:8788', 'http://127.9.8.7:1/', 'http://[::1]:8788', 'http://localhost:8788', 'http://LOCALHOST.:8788', 'http://2130706433:8788', 'http://0x7f.1:8788', 'http://[::ffff:127.0.0.1]:8788'];
const PLAIN_REMOTE = ['http://10.1.2.3:8788', 'http://host-a.internal:8788', 'http://0.0.0.0:8788', 'http://[2001:db8::1]:8788', 'http://localhost.example.com/'];
const LINK_LOCAL = [
  'https://169.254.169.254/',
  'https://169.254.1.2:8788',
  'https://0xa9.254.169.254/',
  'https://[fe80::1]:8788',
  'https://[febf::1]:8788',
  'https://[fd00:ec2::254]/',
  'https://[::ffff:169.254.169.254]/',
  'https://metadata.google.internal/',
  'https://METADATA.google.internal./',
  'https://metadata/',
  'https://100.100.100.200/',
];

describe('agent URL rules at registration (HostInput, PUT /v1/hosts/:hostId)', () => {
  it('accepts https anywhere and plain http on loopback only', () => {
    for (const url of ['https://host-a.internal:8788', 'https://10.1.2.3:8788/agent', ...LOOPBACK]) expect(problemOf({ agentUrl: url }), url).toBeUndefined();
    for (const url of PLAIN_REMOTE) {
      expect(problemOf({ agentUrl: url }), url).toMatch(/^agentUrl: must not use plain http:\/\/ except on loopback .*allowPlainHttp: true/);
      expect(problemOf({ agentUrl: url, allowPlainHttp: true }), url).toBeUndefined();
      expect(problemOf({ agentUrl: url, allowPlainHttp: false }), url).toMatch(/plain http/);
    }
  });

  it('refuses link-local and metadata addresses unless allowLinkLocal is set', () => {
    for (const url of LINK_LOCAL) {
      expect(problemOf({ agentUrl: url }), url).toMatch(/^agentUrl: must not point at a link-local or cloud metadata address \(.+\) unless .*allowLinkLocal: true/);
      expect(problemOf({ agentUrl: url, allowLinkLocal: true }), url).toBeUndefined();
    }
    // Plain http to a link-local address needs both allowances.
    expect(problemOf({ agentUrl: 'http://169.254.10.10:8788', allowLinkLocal: true })).toMatch(/plain http/);
    expect(problemOf({ agentUrl: 'http://169.254.10.10:8788', allowLinkLocal: true, allowPlainHttp: true })).toBeUndefined();
    // Near misses are ordinary addresses.
    for (const url of ['https://169.253.255.255/', 'https://169.255.0.1/', 'https://[fec0::1]/', 'https://[fd00:ec2::253]/', 'https://metadata.example/']) expect(problemOf({ agentUrl: url }), url).toBeUndefined();
  });

  it('refuses credentials, a query or a fragment, with a clear message', () => {
    const cases: Array<[string, RegExp]> = [
      ['https://user:secret@host-a:8788', /user name or password/],
      ['https://user@host-a:8788', /user name or password/],
      ['https://host-a:8788/?x=1', /must not have a query/],
      ['https://host-a:8788?', /must not have a query/],
      ['https://host-a:8788/#frag', /must not have a fragment/],
      ['https://host-a:8788#', /must not have a fragment/],
    ];
    for (const [url, message] of cases) {
      expect(AgentUrl.safeParse(url).success, url).toBe(false);
      expect(problemOf({ agentUrl: url }), url).toMatch(message);
      // No allowance lifts these.
      expect(problemOf({ agentUrl: url, allowPlainHttp: true, allowLinkLocal: true }), url).toMatch(message);
    }
  });

  it('the PUT body keeps the rules and the allowances, and enabled still defaults to true', () => {
    expect(HostPutBody.safeParse({ agentUrl: 'http://10.1.2.3:8788' }).success).toBe(false);
    expect(HostPutBody.parse({ agentUrl: 'http://10.1.2.3:8788', allowPlainHttp: true })).toEqual({ agentUrl: 'http://10.1.2.3:8788', enabled: true, allowPlainHttp: true });
    expect(HostPutBody.safeParse({ agentUrl: 'https://169.254.169.254', allowLinkLocal: 'yes' }).success).toBe(false);
  });
});

describe('agent URL rules before every call (checkAgentUrl)', () => {
  const at = new Date(0).toISOString();
  const item = (agentUrl: string, extra: Record<string, unknown> = {}) => HostItem.parse({ hostId: 'h1', agentUrl, enabled: true, createdAt: at, updatedAt: at, ...extra });

  it('an item written by hand still parses (it gets a report) but is refused with agent_url_refused', () => {
    expect(AGENT_URL_REFUSED).toBe('agent_url_refused');
    for (const url of ['http://10.1.2.3:8788', 'https://169.254.169.254/', 'https://host-a/?x=1', 'https://host-a/#x', 'http://[fe80::1]/']) {
      const refusal = checkAgentUrl(item(url));
      expect(refusal, url).toMatch(/^agent URL refused, nothing was sent: the agent URL must not /);
    }
    expect(checkAgentUrl(item('http://10.1.2.3:8788', { allowPlainHttp: true }))).toBeUndefined();
    expect(checkAgentUrl(item('https://169.254.169.254/', { allowLinkLocal: true }))).toBeUndefined();
    expect(checkAgentUrl(item('https://host-a.internal:8788'))).toBeUndefined();
    expect(checkAgentUrl(item('http://127.0.0.1:8788'))).toBeUndefined();
  });

  it('never echoes credentials (they are refused on read already)', () => {
    expect(HostItem.safeParse({ hostId: 'h1', agentUrl: 'https://u:p@h/', enabled: true, createdAt: at, updatedAt: at }).success).toBe(false);
  });

  it('loopback is judged on the address as parsed', () => {
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
    expect(isLoopbackHost('localhost.localdomain')).toBe(false);
  });
});

describe('TLS failures as reported', () => {
  const wrapped = (code: string, message: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });

  it('an untrusted agent certificate is an error that names REAPER_AGENT_CA_FILE', () => {
    expect(tlsFailureOf(wrapped('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'))).toMatchObject({ kind: 'error', code: 'agent_tls_untrusted', message: expect.stringMatching(/not trusted \(unable to verify the first certificate\).*REAPER_AGENT_CA_FILE/) });
    expect(tlsFailureOf(wrapped('CERT_HAS_EXPIRED', 'certificate has expired'))).toMatchObject({ kind: 'error', code: 'agent_tls_untrusted' });
    expect(tlsFailureOf(wrapped('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"))).toMatchObject({ kind: 'error', code: 'agent_tls_name_mismatch' });
  });

  it('an agent that refuses our client certificate is a refusal', () => {
    expect(tlsFailureOf(wrapped('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'))).toMatchObject({
      kind: 'refused',
      code: 'agent_tls_client_refused',
      message: expect.stringMatching(/"certificate required".*REAPER_AGENT_CLIENT_CERT/),
    });
    expect(tlsFailureOf(wrapped('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca'))).toMatchObject({ kind: 'refused', message: expect.stringContaining('"unknown ca"') });
  });

  it('plain http on a TLS URL, and other errors', () => {
    expect(tlsFailureOf(wrapped('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'))).toMatchObject({ kind: 'error', code: 'agent_tls_not_spoken' });
    expect(tlsFailureOf(wrapped('ECONNREFUSED', 'connect ECONNREFUSED'))).toBeUndefined();
    expect(tlsFailureOf(new Error('no cause'))).toBeUndefined();
  });
});

describe('the CLI carries the allowances', () => {
  it('`hosts add --allow-plain-http --allow-link-local` sends them; a later `hosts add` and `hosts repin` keep them', async () => {
    const at = new Date(0).toISOString();
    const stored = { hostId: 'h1', agentUrl: 'http://169.254.3.4:8788', enabled: true, allowPlainHttp: true, allowLinkLocal: true, createdAt: at, updatedAt: at };
    const puts: unknown[] = [];
    const api = {
      putHost: (_hostId: string, body: unknown) => {
        puts.push(body);
        return Promise.resolve(stored);
      },
      getHost: () => Promise.resolve(stored),
    } as unknown as ApiClient;
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      await addHost(api, 'h1', { url: stored.agentUrl, allowPlainHttp: true, allowLinkLocal: true }, true);
      await addHost(api, 'h1', { url: 'https://h1.internal:8788' }, true);
      await repinHost(api, 'h1', true);
    } finally {
      write.mockRestore();
    }
    expect(puts).toEqual([
      { agentUrl: stored.agentUrl, enabled: true, allowPlainHttp: true, allowLinkLocal: true },
      // `hosts add` on a registered host keeps what it is not given (issue 11), the allowances too.
      { agentUrl: 'https://h1.internal:8788', enabled: true, allowPlainHttp: true, allowLinkLocal: true },
      { agentUrl: stored.agentUrl, enabled: true, allowPlainHttp: true, allowLinkLocal: true, repin: true },
    ]);
  });
});
