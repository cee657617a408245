#!/usr/bin/env node
/**
 * `aisix` entry point: parse the command line, then run `validate`, a GitOps command
 * (`export`, `diff`, `apply`) or serve the configured roles. Exit codes: 0 ok, 1
 * config/resources/startup failure, 2 usage error (`diff` uses 2 for "changes", 1 for usage).
 */
import { HELP, parseCommand } from './args.js';
import { holdReloadSignals } from './boot-signals.js';
import { tuneHeap } from './heap.js';
import { aisixVersion } from './version.js';

const io = {
  out: (line: string) => process.stdout.write(`${line}\n`),
  err: (line: string) => process.stderr.write(`${line}\n`),
};

async function main(): Promise<number> {
  const command = parseCommand(process.argv.slice(2), process.env);
  switch (command.cmd) {
    case 'help':
      io.out(HELP.trimEnd());
      return 0;
    case 'version':
      io.out(`aisix ${aisixVersion()}`);
      return 0;
    case 'usage':
      io.err(
        `error: ${command.message}\n\nUsage: ${command.usage ?? 'aisix --config <path> [--role all|admin|gateway]'}\nFor more information, try '--help'.`,
      );
      return command.code ?? 2;
    case 'export': {
      const { runExport } = await import('./gitops/run.js');
      return runExport(command, io);
    }
    case 'diff': {
      const { runDiff } = await import('./gitops/run.js');
      return runDiff(command, process.env, io);
    }
    case 'apply': {
      const { runApply } = await import('./gitops/run.js');
      return runApply(command, process.env, io);
    }
    case 'validate': {
      // Loaded on demand: `--help` and usage errors must not pay for the whole gateway.
      const { runValidate } = await import('./validate.js');
      return runValidate(command.configPath, command.resourcesPath, process.env, io, command.role);
    }
    case 'serve': {
      // A SIGHUP before the reload handler is installed must not kill the booting process.
      holdReloadSignals();
      const serving = tuneHeap();
      const { loadConfig } = await import('./load-config.js');
      const loaded = await loadConfig(command.configPath, process.env, command.role);
      if (!loaded.ok) {
        io.err(loaded.message);
        return 1;
      }
      const { run } = await import('./cluster.js');
      const running = await run({
        config: loaded.config,
        source: loaded.source,
        role: command.role,
        env: process.env,
        warnings: loaded.warnings,
        io,
      });
      if (running === null) return 1;
      serving();
      const code = await running.exited;
      const { closeLogger } = await import('./logger.js');
      await closeLogger(running.logger);
      return code;
    }
  }
}

main().then(
  (code) => {
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`Error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
