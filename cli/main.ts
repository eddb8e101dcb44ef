/**
 * The operator CLI, `clawbox-reaper` (SPEC §7). Each command is a small module; this file only
 * wires flags to them and maps failures to exit codes: 0 ok, 1 a host failed, 2 a usage or
 * configuration error the user can fix.
 */
import { Command, CommanderError, Option } from 'commander';
import { DockerUnreachableError } from '../agent/main.js';
import { deriveHostKey, InvalidKeyError } from '../lib/signing.js';
import { HostId } from '../lib/ids.js';
import { runAgent } from './agent-command.js';
import { UsageError } from './output.js';

const program = new Command('clawbox-reaper')
  .description('Find and remove orphaned clawbox Docker containers across a fleet, safely, with an audit trail.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('agent')
  .description('Serve the host agent for the local Docker engine (DOCKER_HOST).')
  .requiredOption('--host-id <id>', "this host's id, as registered with the control plane")
  .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8788')
  .option('--key-file <file>', "file holding this host's key (hex); default: env REAPER_AGENT_KEY")
  .option('--public-metrics', 'serve /metrics without a signature (for a Prometheus scraper)')
  .action(async (options: { hostId: string; listen: string; keyFile?: string; publicMetrics?: boolean }) => {
    await runAgent({ hostId: options.hostId, listen: options.listen, ...(options.keyFile ? { keyFile: options.keyFile } : {}), ...(options.publicMetrics ? { publicMetrics: true } : {}) });
  });

program
  .command('agent-key')
  .description("Print a host's agent key, derived from REAPER_MASTER_KEY.")
  .addOption(new Option('--host <id>', 'host id').makeOptionMandatory())
  .action((options: { host: string }) => {
    const master = process.env.REAPER_MASTER_KEY;
    if (!master) throw new UsageError('REAPER_MASTER_KEY is not set: export the master key (hex) to derive a host key');
    const host = HostId.safeParse(options.host);
    if (!host.success) throw new UsageError(`--host: ${host.error.issues[0]?.message ?? 'invalid host id'}`);
    process.stdout.write(`${deriveHostKey(master, host.data)}\n`);
  });

function fail(error: unknown): never {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  if (error instanceof UsageError || error instanceof InvalidKeyError || error instanceof DockerUnreachableError) {
    process.stderr.write(`clawbox-reaper: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`clawbox-reaper: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  fail(error);
}
