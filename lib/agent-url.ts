/**
 * The rules an agent URL must keep (SPEC §4, Transport), shared by the registry's input schema,
 * the reaper's check before every call (a host item written by hand must not bypass them) and
 * the agent transport's check of the addresses a name resolves to.
 *
 * - no user name or password (they would reach error messages, so reports and logs: S9), no
 *   query and no fragment (the signed path is exactly what the agent serves);
 * - `https://`, or plain `http://` on loopback only (127.0.0.0/8, ::1, localhost), unless the host
 *   is registered with `allowPlainHttp: true` (a network the operator vouches for);
 * - no link-local or cloud metadata address (169.254.0.0/16 with 169.254.169.254, fe80::/10,
 *   fd00:ec2::254, metadata.google.internal, …) unless the host is registered with
 *   `allowLinkLocal: true`: a signed command has no business at an instance metadata service.
 *
 * Judged on the URL as WHATWG parses it, so `http://2130706433/`, `http://0x7f.1/` and
 * `http://[::ffff:7f00:1]/` are the loopback addresses they are, and `http://0xa9.254.169.254/`
 * is the metadata address.
 */
import { BlockList, isIP } from 'node:net';

export interface AgentUrlAllowances {
  /** Plain `http://` to a host that is not loopback. */
  allowPlainHttp?: boolean | undefined;
  /** A link-local or cloud metadata address or name. */
  allowLinkLocal?: boolean | undefined;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

const linkLocal = new BlockList();
linkLocal.addSubnet('169.254.0.0', 16, 'ipv4'); // IPv4 link-local; AWS/Azure/GCP/OpenStack metadata at .169.254, ECS at .170.2
linkLocal.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
linkLocal.addSubnet('fe80::', 10, 'ipv6'); // IPv6 link-local
linkLocal.addAddress('fd00:ec2::254', 'ipv6'); // AWS instance metadata over IPv6

/** Names of metadata services that resolve to one of the addresses above (or should be treated so). */
const METADATA_NAMES: ReadonlySet<string> = new Set(['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal']);

/** A hostname as URL gives it: lower case, IPv6 in brackets; without brackets and a final dot. */
function bareHost(hostname: string): string {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return host.toLowerCase().replace(/\.$/, '');
}

function inList(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

/** True for 127.0.0.0/8, ::1 (and their IPv4-mapped forms) and the name localhost. */
export function isLoopbackHost(hostname: string): boolean {
  const host = bareHost(hostname);
  return host === 'localhost' || inList(loopback, host);
}

/** True for an IP address that is link-local or a cloud metadata service's. */
export function isLinkLocalAddress(address: string): boolean {
  return inList(linkLocal, bareHost(address));
}

/** True for a link-local or metadata address, or a metadata service's name. */
export function isLinkLocalHost(hostname: string): boolean {
  const host = bareHost(hostname);
  return METADATA_NAMES.has(host) || inList(linkLocal, host);
}

/**
 * Why this agent URL is refused, in words an operator can act on; undefined when it is allowed.
 * `value` is the URL as registered (the raw text: an empty `?` or `#` counts too).
 */
export function agentUrlProblem(value: string, allowances: AgentUrlAllowances = {}): string | undefined {
  if (!URL.canParse(value)) return 'is not a valid URL';
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username !== '' || url.password !== '') return 'must not contain a user name or password';
  // `?` and `#` cannot appear unencoded anywhere else in a URL that has no credentials.
  if (value.includes('?')) return 'must not have a query (?…): the agent takes none, and the signed path is exactly the URL path';
  if (value.includes('#')) return 'must not have a fragment (#…)';
  if (isLinkLocalHost(url.hostname) && allowances.allowLinkLocal !== true) {
    return `must not point at a link-local or cloud metadata address (${url.hostname}) unless the host is registered with allowLinkLocal: true (clawbox-reaper hosts add … --allow-link-local)`;
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && allowances.allowPlainHttp !== true) {
    return 'must not use plain http:// except on loopback (127.0.0.0/8, ::1, localhost): serve the agent over https (agent --tls-cert/--tls-key), or register the host with allowPlainHttp: true (clawbox-reaper hosts add … --allow-plain-http) if the network to it is trusted';
  }
  return undefined;
}
