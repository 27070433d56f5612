// A fleet behind nginx: three instances of the example server behind examples/nginx/nginx.conf, gRPC
// through grpc_pass (h2c), Connect and gRPC-Web through proxy_pass (HTTP/1.1, unbuffered). Every call
// kind passes through with this library's client and connect-node's, and a rolling restart under load
// (each instance in turn: SIGTERM -> app.close() drains -> exit -> start again) fails no call and cuts
// no stream, with no client retries. FLEET_ROUNDS=3 runs three rounds (the test runs one);
// FLEET_REPORT=file.json writes the numbers.

import { writeFile } from "node:fs/promises";
import * as http from "node:http";
import { createClient as createEsClient } from "@connectrpc/connect";
import {
  createConnectTransport as esConnect,
  createGrpcTransport as esGrpc,
  createGrpcWebTransport as esGrpcWeb,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import t from "tap";
import { ElizaService } from "../../examples/eliza/gen/connectrpc/eliza/v1/eliza_pb.js";
import {
  createClient,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Transport,
} from "../../lib/client/index.js";
import { type LoadTransport, runLoad } from "../helpers/fleet-load.js";
import {
  findNginx,
  freePorts,
  type Instance,
  type Nginx,
  startInstance,
  startNginx,
  stopInstance,
} from "../helpers/nginx-fleet.js";

/** Eliza pauses this long before each sentence of her introduction: streams last ~3x this. */
const INTRO_PAUSE_MS = 300;
const ROUNDS = Number(process.env.FLEET_ROUNDS ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const nginxBinary = findNginx();
if (!nginxBinary) {
  // .ci/run installs Debian's nginx; without it this test cannot run, and says so as a failure.
  t.fail("nginx not found ($NGINX, PATH, /usr/sbin/nginx): install it (apt-get install nginx), as .ci/run does");
  t.end();
} else {
  const [http1, h2c, ...instancePorts] = await freePorts(5);
  const instances: Instance[] = await Promise.all(instancePorts.map((p) => startInstance(p, INTRO_PAUSE_MS)));
  let nginx: Nginx | undefined;
  t.teardown(async () => {
    await nginx?.stop();
    await Promise.all(instances.map((i) => stopInstance(i)));
  });
  nginx = await startNginx(nginxBinary, { http1, h2c, instances: instancePorts });
  const { http1Url, h2cUrl } = nginx;

  // Closed at the end: this library's transports pool connections, connect-node's use these.
  const ours: Transport[] = [];
  const sessions: Http2SessionManager[] = [];
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => {
    for (const tr of ours) tr.close();
    for (const s of sessions) s.abort();
    agent.destroy();
  });
  const own = (tr: Transport) => {
    ours.push(tr);
    return tr;
  };
  const h2Sessions = () => {
    const s = new Http2SessionManager(h2cUrl);
    sessions.push(s);
    return s;
  };
  const transports = (): Record<"ours" | "connect-node", LoadTransport[]> => ({
    ours: [
      {
        name: "ours connect h1",
        library: "fastify-connectrpc",
        transport: own(createConnectTransport({ baseUrl: http1Url, httpVersion: "1.1" })),
      },
      {
        name: "ours grpc h2c",
        library: "fastify-connectrpc",
        transport: own(createGrpcTransport({ baseUrl: h2cUrl })),
      },
      {
        name: "ours grpc-web h1",
        library: "fastify-connectrpc",
        transport: own(createGrpcWebTransport({ baseUrl: http1Url, httpVersion: "1.1" })),
      },
    ],
    "connect-node": [
      {
        name: "connect-node connect h1",
        library: "connect-node",
        transport: esConnect({ baseUrl: http1Url, httpVersion: "1.1", nodeOptions: { agent } }),
      },
      {
        name: "connect-node grpc h2c",
        library: "connect-node",
        transport: esGrpc({ baseUrl: h2cUrl, sessionManager: h2Sessions() }),
      },
      {
        name: "connect-node grpc-web h1",
        library: "connect-node",
        transport: esGrpcWeb({ baseUrl: http1Url, httpVersion: "1.1", nodeOptions: { agent } }),
      },
    ],
  });

  t.test("every call kind passes through nginx, with this library's client and connect-node's", async (t) => {
    const all = transports();
    for (const lt of [...all.ours, ...all["connect-node"]]) {
      const eliza =
        lt.library === "connect-node"
          ? createEsClient(ElizaService, lt.transport as Parameters<typeof createEsClient>[1])
          : createClient(ElizaService, lt.transport as Transport);
      const said = await eliza.say({ sentence: "I feel happy" });
      t.match(said.sentence, /feeling happy|felt happy/, `${lt.name}: unary`);

      const arrivals: number[] = [];
      const intro: string[] = [];
      for await (const m of eliza.introduceServer({ name: "Ada" })) {
        intro.push(m.sentence);
        arrivals.push(Date.now());
      }
      t.same(intro, ["Hi Ada, I'm Eliza.", "I help people think about their problems.", "How are you feeling today?"]);
      // proxy_buffering off: each sentence arrives when it is said, not all at the end.
      t.ok(arrivals[2] - arrivals[0] >= INTRO_PAUSE_MS, `${lt.name}: server streaming arrives message by message`);

      async function* tell() {
        yield { sentence: "I write code." };
        yield { sentence: "I like tea." };
      }
      const summary = await eliza.introduceClient(tell());
      t.equal(summary.sentence, "So you told me 2 things: I write code. I like tea.", `${lt.name}: client streaming`);

      // Bidi needs HTTP/2 end to end: gRPC through grpc_pass.
      if (lt.name.includes("grpc h2c")) {
        async function* talk() {
          yield { sentence: "Hello" };
          yield { sentence: "I am tired" };
        }
        const answers: string[] = [];
        for await (const m of eliza.converse(talk())) answers.push(m.sentence);
        t.equal(answers.length, 2, `${lt.name}: bidi streaming`);
      }
    }
  });

  t.test(`a rolling restart under load (${ROUNDS} round(s)) fails no call and cuts no stream`, async (t) => {
    const all = transports();
    let endLoad!: () => void;
    const stop = new Promise<void>((r) => {
      endLoad = r;
    });
    const mixed = [...all.ours, ...all["connect-node"]];
    const load = runLoad(
      {
        unaryTransports: mixed,
        streamTransports: mixed,
        unaryWorkers: 20,
        maxUnaryPerSecond: 500,
        streamMessages: 3,
        timeoutMs: 15_000,
      },
      stop,
    );
    const restarts: { port: number; at: string; code: number | null; ms: number }[] = [];
    await sleep(1000);
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < instances.length; i++) {
        const stopped = await stopInstance(instances[i]);
        restarts.push({ port: instances[i].port, ...stopped });
        instances[i] = await startInstance(instances[i].port, INTRO_PAUSE_MS);
        // nginx skips an instance it could not reach for fail_timeout (2 s): let it come back first.
        await sleep(2500);
      }
    }
    await sleep(500);
    endLoad();
    const report = await load;
    const summary = { rounds: ROUNDS, restarts, ...report };
    t.comment(JSON.stringify(summary, null, 1));
    if (process.env.FLEET_REPORT) await writeFile(process.env.FLEET_REPORT, `${JSON.stringify(summary, null, 1)}\n`);
    if (report.unary.failed > 0 || report.streams.cut > 0) t.comment(`nginx error log:\n${await nginx?.errorLog()}`);
    t.ok(report.unary.made > 1000, `the load ran (${report.unary.made} unary calls, ${report.streams.made} streams)`);
    t.ok(
      restarts.every((r) => r.code === 0),
      "every instance drained and exited with 0 on SIGTERM",
    );
    t.equal(report.unary.failed, 0, `no unary call failed: ${JSON.stringify(report.unary.failures)}`);
    t.equal(report.streams.cut, 0, `no stream was cut: ${JSON.stringify(report.streams.failures)}`);
  });
}
