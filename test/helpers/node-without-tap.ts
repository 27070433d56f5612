/**
 * `spawn`/`execFile` arguments that run `node` with `args` but without tap's
 * coverage loader, which tap adds to every child's NODE_OPTIONS (it wraps
 * child_process itself, so an `env` without it is not enough): for checks of
 * V8's state in a child, where the loader's own code would change what is
 * measured.
 */
export function nodeWithoutTap(args: string[]): [string, string[]] {
  return ["/bin/sh", ["-c", 'unset NODE_OPTIONS; exec "$@"', "sh", process.execPath, ...args]];
}
