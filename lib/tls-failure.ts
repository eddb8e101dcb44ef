/**
 * What a failed TLS connection to an agent means, in words an operator can act on (SPEC §4).
 * None of these gets better on a retry: an agent certificate the control plane does not trust, an
 * agent that refused the control plane's client certificate (or its lack of one), an agent that
 * does not speak TLS. lib/agent-client.ts makes them AgentCallErrors that are not retried:
 * `refused` when the agent refused us, `error` when we refused the agent.
 */

export interface TlsFailure {
  kind: 'refused' | 'error';
  /** errorCode of the report. */
  code: 'agent_tls_client_refused' | 'agent_tls_untrusted' | 'agent_tls_name_mismatch' | 'agent_tls_not_spoken' | 'agent_tls_failed';
  message: string;
}

/** Node's codes for a peer certificate that does not verify against the trusted CAs. */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
]);

function codesOf(error: unknown): Array<{ code: string; message: string }> {
  const out: Array<{ code: string; message: string }> = [];
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') out.push({ code, message: e.message });
  }
  return out;
}

/** The TLS failure in an error's cause chain, if that is what it is. */
export function tlsFailureOf(error: unknown): TlsFailure | undefined {
  for (const { code, message } of codesOf(error)) {
    const firstLine = message.split('\n')[0] ?? message;
    if (UNTRUSTED.has(code)) {
      return { kind: 'error', code: 'agent_tls_untrusted', message: `the agent's TLS certificate is not trusted (${firstLine}); give the CA that issued it in REAPER_AGENT_CA_FILE, nothing was sent` };
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return { kind: 'error', code: 'agent_tls_name_mismatch', message: `the agent's TLS certificate is not for this address (${firstLine}); issue it with the agent URL's host in subjectAltName, nothing was sent` };
    }
    const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(\w+)$/.exec(code);
    if (alert) {
      const what = (alert[1] ?? '').toLowerCase().replace(/_/g, ' ');
      return {
        kind: 'refused',
        code: 'agent_tls_client_refused',
        message: `the agent refused the TLS connection (TLS alert "${what}"): it requires a client certificate its --tls-client-ca issued; set REAPER_AGENT_CLIENT_CERT and REAPER_AGENT_CLIENT_KEY to one. Nothing was sent`,
      };
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || code === 'ERR_SSL_HTTP_REQUEST') {
      return { kind: 'error', code: 'agent_tls_not_spoken', message: 'the agent does not speak TLS on this port (served over plain http? then its URL is http://, allowed on loopback or with allowPlainHttp)' };
    }
    if (code.startsWith('ERR_SSL_')) return { kind: 'error', code: 'agent_tls_failed', message: `TLS handshake with the agent failed (${firstLine.slice(0, 300)})` };
  }
  return undefined;
}
