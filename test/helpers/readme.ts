// The README's code blocks and what their markers say, for the tests that
// check them (test/readme.test.ts) and follow them as a user would
// (test/package/readme-quickstart.test.ts).
import { readFile } from "node:fs/promises";

/** One fenced code block with the `<!-- marker -->` line above it. */
export interface Block {
  /** The marker's first clause, e.g. "snippet: examples/quickstart/server.ts#server". */
  marker: string;
  /** The marker's first clause split at the first colon: its kind and argument. */
  kind: string;
  arg: string;
  /** Further clauses for the Quick start test: `app-file: server.ts`, `app-run`. */
  app: Map<string, string>;
  lang: string;
  code: string;
}

/** Every code block of a README, in order. */
export async function readmeBlocks(path: string): Promise<Block[]> {
  const lines = (await readFile(path, "utf8")).split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.indexOf("```", i + 1);
    const full = /^<!-- (.*) -->$/.exec(lines[i - 1] ?? "")?.[1] ?? "";
    const [first, ...rest] = full.split(/;\s*/);
    const colon = first.indexOf(":");
    const app = new Map<string, string>();
    for (const clause of [first, ...rest]) {
      const m = /^(app-[\w-]+)(?::\s*(.*))?$/.exec(clause.trim());
      if (m) app.set(m[1], m[2] ?? "");
    }
    blocks.push({
      marker: first,
      kind: (colon < 0 ? first : first.slice(0, colon)).trim(),
      arg: colon < 0 ? "" : first.slice(colon + 1).trim(),
      app,
      lang: open[1],
      code: lines.slice(i + 1, end).join("\n"),
    });
    i = end;
  }
  return blocks;
}

/** A shell command of a block, with the output the README shows for it (`# ` lines after it). */
export interface ShownCommand {
  command: string;
  expected: string | undefined;
}

/** Shell commands with their expected output: `cmd \` continuations joined, `# output` lines after each. */
export function commands(code: string): ShownCommand[] {
  const out: ShownCommand[] = [];
  let current = "";
  for (const line of code.split("\n")) {
    if (line.startsWith("# ") || line === "#") {
      const last = out[out.length - 1];
      if (last) last.expected = last.expected === undefined ? line.slice(2) : `${last.expected}\n${line.slice(2)}`;
      continue;
    }
    current += line.endsWith("\\") ? `${line.slice(0, -1)} ` : line;
    if (!line.endsWith("\\")) {
      out.push({ command: current.replace(/\s+#\s.*$/, "").trim(), expected: undefined });
      current = "";
    }
  }
  return out;
}
