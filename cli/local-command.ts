/** `clawbox-reaper local` (what `npm start` runs): starts the local stack and stops it cleanly on Ctrl-C / SIGTERM. */
import { ConfigError, DEFAULT_DOCKER_HOST } from '../agent/config.js';
import { DockerUnreachableError } from '../agent/errors.js';
import { startLocalStack, type LocalStackOptions } from './local-stack.js';
import { UsageError } from './output.js';

export async function runLocal(options: LocalStackOptions): Promise<void> {
  let stack;
  try {
    stack = await startLocalStack(options);
  } catch (error) {
    if (error instanceof DockerUnreachableError) throw error;
    if (error instanceof ConfigError) throw new UsageError(error.message);
    if (error instanceof Error && /--host-id|listen address|REAPER_MASTER_KEY/.test(error.message)) throw new UsageError(error.message);
    throw error;
  }
  const lines = [
    '',
    'clawbox-reaper is running on this machine:',
    `  API          ${stack.apiUrl}`,
    `  dashboard    ${stack.apiUrl}/dashboard   (sign in with the API token)`,
    `  agent        ${stack.agentUrl} (host "${stack.hostId}", Docker at ${process.env.DOCKER_HOST || DEFAULT_DOCKER_HOST})`,
    `  data         ${stack.dataDir}`,
    `  store        ${stack.storeSocket}   (a unix socket only this user can open; no TCP port)`,
    `  schedule     a reap every ${Math.round(options.intervalMs / 1000)}s`,
    stack.tokenCreated
      ? `  API token    ${stack.token}   (shown once; kept in ${stack.dataDir}/api-token, mode 0600)`
      : `  API token    in ${stack.dataDir}/api-token`,
    '',
    'From another terminal in this directory (the CLI finds the token in the data dir):',
    '  npx clawbox-reaper hosts',
    '  npx clawbox-reaper reap --dry-run',
    '  npx clawbox-reaper reports',
    `  curl -H "Authorization: Bearer $(cat ${stack.dataDir}/api-token)" ${stack.apiUrl}/v1/reports`,
    'Ctrl-C stops it after the reap in flight has written its reports.',
    '',
  ];
  process.stderr.write(lines.join('\n'));
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: finishing the reap in flight and writing its reports…\n`);
    void stack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
