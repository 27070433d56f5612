// A real browser: the page in examples/eliza/browser/ is bundled with esbuild, served by the example
// server, and opened in headless Chromium (Debian's `chromium`, driven by playwright-core). It calls the
// server with @connectrpc/connect-web over Connect and gRPC-Web, once from the same origin and once from
// another origin (localhost vs 127.0.0.1), which only works if the server answers CORS.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";
import t from "tap";
import { createElizaServer } from "../../examples/eliza/server.js";

const browserDir = fileURLToPath(new URL("../../examples/eliza/browser/", import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

interface Result {
  protocol: string;
  unary?: string;
  serverStreaming?: string[];
  error?: string;
}

t.test("connect-web in Chromium calls the example server over Connect and gRPC-Web", async (t) => {
  const bundle = await build({
    entryPoints: [`${browserDir}main.ts`],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0].text;
  const html = await readFile(`${browserDir}index.html`, "utf8");

  const app = await createElizaServer({ logger: false });
  app.get("/browser/", async (_req, reply) => reply.type("text/html; charset=utf-8").send(html));
  app.get("/browser/main.js", async (_req, reply) => reply.type("text/javascript; charset=utf-8").send(js));
  await app.listen({ host: "127.0.0.1", port: 0 });
  t.teardown(() => app.close());
  const { port } = app.server.address() as { port: number };

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  t.teardown(() => browser.close());

  const cases = [
    { name: "same origin", page: `http://127.0.0.1:${port}/browser/`, server: `http://127.0.0.1:${port}` },
    { name: "another origin (CORS)", page: `http://localhost:${port}/browser/`, server: `http://127.0.0.1:${port}` },
  ];
  for (const c of cases) {
    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    await page.goto(`${c.page}?server=${encodeURIComponent(c.server)}`);
    await page.waitForSelector("#results[data-done=true]", { timeout: 20_000 });
    const results = JSON.parse((await page.textContent("#results")) ?? "[]") as Result[];
    t.same(
      results.map((r) => r.protocol),
      ["connect", "grpc-web"],
      `${c.name}: both transports ran`,
    );
    for (const r of results) {
      t.equal(r.error, undefined, `${c.name}, ${r.protocol}: no error`);
      // Eliza varies her answers from turn to turn.
      t.match(
        r.unary,
        /^(Tell me more about feeling curious\.|How long have you felt curious\?)$/,
        `${c.name}, ${r.protocol}: unary answer`,
      );
      t.same(
        r.serverStreaming,
        ["Hi Ada, I'm Eliza.", "I help people think about their problems.", "How are you feeling today?"],
        `${c.name}, ${r.protocol}: server-streaming answers`,
      );
    }
    t.same(consoleErrors, [], `${c.name}: no console errors (CORS failures would show here)`);
    await page.close();
  }
});
