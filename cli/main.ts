/**
 * The operator CLI, `clawbox-reaper` (SPEC §7). This file only wires flags to the command modules
 * and maps failures to exit codes: 0 ok; 1 a host failed (or was capped) in a reap; 2 a usage or
 * configuration error; 3 the API could not be reached or refused the request (an unknown host, a
 * container not in quarantine).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { defineAgentCommand } from '../agent/cli-entry.js';
import { DockerUnreachableError } from '../agent/errors.js';
import { parseDuration } from '../lib/duration.js';
import { HostId } from '../lib/ids.js';
import { deriveHostKey, InvalidKeyError } from '../lib/signing.js';
import { addHost, listHosts, listReports, listTracked, removeHost, repinHost, restore, setHostEnabled, track, untrack, type TrackOptions } from './admin-commands.js';
import { ApiError } from './api-client.js';
import { configureAws } from './aws-auth.js';
import { apiClientFor, DEFAULT_DATA_DIR, MASTER_KEY_FILE, type GlobalOptions } from './context.js';
import { errorCode, translateApiError, wantsJson } from './errors.js';
import { printJson, UsageError } from './output.js';
import { runReap } from './reap-command.js';

const program = new Command('clawbox-reaper')
  .description('Find and remove orphaned clawbox Docker containers across a fleet, safely, with an audit trail.')
  .option('--api <url>', 'control-plane API URL (env REAPER_API_URL, default http://127.0.0.1:8787)')
  .option('--json', 'machine-readable output')
  .option('--data-dir <dir>', `local stack data dir, where the API token is found (default ${DEFAULT_DATA_DIR})`)
  .option('--profile <name>', 'AWS profile whose credentials sign requests to the AWS API (env AWS_PROFILE)')
  .option('--region <region>', "AWS region of the API (env AWS_REGION, else the profile's)")
  .version(packageJson.version, '--version', 'print the version')
  .hook('preAction', (command) => configureAws(command.opts<{ profile?: string; region?: string }>()))
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 a host failed or was capped, 2 usage/configuration error (a value the API refused included), 3 API unreachable or refused.\n' +
      'With --json, an error is printed on stdout as {"error":{"code":"…","message":"…"}} (exit code as above).',
  )
  .exitOverride();

const globals = (command: Command) => command.optsWithGlobals<GlobalOptions>();
const setExit = (code: number) => {
  process.exitCode = code;
};

program
  .command('local')
  .description('Run the whole system on this machine: DynamoDB (dynalite), the API, an agent for the local engine, and the reaper on a timer.')
  .option('--api-listen <host:port>', 'API address', '127.0.0.1:8787')
  .option('--agent-listen <host:port>', 'agent address', '127.0.0.1:8788')
  .option('--host-id <id>', 'id of the local Docker host (default: this machine\'s hostname)')
  .option('--interval <duration>', 'time between scheduled reaps, e.g. 60s, 5m', '60s')
  .action(async (_options, command: Command) => {
    const o = command.optsWithGlobals<GlobalOptions & { apiListen: string; agentListen: string; hostId?: string; interval: string }>();
    let intervalMs: number;
    try {
      intervalMs = parseDuration(o.interval);
    } catch (error) {
      throw new UsageError(`--interval: ${(error as Error).message}`);
    }
    if (intervalMs < 1000) throw new UsageError('--interval must be at least 1s');
    // Loaded on demand: the local stack pulls in dynalite and the AWS SDK, which no other command needs.
    const { runLocal } = await import('./local-command.js');
    await runLocal({ dataDir: o.dataDir ?? DEFAULT_DATA_DIR, apiListen: o.apiListen, agentListen: o.agentListen, ...(o.hostId ? { hostId: o.hostId } : {}), intervalMs });
  });

// The agent's flags and action are shared with the one-file agent (dist/agent.mjs).
defineAgentCommand(program.command('agent'));

program
  .command('reap')
  .description('Start an on-demand reap and follow it host by host.')
  .option('--host <id...>', 'only these hosts (repeatable); default every enabled host')
  .option('--dry-run', 'report what would be removed, touch nothing')
  .option('--force', 'lift the safety guards (max reap, max reap percent, fleet max) for this run, on the hosts named with --host only (S4)')
  .option('--now', 'remove orphans at once, without quarantine (S11)')
  .option('--no-wait', 'print the run id (alone, on stdout) and return at once')
  .option('--timeout <duration>', 'how long to follow the run', '15m')
  .action(async (options: { host?: string[]; dryRun?: boolean; force?: boolean; now?: boolean; wait: boolean; timeout: string }, command: Command) => {
    const g = globals(command);
    let timeoutMs: number;
    try {
      timeoutMs = parseDuration(options.timeout);
    } catch (error) {
      throw new UsageError(`--timeout: ${(error as Error).message}`);
    }
    setExit(await runReap(apiClientFor(g), { ...options, json: Boolean(g.json), timeoutMs }));
  });

program
  .command('reports')
  .description('Show the audit trail, newest first.')
  .option('--host <id>', 'only this host')
  .option('--run <runId>', "only this run's reports; with --host, that host's full report (every container)")
  .option('--since <when>', 'from this long ago (1h, 7d) or an ISO instant')
  .option('--until <when>', 'up to this long ago or an ISO instant')
  .option('--limit <n>', 'at most this many reports (1 to 1000); a note on stderr says when there are more', '25')
  .option('--all', 'every report that matches (no --limit)')
  .action(async (options: { host?: string; run?: string; since?: string; until?: string; limit: string; all?: boolean }, command: Command) => {
    const g = globals(command);
    setExit(await listReports(apiClientFor(g), options, Boolean(g.json)));
  });

const hosts = program.command('hosts').description('List, add, enable, disable, re-pin or remove the Docker hosts the reaper reaps.');
hosts
  .command('list', { isDefault: true })
  .description('List the registered hosts and their last reap.')
  .action(async (_o, command: Command) => {
    const g = globals(command);
    setExit(await listHosts(apiClientFor(g), Boolean(g.json)));
  });
hosts
  .command('add <hostId>')
  .description("Register a host and its agent's URL, or update a registered one: only the flags given change, the other settings are kept.")
  .option('--url <agentUrl>', "the agent's URL, e.g. https://host-a.internal:8788 (required for a new host)")
  .option('--disabled', 'register it without reaping it')
  .option('--max-reap <n>', "per-host cap on orphans per run; `default` drops the host's own cap (REAPER_MAX_REAP applies)")
  .option('--allow-plain-http', 'allow a plain http:// agent URL off loopback (only on a network you trust: commands and reports travel unencrypted)')
  .option('--allow-link-local', 'allow a link-local or cloud metadata address (169.254.0.0/16, fe80::/10, …) for the agent')
  .action(async (hostId: string, options: { url?: string; disabled?: boolean; maxReap?: string; allowPlainHttp?: boolean; allowLinkLocal?: boolean }, command: Command) => {
    const g = globals(command);
    setExit(await addHost(apiClientFor(g), hostId, options, Boolean(g.json)));
  });
hosts
  .command('enable <hostId>')
  .description('Reap this host again (its other settings are kept).')
  .action(async (hostId: string, _o, command: Command) => {
    const g = globals(command);
    setExit(await setHostEnabled(apiClientFor(g), hostId, true, Boolean(g.json)));
  });
hosts
  .command('disable <hostId>')
  .description('Stop reaping this host, keeping it registered (and its settings and tracked containers).')
  .action(async (hostId: string, _o, command: Command) => {
    const g = globals(command);
    setExit(await setHostEnabled(apiClientFor(g), hostId, false, Boolean(g.json)));
  });
hosts
  .command('remove <hostId>')
  .description('Deregister a host.')
  .action(async (hostId: string, _o, command: Command) => {
    const g = globals(command);
    setExit(await removeHost(apiClientFor(g), hostId, Boolean(g.json)));
  });
hosts
  .command('repin <hostId>')
  .description("Unbind a host from its Docker engine (after the engine was replaced on purpose): the next run pins it to the engine its agent reports (S10).")
  .action(async (hostId: string, _o, command: Command) => {
    const g = globals(command);
    setExit(await repinHost(apiClientFor(g), hostId, Boolean(g.json)));
  });
hosts
  .command('containers <hostId>')
  .description("List a host's tracked containers.")
  .action(async (hostId: string, _o, command: Command) => {
    const g = globals(command);
    setExit(await listTracked(apiClientFor(g), hostId, Boolean(g.json)));
  });

program
  .command('track <hostId> <containerId>')
  .description('Track a container (the manager does this before it creates one).')
  .option('--docker-id <id>', 'protect only this Docker container under that id')
  .option('--owner <owner>', 'who owns it')
  .option('--lease <duration>', 'protect it only this long unless tracked again (e.g. 1h)')
  .action(async (hostId: string, containerId: string, options: TrackOptions, command: Command) => {
    const g = globals(command);
    setExit(await track(apiClientFor(g), hostId, containerId, options, Boolean(g.json)));
  });

program
  .command('restore <hostId> <containerId>')
  .description('Take a quarantined container back: track it again and unpause it now, or at the host\'s next run if its agent cannot be reached now (S11).')
  .option('--docker-id <id>', 'protect only this Docker container under that id')
  .option('--owner <owner>', 'who owns it')
  .option('--lease <duration>', 'protect it only this long unless tracked again (e.g. 2h)')
  .action(async (hostId: string, containerId: string, options: TrackOptions, command: Command) => {
    const g = globals(command);
    setExit(await restore(apiClientFor(g), hostId, containerId, options, Boolean(g.json)));
  });

program
  .command('untrack <hostId> <containerId>')
  .description('Stop tracking a container (the manager does this after it removed one).')
  .action(async (hostId: string, containerId: string, _o, command: Command) => {
    const g = globals(command);
    setExit(await untrack(apiClientFor(g), hostId, containerId, Boolean(g.json)));
  });

program
  .command('agent-key')
  .description(`Print a host's agent key, derived from the master key: REAPER_MASTER_KEY, else the file master-key in the data dir (${DEFAULT_DATA_DIR}/master-key, kept by \`clawbox-reaper local\`).`)
  .addOption(new Option('--host <id>', 'host id').makeOptionMandatory())
  .action((options: { host: string }, command: Command) => {
    const g = globals(command);
    const host = HostId.safeParse(options.host);
    if (!host.success) throw new UsageError(`--host: ${host.error.issues[0]?.message ?? 'invalid host id'}`);
    let master = process.env.REAPER_MASTER_KEY;
    if (!master) {
      const file = join(g.dataDir ?? process.env.REAPER_DATA_DIR ?? DEFAULT_DATA_DIR, MASTER_KEY_FILE);
      try {
        master = readFileSync(file, 'utf8').trim();
      } catch {
        throw new UsageError(`no master key: REAPER_MASTER_KEY is not set and ${file} cannot be read; export REAPER_MASTER_KEY (hex), or run in the directory of \`clawbox-reaper local\` (or pass its --data-dir)`);
      }
      process.stderr.write(`clawbox-reaper: using the master key in ${file}\n`);
    }
    process.stdout.write(`${deriveHostKey(master, host.data)}\n`);
  });

function fail(error: unknown): never {
  const json = wantsJson(process.argv);
  const exit = (code: number, message: string, errorName?: string): never => {
    // --json: the error as JSON on stdout (what a script reads), the exit code as without it.
    if (json) printJson({ error: { code: errorName ?? errorCode(error), message } });
    else process.stderr.write(`clawbox-reaper: ${message}\n`);
    process.exit(code);
  };
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) process.exit(0);
    // Commander has printed its message (stderr); a script asking for --json gets it as JSON too.
    if (json) printJson({ error: { code: 'usage', message: error.message.replace(/^error: /, '') } });
    process.exit(2);
  }
  if (error instanceof ApiError) error = translateApiError(error);
  if (
    error instanceof UsageError ||
    error instanceof InvalidKeyError ||
    error instanceof DockerUnreachableError ||
    (error instanceof Error && (error.name === 'StateDirError' || error.name === 'ReaperConfigError' || error.name === 'ConfigError'))
  ) {
    return exit(2, (error as Error).message, 'usage');
  }
  if (error instanceof ApiError) return exit(3, error.message);
  return exit(1, error instanceof Error ? (error.stack ?? error.message) : String(error));
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  fail(error);
}
