/**
 * The one-file agent's entry (dist/agent.mjs, built by scripts/build.mjs): `node agent.mjs
 * --host-id … [flags]` is `clawbox-reaper agent --host-id … [flags]` without the rest of the CLI,
 * for the systemd unit and the container image. Exit codes as the CLI's: 0 ok, 2 a usage or
 * configuration error (or no Docker engine), 1 anything else.
 */
import { Command, CommanderError } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { defineAgentCommand } from './cli-entry.js';

/** Failures at start that the operator fixes (a flag, a file, the engine): a message, not a stack. */
const CONFIGURATION_ERRORS = new Set(['ConfigError', 'DockerUnreachableError', 'StateDirError', 'InvalidKeyError', 'TlsFileError']);

const program = defineAgentCommand(new Command('clawbox-reaper-agent'))
  .version(packageJson.version, '--version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Commander has printed its own message.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  const known = error instanceof Error && CONFIGURATION_ERRORS.has(error.name);
  process.stderr.write(`clawbox-reaper-agent: ${known ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(known ? 2 : 1);
}
