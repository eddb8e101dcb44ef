/** Parses `host:port` listen addresses; loopback is the default everywhere. */
export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(value: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new Error(`invalid listen address "${value}": expected host:port, e.g. 127.0.0.1:8788`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}
