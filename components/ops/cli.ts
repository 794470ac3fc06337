/** Console wiring shared by the ops scripts (scripts/promote-check.ts, scripts/reaper.ts). */

/** Where a CLI writes: stdout for results, stderr for diagnostics. */
export interface ConsoleIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/**
 * Runs `run(argv, io)` against the process's console and sets the exit code it returns; a crash
 * is reported on stderr, prefixed with the command's name, and exits with `crashExitCode`.
 */
export function runCliMain(name: string, run: (argv: readonly string[], io: ConsoleIo) => Promise<number>, crashExitCode: number): void {
  const io: ConsoleIo = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
  run(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${name}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = crashExitCode;
    },
  );
}
